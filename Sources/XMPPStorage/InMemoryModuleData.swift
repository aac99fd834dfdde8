import Foundation

/// `ModuleDataStore` in memory, with the semantics of the SQLite table: keys compared as UTF-8
/// bytes (Swift's `String ==` would merge canonically equivalent keys that SQL keeps apart),
/// and a transaction that throws leaves nothing behind.
final class InMemoryModuleData: ModuleDataStore {
    fileprivate struct DocumentKey: Hashable {
        var collection: [UInt8]
        var key: [UInt8]
    }

    private struct State {
        var versions: [String: Int] = [:]
        var documents: [String: [DocumentKey: ModuleDocument]] = [:]
    }

    private let state = LockedBox(State())

    func schemaVersion(of module: String) async throws -> Int {
        self.state.withLock { $0.versions[module] ?? 0 }
    }

    func migrate(_ schema: ModuleSchema) async throws {
        // One lock for the whole run: a second caller waits, then finds nothing left to do.
        try self.state.withLock { state in
            let recorded = state.versions[schema.module] ?? 0
            try Self.checkVersion(recorded, of: schema)
            for version in recorded..<schema.version {
                let documents = Documents(state.documents[schema.module] ?? [:])
                try schema.migrations[version].apply(documents)
                state.documents[schema.module] = documents.contents
                state.versions[schema.module] = version + 1
            }
        }
    }

    func transaction<Result: Sendable>(module: String, _ body: @escaping @Sendable (any ModuleDocuments) throws -> Result) async throws -> Result {
        try self.state.withLock { state in
            // Work on a copy and keep it only if the body succeeds: that is the rollback.
            let documents = Documents(state.documents[module] ?? [:])
            let result = try body(documents)
            state.documents[module] = documents.contents
            return result
        }
    }

    /// Deletes every module's documents in `account:` collections keyed by the account.
    func deleteAccountDocuments(of account: String) {
        let prefix = Array("\(account)\u{0}".utf8)
        let accountCollection = Array(ModuleAccountDocuments.collectionPrefix.utf8)
        self.state.withLock { state in
            for (module, documents) in state.documents {
                state.documents[module] = documents.filter { key, _ in
                    !(key.collection.starts(with: accountCollection) && key.key.starts(with: prefix))
                }
            }
        }
    }

    /// One module's documents during a transaction.
    private final class Documents: ModuleDocuments {
        var contents: [DocumentKey: ModuleDocument]

        init(_ contents: [DocumentKey: ModuleDocument]) {
            self.contents = contents
        }

        func document(_ collection: String, key: String) throws -> ModuleDocument? {
            self.contents[DocumentKey(collection: Array(collection.utf8), key: Array(key.utf8))]
        }

        func put(_ value: String, collection: String, key: String) throws {
            self.contents[DocumentKey(collection: Array(collection.utf8), key: Array(key.utf8))] =
                ModuleDocument(collection: collection, key: key, value: value, updatedAt: Date())
        }

        func delete(_ collection: String, key: String) throws -> Bool {
            self.contents.removeValue(forKey: DocumentKey(collection: Array(collection.utf8), key: Array(key.utf8))) != nil
        }

        func list(_ collection: String, _ range: ModuleDocumentRange) throws -> [ModuleDocument] {
            let collectionBytes = Array(collection.utf8)
            let prefix = Array(range.prefix.utf8)
            let after = range.after.map { Array($0.utf8) }
            var keys = self.contents.keys.filter { key in
                guard key.collection == collectionBytes, key.key.starts(with: prefix) else { return false }
                guard let after else { return true }
                return range.descending ? key.key.lexicographicallyPrecedes(after) : after.lexicographicallyPrecedes(key.key)
            }.map(\.key)
            keys.sort { range.descending ? $1.lexicographicallyPrecedes($0) : $0.lexicographicallyPrecedes($1) }
            if let limit = range.limit { keys = Array(keys.prefix(max(0, limit))) }
            return keys.compactMap { self.contents[DocumentKey(collection: collectionBytes, key: $0)] }
        }

        func deleteAll(_ collection: String, prefix: String) throws -> Int {
            let collectionBytes = Array(collection.utf8)
            let prefixBytes = Array(prefix.utf8)
            let doomed = self.contents.keys.filter { $0.collection == collectionBytes && $0.key.starts(with: prefixBytes) }
            for key in doomed { self.contents.removeValue(forKey: key) }
            return doomed.count
        }
    }
}
