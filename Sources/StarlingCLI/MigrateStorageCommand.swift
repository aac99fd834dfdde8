import ArgumentParser
import Foundation
import Logging
import XMPPServer
import XMPPStorage
import XMPPStoragePostgres
import XMPPStorageSQLite

/// `starling migrate-storage --from sqlite --to postgresql`: copies every table of the
/// configured SQLite file into a PostgreSQL database, then counts both sides.
struct MigrateStorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-storage",
        abstract: "Copy all stored data from SQLite to PostgreSQL (stop the server first).",
        discussion: """
            Copies accounts with their credentials, rosters, offline messages, account data, message archives, \
            room archives and module documents from the SQLite file of the configuration (storage.sqlite.path, \
            default <data_dir>/starling.sqlite) to the PostgreSQL database of --to-url or storage.postgresql. \
            The target's schema is made if missing; a target that holds anything is refused unless --force, \
            which empties it first. At the end it prints how many rows each table holds on both sides and \
            fails if any differ. Then set storage.backend to postgresql.
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case sqlite, postgresql
    }

    @OptionGroup var options: ConfigurationOptions

    @Option(name: .long, help: "The backend to copy from: sqlite.")
    var from: Kind

    @Option(name: .long, help: "The backend to copy to: postgresql.")
    var to: Kind

    @Option(name: .customLong("to-url"), help: "postgresql://user@host:5432/database (default: storage.postgresql.url of the configuration).")
    var toURL: String?

    @Option(name: .long, help: "TLS to the database with --to-url: disable, prefer or require (default prefer).")
    var tls: String?

    @Flag(name: .long, help: "Empty a target that already holds data, then copy.")
    var force = false

    @Option(name: .customLong("batch-size"), help: "Rows per transaction on the target (default 1000).")
    var batchSize = 1000

    func validate() throws {
        guard self.from == .sqlite, self.to == .postgresql else {
            throw ValidationError("only --from sqlite --to postgresql is supported")
        }
        guard (1...100_000).contains(self.batchSize) else { throw ValidationError("--batch-size must be from 1 to 100000") }
        if let tls, PostgresSettings.TLSMode(rawValue: tls) == nil {
            throw ValidationError("--tls must be disable, prefer or require")
        }
    }

    func run() async throws {
        let configuration = try self.options.load()
        let settings = try self.targetSettings(configuration)
        let path = configuration.sqlitePath
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError("there is no SQLite database at \(path)") }
        let source: SQLiteStorage
        do {
            source = try SQLiteStorage(path: path, synchronous: configuration.storage.sqliteSynchronous)
        } catch {
            throw CLIError("cannot open \(path): \(error)")
        }
        var logger = Logger(label: "starling.migrate-storage")
        logger.logLevel = .warning
        let target = PostgresStorage(settings: settings, logger: logger)
        do {
            try await Self.copy(from: source, sourceName: path, to: target, targetName: settings.summary, force: self.force, batchSize: self.batchSize)
        } catch {
            await target.close()
            await source.close()
            if let failure = error as? CLIError { throw failure }
            throw CLIError("\(error)")
        }
        await target.close()
        await source.close()
    }

    private func targetSettings(_ configuration: ServerConfiguration) throws -> PostgresSettings {
        var storage = configuration.storage
        if let toURL { storage.postgresqlURL = toURL }
        if let tls = self.tls.flatMap(PostgresSettings.TLSMode.init(rawValue:)) { storage.postgresqlTLS = tls }
        guard storage.postgresqlURL != nil else {
            throw CLIError("name the target with --to-url postgresql://user@host:5432/database or storage.postgresql.url in the configuration")
        }
        do {
            return try storage.postgresSettings()
        } catch {
            throw CLIError(self.toURL == nil ? "\(error)" : "--to-url: \(error)")
        }
    }

    /// The order of tables respects the target's foreign keys: accounts first.
    static let order: [StorageTable] = [
        .accounts, .scramCredentials, .rosterVersions, .rosterItems, .offlineMessages, .accountData, .archive, .roomArchive, .moduleSchemas,
        .moduleDocuments,
    ]

    static func copy(
        from source: any StorageExporting, sourceName: String, to target: any StorageImporting & OpeningStorage, targetName: String, force: Bool,
        batchSize: Int
    ) async throws {
        try await target.opened()
        let before = try await target.tableCounts()
        let held = before.values.reduce(0, +)
        if held > 0 {
            guard force else {
                throw CLIError("the target \(targetName) already holds \(held) rows; use --force to empty it and copy anyway")
            }
            try await target.removeEverything()
            print("emptied the target (\(held) rows)")
        }
        let started = Date()
        for table in Self.order {
            var copied = 0
            try await source.export(table, batchSize: batchSize) { records in
                try await target.importRecords(records)
                copied += records.count
            }
            print("copied \(table.rawValue): \(copied)")
        }
        let sourceCounts = try await source.tableCounts()
        let targetCounts = try await target.tableCounts()
        print("")
        print(Self.pad("table", 18) + Self.pad("sqlite", 12) + "postgresql")
        var differing: [String] = []
        for table in StorageTable.allCases {
            let (from, to) = (sourceCounts[table] ?? 0, targetCounts[table] ?? 0)
            print(Self.pad(table.rawValue, 18) + Self.pad("\(from)", 12) + "\(to)" + (from == to ? "" : "  DIFFERS"))
            if from != to { differing.append(table.rawValue) }
        }
        guard differing.isEmpty else {
            throw CLIError("the counts differ for \(differing.joined(separator: ", ")): the copy is incomplete; keep using \(sourceName)")
        }
        let seconds = (Date().timeIntervalSince(started) * 10).rounded() / 10
        print("copied everything from \(sourceName) to \(targetName) in \(seconds) s; now set storage.backend to postgresql")
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
