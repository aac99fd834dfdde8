import Foundation
import Logging
import PostgresNIO
import Testing
import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStoragePostgres
import XMPPStorageSQLite

/// Every storage backend the contract suites run against. A new backend is one case here and
/// one arm in `make()`; every `@Test(arguments: Backend.allCases)` picks it up. PostgreSQL needs
/// a server: it takes part when `STARLING_TEST_POSTGRES_URL` names one (scripts/test-postgres.sh
/// starts one and sets it), and drops out of `allCases` otherwise.
enum Backend: String, CaseIterable, CustomStringConvertible {
    case memory, sqlite, postgres

    static let postgresURL = ProcessInfo.processInfo.environment["STARLING_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    static var allCases: [Backend] { Self.postgresURL == nil ? [.memory, .sqlite] : [.memory, .sqlite, .postgres] }

    var description: String { self.rawValue }

    /// A fresh, empty backend and what removes it afterwards (once the backend is closed).
    func make() async throws -> (any StorageBackend, cleanup: @Sendable () async -> Void) {
        switch self {
        case .memory:
            return (InMemoryStorage(), {})
        case .sqlite:
            let path = NSTemporaryDirectory() + "starling-contract-\(UUID().uuidString).sqlite"
            return (try SQLiteStorage(path: path), { Self.removeSQLiteFiles(path) })
        case .postgres:
            // A schema of its own per test: tests run in parallel on one database.
            let schema = "contract_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            var settings = try PostgresSettings(url: try #require(Self.postgresURL), tls: .disable, schema: schema)
            settings.maximumConnections = 4
            let storage = PostgresStorage(settings: settings)
            try await storage.opened()
            return (storage, { [settings] in await Self.dropSchema(schema, settings) })
        }
    }

    /// Runs `body` on a fresh backend, then closes and removes it whether or not `body` threw.
    func withStorage(_ body: (any StorageBackend) async throws -> Void) async throws {
        let (storage, cleanup) = try await self.make()
        do {
            try await body(storage)
        } catch {
            await storage.close()
            await cleanup()
            throw error
        }
        await storage.close()
        await cleanup()
    }

    /// Drops a test's schema and everything in it, on a connection of its own.
    static func dropSchema(_ schema: String, _ settings: PostgresSettings) async {
        let logger = Logger(label: "starling.tests.postgres")
        let configuration = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password, database: settings.database,
            tls: .disable)
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
            // The name was made above from a UUID: a plain identifier.
            try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger)
            try await connection.close()
        } catch {
            Issue.record("could not drop the test schema \(schema): \(error)")
        }
    }

    static func removeSQLiteFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

/// Fixtures shared by the suites. Stores that hang off an account (rosters, offline messages,
/// account data, archives) are only used for accounts that exist: SQLite refuses the rest
/// through its foreign keys, so the contract does not ask for it.
enum Fixture {
    @discardableResult
    static func account(_ text: String, in storage: any StorageBackend) async throws -> JID {
        let jid = try JID(text)
        try await storage.accounts.createAccount(jid, credentials: [], skeleton: jid.localpart ?? text)
        return jid
    }

    /// A fixed instant with whole milliseconds, so that backends storing seconds as a double
    /// can be compared without tolerance games beyond a millisecond.
    static let epoch = Date(timeIntervalSince1970: 1_780_000_000)

    static func closeEnough(_ lhs: Date, _ rhs: Date) -> Bool {
        abs(lhs.timeIntervalSince1970 - rhs.timeIntervalSince1970) < 0.001
    }
}
