import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import PostgresNIO
import Testing
import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStoragePostgres
import XMPPStorageSQLite

@Suite("PostgresSettings")
struct PostgresSettingsTests {
    @Test("a libpq URL gives user, password, host, port and database")
    func url() throws {
        let settings = try PostgresSettings(url: "postgresql://starling:p%40ss%2Fword@db.example.com:6432/xmpp", tls: .require)
        #expect(settings.username == "starling" && settings.password == "p@ss/word")
        #expect(settings.host == "db.example.com" && settings.port == 6432 && settings.database == "xmpp" && settings.tls == .require)
        #expect(!settings.summary.contains("p@ss"))
        let defaults = try PostgresSettings(url: "postgres://starling@localhost")
        #expect(defaults.port == 5432 && defaults.database == nil && defaults.password == nil && defaults.tls == .prefer)
        let socket = try PostgresSettings(url: "postgresql://starling@/xmpp?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql" && socket.database == "xmpp")
        let ipv6 = try PostgresSettings(url: "postgresql://starling@[::1]:5433/xmpp")
        #expect(ipv6.host == "::1" && ipv6.port == 5433)
    }

    @Test("mistakes in the URL are named, and the password never appears in the message", arguments: [
        ("mysql://u@db/x", "does not start with postgresql://"),
        ("postgresql://db.example.com/x", "names no user"),
        ("postgresql://u:secret@/x", "names no host"),
        ("postgresql://u:secret@db/x?sslmode=require", "sslmode is not supported"),
        ("postgresql://u@db/x?host=relative", "absolute path of a socket directory"),
        ("postgresql://u@db/x/y", "just the database name"),
        ("postgresql://u@db:0/x", "port 0 is out of range"),
    ])
    func badURLs(_ url: String, _ message: String) {
        do {
            _ = try PostgresSettings(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
            #expect(!"\(error)".contains("secret"), "\(error)")
        }
    }

    @Test("a schema name must be a plain identifier")
    func schemaNames() {
        #expect(throws: Never.self) { try PostgresSettings.checkSchemaName("starling_2") }
        for bad in ["", "2x", "Upper", "a-b", "x; DROP TABLE accounts", String(repeating: "a", count: 64)] {
            #expect(throws: PostgresSettingsError.self) { try PostgresSettings.checkSchemaName(bad) }
        }
    }

    @Test("a server that does not answer is a clear error, not a hang")
    func unreachable() async throws {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let storage = PostgresStorage(settings: try PostgresSettings(url: "postgresql://starling@127.0.0.1:1/starling", tls: .disable))
        let started = Date()
        do {
            try await storage.opened()
            Issue.record("opened a database that is not there")
        } catch {
            #expect("\(error)".contains("cannot open PostgreSQL at starling@127.0.0.1:1/starling"), "\(error)")
        }
        #expect(Date().timeIntervalSince(started) < 35)
        // Operations say the same, instead of waiting forever.
        await #expect(throws: StorageError.self) { try await storage.accounts.accountExists(JID("a@example.com")) }
        await storage.close()
    }
}

/// A loopback port that takes connections (the kernel completes them) and never says a word.
private final class SilentListener {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard descriptor >= 0, bound else { throw PostgresSettingsError("no silent listener") }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(self.descriptor) }
}

extension PostgresSettingsTests {
    @Test("a server that takes the connection and never answers fails the opening after its timeout; the caller is not held")
    func silentServer() async throws {
        let listener = try SilentListener()
        var settings = try PostgresSettings(url: "postgresql://starling@127.0.0.1:\(listener.port)/starling", tls: .disable)
        settings.openingTimeoutSeconds = 1
        let storage = PostgresStorage(settings: settings)
        let started = Date()
        do {
            try await storage.opened()
            Issue.record("opened a server that never answered")
        } catch {
            #expect("\(error)".contains("took longer than 1 s"), "\(error)")
        }
        #expect(Date().timeIntervalSince(started) < 10, "the opening took \(Date().timeIntervalSince(started)) s")
        await storage.close()
    }
}

/// What only PostgreSQL has: the versioned schema and its migration lock. Needs a server
/// (`STARLING_TEST_POSTGRES_URL`, scripts/test-postgres.sh); without one these are skipped.
@Suite("PostgresStorage", .enabled(if: Backend.postgresURL != nil, "STARLING_TEST_POSTGRES_URL is not set"))
struct PostgresStorageTests {
    /// Settings for a new, empty schema, and what drops it.
    static func freshSchema() throws -> PostgresSettings {
        let schema = "schema_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var settings = try PostgresSettings(url: try #require(Backend.postgresURL), tls: .disable, schema: schema)
        settings.maximumConnections = 4
        return settings
    }

