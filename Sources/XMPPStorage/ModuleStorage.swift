import Foundation

/// A module's handle on its own documents: the `ModuleDataStore` of the backend, scoped to the
/// module's namespace. Obtained only through `open`, so a module's documents are always at its
/// schema's version before it reads them.
public struct ModuleStorage: Sendable {
    public let module: String
    private let store: any ModuleDataStore

    /// Brings the module's documents up to its schema (see `ModuleSchema`) and returns its storage.
    public static func open(_ schema: ModuleSchema, in backend: any StorageBackend) async throws -> ModuleStorage {
        guard !schema.module.isEmpty else { throw StorageError.backend("a module schema needs a name") }
        try await backend.moduleData.migrate(schema)
        return ModuleStorage(module: schema.module, store: backend.moduleData)
    }

    private init(module: String, store: any ModuleDataStore) {
        self.module = module
        self.store = store
    }

    public func document(_ collection: String, key: String) async throws -> ModuleDocument? {
        try await self.transaction { try $0.document(collection, key: key) }
    }

    public func put(_ value: String, collection: String, key: String) async throws {
        try await self.transaction { try $0.put(value, collection: collection, key: key) }
    }

    @discardableResult
    public func delete(_ collection: String, key: String) async throws -> Bool {
        try await self.transaction { try $0.delete(collection, key: key) }
    }

    public func list(_ collection: String, _ range: ModuleDocumentRange = ModuleDocumentRange()) async throws -> [ModuleDocument] {
        try await self.transaction { try $0.list(collection, range) }
    }

    @discardableResult
    public func deleteAll(_ collection: String, prefix: String = "") async throws -> Int {
        try await self.transaction { try $0.deleteAll(collection, prefix: prefix) }
    }

    /// Several reads and writes as one: all of them happen, or (when `body` throws) none.
    public func transaction<Result: Sendable>(_ body: @escaping @Sendable (any ModuleDocuments) throws -> Result) async throws -> Result {
        try await self.store.transaction(module: self.module, body)
    }

    // MARK: - Typed documents

    /// The document decoded from JSON; nil when there is none.
    public func value<Value: Decodable>(_ type: Value.Type, collection: String, key: String) async throws -> Value? {
        guard let document = try await self.document(collection, key: key) else { return nil }
        return try JSONDecoder().decode(Value.self, from: Data(document.value.utf8))
    }

    /// Stores the value as JSON with sorted keys, so equal values are equal documents.
    public func setValue<Value: Encodable>(_ value: Value, collection: String, key: String) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
        try await self.put(text, collection: collection, key: key)
    }
}
