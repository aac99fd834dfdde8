import Dispatch
import Foundation
import Logging
import NIOCore
import PostgresNIO
import XMPPStorage

extension PostgresStorage: ModuleDataStore {
    public var moduleData: any ModuleDataStore { self }

    public func schemaVersion(of module: String) async throws -> Int {
        let logger = self.logger
        return try await self.run { client in
            try await Self.recordedVersion(of: module, try await client.query("SELECT version FROM module_schemas WHERE module = \(module)", logger: logger))
        }
    }

    private static func recordedVersion(of module: String, _ rows: PostgresRowSequence) async throws -> Int {
        var version = 0
        for try await value in rows.decode(Int.self) { version = value }
        return version
    }

    /// Each step reads the recorded version and applies the next migration inside one
    /// transaction holding the module's advisory lock, so that nodes starting at once apply
    /// each step exactly once and a step that fails records nothing.
    public func migrate(_ schema: ModuleSchema) async throws {
        for _ in 0...schema.migrations.count {
            let applied = try await self.moduleTransaction(module: schema.module) { connection, logger in
                let recorded = try await Self.recordedVersion(
                    of: schema.module, try await connection.query("SELECT version FROM module_schemas WHERE module = \(schema.module)", logger: logger))
                try Self.checkVersion(recorded, of: schema)
                guard recorded < schema.version else { return false }
                let migration = schema.migrations[recorded]
                try await Self.runBlocking(PostgresModuleDocuments(module: schema.module, connection: connection, logger: logger)) {
                    try migration.apply($0)
                }
                try await connection.query(
                    """
                    INSERT INTO module_schemas (module, version) VALUES (\(schema.module), \(recorded + 1))
                    ON CONFLICT (module) DO UPDATE SET version = excluded.version
                    """, logger: logger)
                return true
            }
            if !applied { return }
        }
    }

    public func transaction<Result: Sendable>(module: String, _ body: @escaping @Sendable (any ModuleDocuments) throws -> Result) async throws -> Result {
        try await self.moduleTransaction(module: module) { connection, logger in
            let documents = PostgresModuleDocuments(module: module, connection: connection, logger: logger)
            let result = try await Self.runBlocking(documents, body)
            // A failed statement aborts a PostgreSQL transaction, and COMMIT then rolls it back
            // without an error; SQLite would have kept the rest. A body that caught the error
            // (`try?`) must not be told its other writes were kept: fail the transaction.
            if documents.failures.withLock({ $0 }) > 0 {
                throw StorageError.backend("a statement of the \(module) module's transaction failed, so none of its changes were kept")
            }
            return result
        }
    }

    /// A transaction that holds the module's advisory lock: like SQLite's `BEGIN IMMEDIATE`, one
    /// transaction of a module at a time, so a body's read-decide-write is never interleaved
    /// with another's (the last owner of a room stays).
    private func moduleTransaction<Result: Sendable>(
        module: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let logger = self.logger
        let lock = AdvisoryLock.key("module", self.settings.schema ?? "", module)
        return try await self.transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lock))", logger: logger)
            return try await body(connection, logger)
        }
    }

    /// Module transactions are synchronous (`ModuleDocuments`): the body runs on a thread of
    /// its own, where each document operation waits for its query. Never on the concurrency
    /// pool's threads, which the query itself needs; never on an event loop.
    private static let blockingQueue = DispatchQueue(label: "starling.storage.postgresql.module-transactions", attributes: .concurrent)

    static func runBlocking<Result: Sendable>(
        _ documents: PostgresModuleDocuments, _ body: @escaping @Sendable (any ModuleDocuments) throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            self.blockingQueue.async {
                continuation.resume(with: Swift.Result { try body(documents) })
            }
        }
    }
}

/// The outcome of one query, handed from the task that ran it to the thread waiting for it.
private final class Handoff<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome: Result<Value, any Error>?
    private let done = DispatchSemaphore(value: 0)

    func finish(_ outcome: Result<Value, any Error>) {
        self.lock.lock()
        self.outcome = outcome
        self.lock.unlock()
        self.done.signal()
    }

    func wait() throws -> Value {
        self.done.wait()
        self.lock.lock()
        let outcome = self.outcome
        self.lock.unlock()
        guard let outcome else {
            throw StorageError.backend("a module transaction's query ended without an outcome")
        }
        return try outcome.get()
    }
}