    static func versions(_ settings: PostgresSettings) async throws -> [Int] {
        let logger = Logger(label: "starling.tests.postgres")
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: settings.host, port: settings.port, username: settings.username, password: settings.password, database: settings.database,
                tls: .disable),
            id: 2, logger: logger)
        var versions: [Int] = []
        let schema = try #require(settings.schema)
        for try await version in try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT version FROM \(schema).schema_version ORDER BY version"), logger: logger
        ).decode(Int.self) {
            versions.append(version)
        }
        try await connection.close()
        return versions
    }

    @Test("nodes that open a new database at once migrate it once; opening again changes nothing")
    func concurrentOpen() async throws {
        let settings = try Self.freshSchema()
        let nodes = (0..<4).map { _ in PostgresStorage(settings: settings) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in nodes { group.addTask { try await node.opened() } }
            try await group.waitForAll()
        }
        let applied = try await Self.versions(settings)
        #expect(applied.count >= 4 && applied == Array(1...applied.count))
        // Every node works on the same tables.
        try await nodes[0].accounts.createAccount(JID("alice@example.com"), credentials: SCRAMCredentials.deriveAll(password: "pw"), skeleton: "alice")
        #expect(try await nodes[3].accounts.accountExists(JID("alice@example.com")))
        for node in nodes { await node.close() }
        let again = PostgresStorage(settings: settings)
        try await again.opened()
        #expect(try await Self.versions(settings) == applied)
        #expect(try await again.accounts.accountExists(JID("alice@example.com")))
        await again.close()
        await Backend.dropSchema(try #require(settings.schema), settings)
    }

    @Test("a database written by a newer Starling is refused")
    func newerSchema() async throws {
        let settings = try Self.freshSchema()
        let storage = PostgresStorage(settings: settings)
        try await storage.opened()
        await storage.close()
        let logger = Logger(label: "starling.tests.postgres")
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: settings.host, port: settings.port, username: settings.username, password: settings.password, database: settings.database,
                tls: .disable),
            id: 3, logger: logger)
        let schema = try #require(settings.schema)
        try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(schema).schema_version (version, summary) VALUES (999, 'from the future')"), logger: logger)
        try await connection.close()
        let newer = PostgresStorage(settings: settings)
        await #expect(throws: StorageError.self) { try await newer.opened() }
        await newer.close()
        await Backend.dropSchema(schema, settings)
    }

    @Test("what SQLite exports, PostgreSQL imports: every table, and the stores answer as before")
    func transfer() async throws {
        let path = NSTemporaryDirectory() + "starling-transfer-\(UUID().uuidString).sqlite"
        defer { Backend.removeSQLiteFiles(path) }
        let source = try SQLiteStorage(path: path)
        let alice = try await Fixture.account("alice@example.com", in: source)
        let bob = try JID("bob@example.com")
        try await source.accounts.createAccount(bob, credentials: SCRAMCredentials.deriveAll(password: "bob's password"), skeleton: "bob")
        let room = try JID("room@conference.example.com")
        let (juliet, romeo) = (try JID("juliet@example.net"), try JID("romeo@example.net"))
        try await source.rosters.setItem(RosterItem(jid: juliet, name: "J", groups: ["a\nb", "c"], state: SubscriptionState(to: true)), of: alice)
        try await source.rosters.setItem(RosterItem(jid: romeo), of: alice)
        try await source.rosters.removeItem(romeo, of: alice)
        for index in 0..<3 {
            #expect(try await source.offline.store("<message id='o\(index)'/>", stamp: Fixture.epoch, for: alice, quota: 10))
        }
        try await source.accountData.setValue("<vCard/>", for: alice, key: "vcard")
        for index in 1...5 {
            let message = ArchivedMessage(id: "m\(index)", timestamp: Fixture.epoch.addingTimeInterval(Double(index)), with: juliet, stanza: "<message/>")
            try await source.archive.append(message, body: "Été \(index)", for: alice)
            try await source.roomArchive.append(message, body: "room \(index)", for: room)
        }
        let pubsub = try await ModuleStorage.open(ModuleSchema(module: "pubsub", migrations: [countingMigration]), in: source)
        try await pubsub.put("item", collection: "items", key: "node\u{0}1")

        let target = PostgresStorage(settings: try Self.freshSchema())
        try await target.opened()
        for table in StorageTable.allCases {
            try await source.export(table, batchSize: 2) { try await target.importRecords($0) }
        }
        #expect(try await target.tableCounts() == (try await source.tableCounts()))
        #expect(try await target.tableCounts()[.roomArchive] == 5)

        #expect(try await target.rosters.roster(of: alice).items.map(\.groups) == [["a\nb", "c"]])
        let changes = try #require(try await target.rosters.changes(of: alice, since: 0))
        #expect(changes.version == 3 && changes.removed == [romeo])
        #expect(try await target.offline.messages(for: alice).map(\.stanza) == (0..<3).map { "<message id='o\($0)'/>" })
        #expect(try await target.accountData.value(for: alice, key: "vcard") == "<vCard/>")
        #expect(try await target.archive.query(ArchiveQuery(fulltext: "été", after: "m2"), for: alice).items.map(\.id) == ["m3", "m4", "m5"])
        #expect(try await target.roomArchive.query(ArchiveQuery(before: "", limit: 2), for: room).items.map(\.id) == ["m4", "m5"])
        #expect(try await target.moduleData.schemaVersion(of: "pubsub") == 1)
        let copied = try await ModuleStorage.open(ModuleSchema(module: "pubsub", migrations: [countingMigration]), in: target)
        #expect(try await copied.document("items", key: "node\u{0}1")?.value == "item")
        #expect(try await copied.document("meta", key: "runs")?.value == "1")
        for hash in SCRAMHash.allCases {
            #expect(try await target.accounts.credentials(for: bob, hash: hash)?.verify(password: "bob's password") == true)
        }

        try await target.removeEverything()
        #expect(try await target.tableCounts().values.allSatisfy { $0 == 0 })
        await target.close()
        await source.close()
        await Backend.dropSchema(try #require(target.settings.schema), target.settings)
    }
}
