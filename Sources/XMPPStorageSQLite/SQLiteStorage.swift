import XMPPCore
import XMPPSASL
import XMPPStorage

/// The embedded default backend: one SQLite file in WAL mode.
///
/// `synchronous` defaults to FULL so that a write the server has acknowledged survives a
/// crash of the process or the machine.
public final class SQLiteStorage: StorageBackend, AccountStore {
    private let connection: SQLiteConnection
    public let path: String

    public init(path: String, synchronous: String = "FULL") throws {
        let allowed = ["OFF", "NORMAL", "FULL", "EXTRA"]
        guard allowed.contains(synchronous.uppercased()) else {
            throw StorageError.backend("synchronous must be one of \(allowed.joined(separator: ", "))")
        }
        self.path = path
        do {
            self.connection = try SQLiteConnection(path: path, synchronous: synchronous.uppercased())
            try self.connection.runSync { try SQLiteSchema.migrate($0) }
        } catch let error as SQLiteError {
            throw StorageError.backend(error.description)
        }
    }

    public var accounts: any AccountStore { self }

    public func close() async {
        self.connection.close()
    }

    func run<Result: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> Result) async throws -> Result {
        do {
            return try await self.connection.run(body)
        } catch let error as SQLiteError {
            throw StorageError.backend(error.description)
        }
    }

    // MARK: - AccountStore

    public func createAccount(_ account: JID, credentials: [SCRAMCredentials], skeleton: String) async throws {
        let bare = account.bare
        guard let localpart = bare.localpart else { throw StorageError.backend("an account needs a localpart") }
        try await self.run { connection in
            try connection.transaction {
                if try !connection.execute("SELECT 1 FROM accounts WHERE domain = ? AND localpart = ?", [.text(bare.domainpart), .text(localpart)]).isEmpty {
                    throw StorageError.accountExists(bare)
                }
                let lookalike = try connection.execute(
                    "SELECT localpart FROM accounts WHERE domain = ? AND skeleton = ? LIMIT 1", [.text(bare.domainpart), .text(skeleton)])
                if let existing = lookalike.first?.first?.text, let jid = try? JID(localpart: existing, domainpart: bare.domainpart) {
                    throw StorageError.confusable(with: jid)
                }
                try connection.execute(
                    "INSERT INTO accounts (domain, localpart, skeleton, created_at) VALUES (?, ?, ?, strftime('%s','now'))",
                    [.text(bare.domainpart), .text(localpart), .text(skeleton)])
                try Self.insert(credentials, domain: bare.domainpart, localpart: localpart, connection: connection)
            }
        }
    }

    private static func insert(_ credentials: [SCRAMCredentials], domain: String, localpart: String, connection: SQLiteConnection) throws {
        for credential in credentials {
            try connection.execute(
                """
                INSERT OR REPLACE INTO scram_credentials (domain, localpart, hash, salt, iterations, stored_key, server_key)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(domain), .text(localpart), .text(credential.hash.rawValue), .blob(credential.salt),
                    .integer(Int64(credential.iterations)), .blob(credential.storedKey), .blob(credential.serverKey),
                ])
        }
    }

    public func credentials(for account: JID, hash: SCRAMHash) async throws -> SCRAMCredentials? {
        guard let localpart = account.localpart else { return nil }
        let domain = account.domainpart
        return try await self.run { connection in
            let rows = try connection.execute(
                "SELECT salt, iterations, stored_key, server_key FROM scram_credentials WHERE domain = ? AND localpart = ? AND hash = ?",
                [.text(domain), .text(localpart), .text(hash.rawValue)])
            guard let row = rows.first, row.count == 4, let salt = row[0].blob, let iterations = row[1].integer,
                let storedKey = row[2].blob, let serverKey = row[3].blob
            else { return nil }
            return SCRAMCredentials(hash: hash, salt: salt, iterations: Int(iterations), storedKey: storedKey, serverKey: serverKey)
        }
    }

    public func setCredentials(_ credentials: [SCRAMCredentials], for account: JID) async throws -> Bool {
        try await self.changeCredentials(of: account) { connection, domain, localpart in
            try connection.execute("DELETE FROM scram_credentials WHERE domain = ? AND localpart = ?", [.text(domain), .text(localpart)])
            try Self.insert(credentials, domain: domain, localpart: localpart, connection: connection)
        }
    }

    public func addCredentials(_ credentials: SCRAMCredentials, for account: JID) async throws -> Bool {
        try await self.changeCredentials(of: account) { connection, domain, localpart in
            // OR IGNORE: credentials already stored for this hash (a password change that
            // raced the upgrade) are kept.
            try connection.execute(
                """
                INSERT OR IGNORE INTO scram_credentials (domain, localpart, hash, salt, iterations, stored_key, server_key)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(domain), .text(localpart), .text(credentials.hash.rawValue), .blob(credentials.salt),
                    .integer(Int64(credentials.iterations)), .blob(credentials.storedKey), .blob(credentials.serverKey),
                ])
        }
    }

    /// Runs `change` in one transaction when the account exists; false when it does not.
    private func changeCredentials(
        of account: JID, _ change: @escaping @Sendable (SQLiteConnection, String, String) throws -> Void
    ) async throws -> Bool {
        guard let localpart = account.localpart else { return false }
        let domain = account.domainpart
        return try await self.run { connection in
            try connection.transaction {
                guard try !connection.execute("SELECT 1 FROM accounts WHERE domain = ? AND localpart = ?", [.text(domain), .text(localpart)]).isEmpty else {
                    return false
                }
                try change(connection, domain, localpart)
                return true
            }
        }
    }

    public func deleteAccount(_ account: JID) async throws -> Bool {
        guard let localpart = account.localpart else { return false }
        let domain = account.domainpart
        let bare = account.bare.description
        return try await self.run { connection in
            try connection.transaction {
                try connection.execute("DELETE FROM accounts WHERE domain = ? AND localpart = ?", [.text(domain), .text(localpart)])
                let deleted = connection.changes > 0
                // Per-account module documents (`ModuleAccountDocuments`) go with the account.
                try connection.execute(
                    "DELETE FROM module_documents WHERE collection >= ? AND collection < ? AND key >= ? AND key < ?",
                    [.text(ModuleAccountDocuments.collectionPrefix), .text("account;"), .text(bare + "\u{0}"), .text(bare + "\u{1}")])
                return deleted
            }
        }
    }

    public func accountExists(_ account: JID) async throws -> Bool {
        guard let localpart = account.localpart else { return false }
        let domain = account.domainpart
        return try await self.run { connection in
            try !connection.execute("SELECT 1 FROM accounts WHERE domain = ? AND localpart = ?", [.text(domain), .text(localpart)]).isEmpty
        }
    }

    public func accounts(onDomain domain: String) async throws -> [JID] {
        try await self.run { connection in
            try connection.execute("SELECT localpart FROM accounts WHERE domain = ? ORDER BY localpart", [.text(domain)])
                .compactMap { row in row.first?.text.flatMap { try? JID(localpart: $0, domainpart: domain) } }
        }
    }
}
