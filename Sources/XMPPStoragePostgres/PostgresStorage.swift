import Foundation
import Logging
import NIOCore
import PostgresNIO
import XMPPCore
import XMPPSASL
import XMPPStorage

/// The PostgreSQL backend: the same stores, with the same behaviour, as `SQLiteStorage`, over
/// a pool of connections (`PostgresClient`), so that several Starling nodes can share one
/// database.
///
/// Making one does no I/O: the pool runs in a task of its own, and connecting and migrating
/// the schema starts at once in another. Every operation waits for that first; `opened()`
/// waits for it on purpose, so that a server can refuse to start on a database it cannot use.
public final class PostgresStorage: StorageBackend, AccountStore, OpeningStorage {
    let client: PostgresClient
    let logger: Logger
    public let settings: PostgresSettings
    private let running: Task<Void, Never>
    private let opening: Task<Void, any Error>

    public init(settings: PostgresSettings, logger: Logger = Logger(label: "starling.storage.postgresql")) {
        let client = PostgresClient(configuration: settings.clientConfiguration(), backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.settings = settings
        self.running = Task { await client.run() }
        self.opening = Task {
            do {
                try await Self.withTimeout(seconds: settings.openingTimeoutSeconds, what: "connecting to PostgreSQL at \(settings.summary)") {
                    let connection = try await PostgresConnection.connect(configuration: try settings.connectionConfiguration(), id: 0, logger: logger)
                    do {
                        try await PostgresSchema.migrate(connection, settings: settings, logger: logger)
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    try await connection.close()
                }
            } catch {
                throw Self.storageError(error, context: "cannot open PostgreSQL at \(settings.summary)")
            }
        }
    }

    public var accounts: any AccountStore { self }

    public func opened() async throws {
        try await self.opening.value
    }

    public func close() async {
        self.opening.cancel()
        _ = try? await self.opening.value
        self.running.cancel()
        await self.running.value
    }

    // MARK: - Running queries

    /// Runs `body` with the pool once the schema is ready; database errors become `StorageError.backend`.
    func run<Result: Sendable>(_ body: (PostgresClient) async throws -> Result) async throws -> Result {
        try await self.opening.value
        do {
            return try await body(self.client)
        } catch {
            throw Self.storageError(error)
        }
    }

    /// Runs `body` in one transaction on one pooled connection.
    func transaction<Result: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        let logger = self.logger
        return try await self.run { client in
            try await client.withConnection { connection in
                try await Self.inTransaction(connection, logger: logger, body)
            }
        }
    }

    /// BEGIN, `body`, COMMIT; ROLLBACK when `body` throws, and its own error goes on unwrapped
    /// (PostgresNIO's `withTransaction` wraps it, and callers match on `StorageError`).
    static func inTransaction<Result: Sendable>(
        _ connection: PostgresConnection, logger: Logger, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await connection.query("BEGIN", logger: logger)
        let result: Result
        do {
            result = try await body(connection)
        } catch {
            do {
                try await connection.query("ROLLBACK", logger: logger)
            } catch {
                // A connection that cannot roll back is in no state to go back to the pool.
                try? await connection.close()
            }
            throw error
        }
        try await connection.query("COMMIT", logger: logger)
        return result
    }

    /// What the database said, as a `StorageError`; the errors of Starling's own code pass unchanged.
    static func storageError(_ error: any Error, context: String? = nil) -> any Error {
        guard let psql = error as? PSQLError else {
            guard let context else { return error }
            if case StorageError.backend(let message) = error { return StorageError.backend("\(context): \(message)") }
            if error is StorageError { return error }
            return StorageError.backend("\(context): \(error)")
        }
        var message: String
        if let server = psql.serverInfo {
            message = server[.message] ?? "error"
            if let detail = server[.detail] { message += " (\(detail))" }
            if let state = server[.sqlState] { message += " [SQLSTATE \(state)]" }
        } else if let underlying = psql.underlying.map({ "\($0)" }), underlying.contains("CERTIFICATE_VERIFY_FAILED") {
            // BoringSSL's text names a source path; what to change is what the operator needs.
            message = "the database server's TLS certificate did not verify: set storage.postgresql.ca_file to the CA that signed it "
                + "(without it the system's CAs are used), and check that the URL's host is a name the certificate holds"
        } else if let underlying = psql.underlying.map({ "\($0)" }), underlying.contains("handshakeFailed") {
            message = "the TLS handshake with the database server failed (\(underlying.prefix(200)))"
        } else {
            message = "\(psql.code)" + (psql.underlying.map { ": \($0)" } ?? "")
        }
        return StorageError.backend(context.map { "\($0): \(message)" } ?? message)
    }

    /// `body`'s result, or a timeout error once `seconds` passed, whichever comes first. The
    /// caller is not held until `body` ends: a task group would wait for a child that does not
    /// heed cancellation (a server that accepts and never answers, an advisory lock another
    /// process holds), so `body` is cancelled and left to end on its own.
    static func withTimeout<Result: Sendable>(
        seconds: Double, what: String, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let outcome = FirstOutcome<Result>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.install(continuation)
                let work = Task {
                    do { outcome.finish(.success(try await body())) } catch { outcome.finish(.failure(error)) }
                }
                // Bounded to what a sleep takes; NaN and negatives count as a moment.
                let nanoseconds = seconds.isNaN ? 1 : UInt64(max(0.001, min(seconds, 86_400)) * 1_000_000_000)
                let timer = Task {
                    try? await Task.sleep(nanoseconds: nanoseconds)
                    outcome.finish(.failure(StorageError.backend("\(what) took longer than \(seconds.formatted()) s")))
                }
                // An abandoned attempt may hold its connection until the server lets go of it.
                outcome.afterOutcome {
                    work.cancel()
                    timer.cancel()
                }
            }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }

