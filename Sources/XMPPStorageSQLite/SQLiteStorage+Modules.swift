import Foundation
import XMPPStorage

extension SQLiteStorage: ModuleDataStore {
    public var moduleData: any ModuleDataStore { self }

    public func schemaVersion(of module: String) async throws -> Int {
        try await self.run { try Self.recordedVersion(of: module, $0) }
    }

    /// Like `SQLiteSchema.migrate`: each step reads the recorded version inside its own
    /// `BEGIN IMMEDIATE` transaction, so when two processes start on a new file at once the
    /// second waits for the first and then skips what it applied.
    public func migrate(_ schema: ModuleSchema) async throws {
        try await self.run { connection in
            while try connection.transaction({
                let recorded = try Self.recordedVersion(of: schema.module, connection)
                try Self.checkVersion(recorded, of: schema)
                guard recorded < schema.version else { return false }
                try schema.migrations[recorded].apply(SQLiteModuleDocuments(module: schema.module, connection: connection))
                try connection.execute(
                    "INSERT INTO module_schemas (module, version) VALUES (?, ?) ON CONFLICT (module) DO UPDATE SET version = excluded.version",
                    [.text(schema.module), .integer(Int64(recorded + 1))])
                return true
            }) {}
        }
    }

    public func transaction<Result: Sendable>(module: String, _ body: @escaping @Sendable (any ModuleDocuments) throws -> Result) async throws -> Result {
        try await self.run { connection in
            try connection.transaction { try body(SQLiteModuleDocuments(module: module, connection: connection)) }
        }
    }

    private static func recordedVersion(of module: String, _ connection: SQLiteConnection) throws -> Int {
        Int(try connection.execute("SELECT version FROM module_schemas WHERE module = ?", [.text(module)]).first?.first?.integer ?? 0)
    }
}

/// One module's rows of `module_documents`, used only inside a transaction on the connection's queue.
struct SQLiteModuleDocuments: ModuleDocuments {
    let module: String
    let connection: SQLiteConnection

    func document(_ collection: String, key: String) throws -> ModuleDocument? {
        try self.connection.execute(
            "SELECT key, value, updated_at FROM module_documents WHERE module = ? AND collection = ? AND key = ?",
            [.text(self.module), .text(collection), .text(key)]
        ).first.flatMap { self.document(collection, from: $0) }
    }

    func put(_ value: String, collection: String, key: String) throws {
        try self.connection.execute(
            "INSERT OR REPLACE INTO module_documents (module, collection, key, value, updated_at) VALUES (?, ?, ?, ?, ?)",
            [.text(self.module), .text(collection), .text(key), .text(value), .real(Date().timeIntervalSince1970)])
    }

    func delete(_ collection: String, key: String) throws -> Bool {
        try self.connection.execute(
            "DELETE FROM module_documents WHERE module = ? AND collection = ? AND key = ?", [.text(self.module), .text(collection), .text(key)])
        return self.connection.changes > 0
    }

    func list(_ collection: String, _ range: ModuleDocumentRange) throws -> [ModuleDocument] {
        var (conditions, parameters) = self.prefixCondition(collection, range.prefix)
        if let after = range.after {
            conditions.append(range.descending ? "key < ?" : "key > ?")
            parameters.append(.text(after))
        }
        let order = range.descending ? "DESC" : "ASC"
        // LIMIT -1 is "no limit" to SQLite; a negative limit from a caller means none.
        parameters.append(.integer(range.limit.map { Int64(max(0, $0)) } ?? -1))
        return try self.connection.execute(
            "SELECT key, value, updated_at FROM module_documents WHERE \(conditions.joined(separator: " AND ")) ORDER BY key \(order) LIMIT ?", parameters
        ).compactMap { self.document(collection, from: $0) }
    }

    func deleteAll(_ collection: String, prefix: String) throws -> Int {
        let (conditions, parameters) = self.prefixCondition(collection, prefix)
        try self.connection.execute("DELETE FROM module_documents WHERE \(conditions.joined(separator: " AND "))", parameters)
        return self.connection.changes
    }

    /// Keys with a prefix, as a range the primary key answers: `prefix <= key < successor`,
    /// where the successor is the prefix with its last byte raised by one. UTF-8 never holds
    /// 0xFF, so the raise never carries; the successor may not be UTF-8, so it goes in as a
    /// blob cast to text, which BINARY collation compares byte for byte like any text.
    private func prefixCondition(_ collection: String, _ prefix: String) -> ([String], [SQLiteConnection.Value]) {
        var conditions = ["module = ?", "collection = ?"]
        var parameters: [SQLiteConnection.Value] = [.text(self.module), .text(collection)]
        var successor = Array(prefix.utf8)
        if let last = successor.popLast() {
            successor.append(last &+ 1)
            conditions += ["key >= ?", "key < CAST(? AS TEXT)"]
            parameters += [.text(prefix), .blob(successor)]
        }
        return (conditions, parameters)
    }

    private func document(_ collection: String, from row: SQLiteConnection.Row) -> ModuleDocument? {
        guard row.count == 3, let key = row[0].text, let value = row[1].text, let stamp = row[2].real else { return nil }
        return ModuleDocument(collection: collection, key: key, value: value, updatedAt: Date(timeIntervalSince1970: stamp))
    }
}