/// One module's rows of `module_documents` inside a transaction on one connection; used only
/// from the blocking thread `runBlocking` gives the body.
struct PostgresModuleDocuments: ModuleDocuments, Sendable {
    let module: String
    let connection: PostgresConnection
    let logger: Logger
    /// Statements that failed: after one, PostgreSQL has aborted the transaction.
    let failures = LockedBox(0)

    /// Runs `work` as a task and waits for it on this (non-pool) thread.
    private func wait<Value: Sendable>(_ work: @escaping @Sendable () async throws -> Value) throws -> Value {
        let handoff = Handoff<Value>()
        Task {
            do {
                handoff.finish(.success(try await work()))
            } catch {
                self.failures.withLock { $0 += 1 }
                handoff.finish(.failure(PostgresStorage.storageError(error)))
            }
        }
        return try handoff.wait()
    }

    private func documents(_ collection: String, _ query: PostgresQuery) throws -> [ModuleDocument] {
        let (connection, logger) = (self.connection, self.logger)
        return try self.wait {
            var documents: [ModuleDocument] = []
            for try await (key, value, updatedAt) in try await connection.query(query, logger: logger).decode((ByteBuffer, String, Date).self) {
                documents.append(ModuleDocument(collection: collection, key: String(decoding: key.readableBytesView, as: UTF8.self), value: value, updatedAt: updatedAt))
            }
            return documents
        }
    }

    private func changedRows(_ query: PostgresQuery) throws -> Int {
        let (connection, logger) = (self.connection, self.logger)
        return try self.wait { try await PostgresStorage.count(try await connection.query(query, logger: logger)) }
    }

    func document(_ collection: String, key: String) throws -> ModuleDocument? {
        try self.documents(
            collection,
            """
            SELECT key, value, updated_at FROM module_documents
            WHERE module = \(self.module) AND collection = \(collection) AND key = \(PostgresStorage.bytes(key))
            """
        ).first
    }

    func put(_ value: String, collection: String, key: String) throws {
        _ = try self.changedRows(
            """
            INSERT INTO module_documents (module, collection, key, value, updated_at)
            VALUES (\(self.module), \(collection), \(PostgresStorage.bytes(key)), \(value), \(Date()))
            ON CONFLICT (module, collection, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
            """)
    }

    func delete(_ collection: String, key: String) throws -> Bool {
        try self.changedRows(
            """
            DELETE FROM module_documents WHERE module = \(self.module) AND collection = \(collection) AND key = \(PostgresStorage.bytes(key))
            RETURNING 1
            """) > 0
    }

    func list(_ collection: String, _ range: ModuleDocumentRange) throws -> [ModuleDocument] {
        var query = self.prefixQuery("SELECT key, value, updated_at FROM module_documents", collection, range.prefix)
        if let after = range.after {
            query.binds.append(PostgresStorage.bytes(after))
            query.sql += (range.descending ? " AND key < $" : " AND key > $") + "\(query.binds.count)"
        }
        query.sql += range.descending ? " ORDER BY key DESC" : " ORDER BY key ASC"
        if let limit = range.limit {
            // A negative limit from a caller means none.
            query.binds.append(max(0, limit))
            query.sql += " LIMIT $\(query.binds.count)"
        }
        return try self.documents(collection, query)
    }

    func deleteAll(_ collection: String, prefix: String) throws -> Int {
        var query = self.prefixQuery("DELETE FROM module_documents", collection, prefix)
        query.sql += " RETURNING 1"
        return try self.changedRows(query)
    }

    /// Keys with a prefix, as a range the primary key answers: `prefix <= key < successor`,
    /// where the successor is the prefix with its last byte raised by one (UTF-8 never holds
    /// 0xFF, so the raise never carries). `bytea` compares byte for byte.
    private func prefixQuery(_ statement: String, _ collection: String, _ prefix: String) -> PostgresQuery {
        var query: PostgresQuery = "\(unescaped: statement) WHERE module = \(self.module) AND collection = \(collection)"
        var successor = Array(prefix.utf8)
        if let last = successor.popLast() {
            successor.append(last &+ 1)
            query.binds.append(PostgresStorage.bytes(prefix))
            query.sql += " AND key >= $\(query.binds.count)"
            query.binds.append(PostgresStorage.bytes(successor))
            query.sql += " AND key < $\(query.binds.count)"
        }
        return query
    }
}