    static func bytes(_ array: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: array) }
    static func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// How many rows a query returned (a `RETURNING 1` counts what a statement changed).
    static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    // MARK: - AccountStore

    public func createAccount(_ account: JID, credentials: [SCRAMCredentials], skeleton: String) async throws {
        let bare = account.bare
        guard let localpart = bare.localpart else { throw StorageError.backend("an account needs a localpart") }
        let domain = bare.domainpart
        let logger = self.logger
        let lock = AdvisoryLock.key("accounts", self.settings.schema ?? "", domain)
        try await self.transaction { connection in
            // Two creations of look-alike names at once must not both pass the check.
            try await connection.query("SELECT pg_advisory_xact_lock(\(lock))", logger: logger)
            let existing = try await connection.query(
                "SELECT 1 FROM accounts WHERE domain = \(domain) AND localpart = \(localpart)", logger: logger)
            if try await Self.count(existing) > 0 { throw StorageError.accountExists(bare) }
            let lookalikes = try await connection.query(
                "SELECT localpart FROM accounts WHERE domain = \(domain) AND skeleton = \(skeleton) LIMIT 1", logger: logger)
            for try await other in lookalikes.decode(String.self) {
                if let jid = try? JID(localpart: other, domainpart: domain) { throw StorageError.confusable(with: jid) }
            }
            try await connection.query(
                "INSERT INTO accounts (domain, localpart, skeleton) VALUES (\(domain), \(localpart), \(skeleton))", logger: logger)
            for credential in credentials {
                try await Self.insert(credential, domain: domain, localpart: localpart, onConflict: "DO UPDATE SET salt = excluded.salt, iterations = excluded.iterations, stored_key = excluded.stored_key, server_key = excluded.server_key", connection, logger)
            }
        }
    }

    /// `onConflict` is one of this file's constants, never input.
    static func insert(
        _ credential: SCRAMCredentials, domain: String, localpart: String, onConflict: String, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        var query: PostgresQuery = """
            INSERT INTO scram_credentials (domain, localpart, hash, salt, iterations, stored_key, server_key)
            VALUES (\(domain), \(localpart), \(credential.hash.rawValue), \(Self.bytes(credential.salt)), \(credential.iterations),
                    \(Self.bytes(credential.storedKey)), \(Self.bytes(credential.serverKey)))
            """
        query.sql += " ON CONFLICT (domain, localpart, hash) " + onConflict
        try await connection.query(query, logger: logger)
    }

    public func credentials(for account: JID, hash: SCRAMHash) async throws -> SCRAMCredentials? {
        guard let localpart = account.localpart else { return nil }
        let domain = account.domainpart
        let logger = self.logger
        return try await self.run { client in
            let rows = try await client.query(
                """
                SELECT salt, iterations, stored_key, server_key FROM scram_credentials
                WHERE domain = \(domain) AND localpart = \(localpart) AND hash = \(hash.rawValue)
                """, logger: logger)
            var found: SCRAMCredentials?
            for try await (salt, iterations, storedKey, serverKey) in rows.decode((ByteBuffer, Int, ByteBuffer, ByteBuffer).self) {
                found = SCRAMCredentials(
                    hash: hash, salt: Array(salt.readableBytesView), iterations: iterations, storedKey: Array(storedKey.readableBytesView),
                    serverKey: Array(serverKey.readableBytesView))
            }
            return found
        }
    }

    public func setCredentials(_ credentials: [SCRAMCredentials], for account: JID) async throws -> Bool {
        try await self.changeCredentials(of: account) { connection, domain, localpart, logger in
            try await connection.query("DELETE FROM scram_credentials WHERE domain = \(domain) AND localpart = \(localpart)", logger: logger)
            for credential in credentials {
                try await Self.insert(credential, domain: domain, localpart: localpart, onConflict: "DO NOTHING", connection, logger)
            }
        }
    }

    public func addCredentials(_ credentials: SCRAMCredentials, for account: JID) async throws -> Bool {
        try await self.changeCredentials(of: account) { connection, domain, localpart, logger in
            // DO NOTHING: credentials already stored for this hash (a password change that
            // raced the upgrade) are kept.
            try await Self.insert(credentials, domain: domain, localpart: localpart, onConflict: "DO NOTHING", connection, logger)
        }
    }

    /// Runs `change` in one transaction when the account exists (its row locked against a
    /// concurrent deletion); false when it does not.
    private func changeCredentials(
        of account: JID, _ change: @escaping @Sendable (PostgresConnection, String, String, Logger) async throws -> Void
    ) async throws -> Bool {
        guard let localpart = account.localpart else { return false }
        let domain = account.domainpart
        let logger = self.logger
        return try await self.transaction { connection in
            let rows = try await connection.query(
                "SELECT 1 FROM accounts WHERE domain = \(domain) AND localpart = \(localpart) FOR NO KEY UPDATE", logger: logger)
            guard try await Self.count(rows) > 0 else { return false }
            try await change(connection, domain, localpart, logger)
            return true
        }
    }

    public func deleteAccount(_ account: JID) async throws -> Bool {
        guard let localpart = account.localpart else { return false }
        let domain = account.domainpart
        let bare = account.bare.description
        let logger = self.logger
        return try await self.transaction { connection in
            // Rosters, offline messages, account data and the archive go by their foreign keys.
            let deleted = try await Self.count(
                try await connection.query("DELETE FROM accounts WHERE domain = \(domain) AND localpart = \(localpart) RETURNING 1", logger: logger))
            // Per-account module documents (`ModuleAccountDocuments`) go with the account.
            try await connection.query(
                """
                DELETE FROM module_documents
                WHERE collection >= \(ModuleAccountDocuments.collectionPrefix) AND collection < 'account;'
                  AND key >= \(Self.bytes(bare + "\u{0}")) AND key < \(Self.bytes(bare + "\u{1}"))
                """, logger: logger)
            return deleted > 0
        }
    }

    public func accountExists(_ account: JID) async throws -> Bool {
        guard let localpart = account.localpart else { return false }
        let domain = account.domainpart
        let logger = self.logger
        return try await self.run { client in
            try await Self.count(try await client.query("SELECT 1 FROM accounts WHERE domain = \(domain) AND localpart = \(localpart)", logger: logger)) > 0
        }
    }

    public func accounts(onDomain domain: String) async throws -> [JID] {
        let logger = self.logger
        return try await self.run { client in
            var accounts: [JID] = []
            for try await localpart in try await client.query("SELECT localpart FROM accounts WHERE domain = \(domain) ORDER BY localpart", logger: logger)
                .decode(String.self)
            {
                if let jid = try? JID(localpart: localpart, domainpart: domain) { accounts.append(jid) }
            }
            return accounts
        }
    }
}

/// Whichever of several tasks finishes first resumes the continuation; later ones are
/// ignored, and the action given to `afterOutcome` runs once it is decided (it cancels what
/// still runs).
final class FirstOutcome<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, any Error>?
        var early: Swift.Result<Value, any Error>?
        var decided = false
        var afterOutcome: (@Sendable () -> Void)?
    }

    private let state = LockedBox(State())

    func install(_ continuation: CheckedContinuation<Value, any Error>) {
        let ready: Swift.Result<Value, any Error>? = self.state.withLock { state in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    func afterOutcome(_ action: @escaping @Sendable () -> Void) {
        let decided = self.state.withLock { state -> Bool in
            if !state.decided { state.afterOutcome = action }
            return state.decided
        }
        if decided { action() }
    }

    func finish(_ result: Swift.Result<Value, any Error>) {
        let (continuation, after) = self.state.withLock { state -> (CheckedContinuation<Value, any Error>?, (@Sendable () -> Void)?) in
            guard !state.decided else { return (nil, nil) }
            state.decided = true
            defer { state.continuation = nil }
            if state.continuation == nil { state.early = result }
            return (state.continuation, state.afterOutcome)
        }
        continuation?.resume(with: result)
        after?()
    }
}
