import Foundation

/// Storage a module owns, without a table of its own in every backend.
///
/// A module declares a `ModuleSchema` (its name and ordered migrations) and opens a
/// `ModuleStorage`: a namespaced document store of `(collection, key) → value` with listing by
/// key prefix in byte order, atomic put and delete, and transactions over several documents.
/// Every backend implements `ModuleDataStore` once, over one generic table (SQLite:
/// `module_documents`, created by the core migrations), and records each module's schema
/// version, so adding a module never edits a backend.
///
/// Why this is enough for the services coming next:
/// - **Chat rooms (XEP-0045)**: a persistent room is one document in `rooms` keyed by the
///   room's localpart (its configuration form, subject); affiliations are documents in
///   `affiliations` keyed `room\u{0}jid`, so listing the prefix `room\u{0}` gives one room's
///   members and `deleteAll(prefix:)` drops them when the room is destroyed. (NUL cannot occur
///   in XML, so no room, node or JID contains the separator.) A transaction changes the
///   owner list and checks that one owner is left, atomically.
/// - **Pubsub (XEP-0060)**: a node is a document in `nodes`; items are in `items` keyed
///   `node\u{0}<sequence>` with a sortable, zero-padded sequence, so "the last N items" is a
///   descending prefix listing, and replacing an item by ID is a put in a transaction.
/// - **HTTP upload (XEP-0363)**: a slot is a document keyed by its secret ID, with the
///   requester and size in the value; `updatedAt` dates it for expiry, and a per-account
///   prefix (`account\u{0}slot`) sums an account's quota.
///
/// Documents belong to the module, not to an account, with one exception: collections whose
/// names start with `account:` (`ModuleAccountDocuments.collectionPrefix`) hold documents
/// keyed `<bare JID>\u{0}…`, and every backend deletes those with the account, whoever
/// deletes it (the running server or `starling deluser`). Personal eventing nodes live there.
///
/// What it is not for: data queried by anything but its key, at the scale of the message
/// archive (search by time, peer and text over millions of rows). Such data gets a typed
/// store protocol that every backend implements with its own indexes, as `ArchiveStore` does.
public enum ModuleAccountDocuments {
    /// Collections named with this prefix are per-account: keys start with `<bare JID>\u{0}`.
    public static let collectionPrefix = "account:"
}

public struct ModuleSchema: Sendable {
    /// The module's stable name, the namespace of its documents ("muc", "pubsub").
    public var module: String
    /// Migration N brings the module's documents from version N to N+1. Append; never edit
    /// one that has shipped.
    public var migrations: [ModuleMigration]

    public init(module: String, migrations: [ModuleMigration] = []) {
        self.module = module
        self.migrations = migrations
    }

    /// The version the module's documents have once every migration ran.
    public var version: Int { self.migrations.count }
}

/// One step of a module's schema: rewrites the module's documents, inside the transaction
/// that also records the new version, so it runs exactly once even when several processes
/// start on the same database at once.
public struct ModuleMigration: Sendable {
    public var summary: String
    public var apply: @Sendable (any ModuleDocuments) throws -> Void

    public init(_ summary: String, apply: @escaping @Sendable (any ModuleDocuments) throws -> Void) {
        self.summary = summary
        self.apply = apply
    }
}

public struct ModuleDocument: Sendable, Hashable {
    public var collection: String
    public var key: String
    public var value: String
    /// When the document was last written, by the backend's clock.
    public var updatedAt: Date

    public init(collection: String, key: String, value: String, updatedAt: Date) {
        self.collection = collection
        self.key = key
        self.value = value
        self.updatedAt = updatedAt
    }
}

/// Which documents of a collection to list. Keys compare byte for byte (UTF-8), as SQL's
/// BINARY collation does: no case folding, no Unicode normalisation, so a module that wants
/// either applies it to its keys itself.
public struct ModuleDocumentRange: Sendable, Hashable {
    /// Only keys starting with these bytes; "" for all.
    public var prefix: String
    /// Continue after this key, in the direction of the listing (paging).
    public var after: String?
    /// Largest key first.
    public var descending: Bool
    /// At most this many documents; nil for all.
    public var limit: Int?

    public init(prefix: String = "", after: String? = nil, descending: Bool = false, limit: Int? = nil) {
        self.prefix = prefix
        self.after = after
        self.descending = descending
        self.limit = limit
    }
}

/// A module's documents inside one transaction. Synchronous: the backend holds its write lock
/// (SQLite: `BEGIN IMMEDIATE`; memory: its mutex) while the transaction's body runs, so the
/// body must only compute, never wait for anything else.
public protocol ModuleDocuments {
    func document(_ collection: String, key: String) throws -> ModuleDocument?
    /// Inserts or replaces.
    func put(_ value: String, collection: String, key: String) throws
    /// False when there was no such document.
    @discardableResult
    func delete(_ collection: String, key: String) throws -> Bool
    func list(_ collection: String, _ range: ModuleDocumentRange) throws -> [ModuleDocument]
    /// Deletes every document of the collection whose key starts with `prefix`; returns how many.
    @discardableResult
    func deleteAll(_ collection: String, prefix: String) throws -> Int
}

/// What a backend implements once for every module.
public protocol ModuleDataStore: Sendable {
    /// The version recorded for the module; 0 when it never migrated.
    func schemaVersion(of module: String) async throws -> Int
    /// Runs the schema's migrations that are not recorded yet, each in the transaction that
    /// records it; throws when the recorded version is newer than the schema knows.
    func migrate(_ schema: ModuleSchema) async throws
    /// Runs `body` atomically over the module's documents: when it throws, nothing it did stays.
    func transaction<Result: Sendable>(module: String, _ body: @escaping @Sendable (any ModuleDocuments) throws -> Result) async throws -> Result
}

extension ModuleDataStore {
    /// The recorded version against the schema: shared by backends so the message is the same.
    public static func checkVersion(_ recorded: Int, of schema: ModuleSchema) throws {
        guard recorded <= schema.version else {
            throw StorageError.backend(
                "the data of module \(schema.module) was written by a newer Starling (version \(recorded), this one knows \(schema.version))")
        }
    }
}
