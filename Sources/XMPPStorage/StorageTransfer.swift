import Foundation
import XMPPSASL

/// Moving everything from one backend to another (`starling migrate-storage`): the source
/// exports its rows table by table, the target imports them, and both count what they hold.
/// The records are the tables' rows as stored, not the store protocols' views: removed roster
/// items (markers for roster versioning), roster versions and module schema versions come
/// along, so the target answers every query as the source did.
public enum StorageTable: String, Sendable, Hashable, CaseIterable {
    case accounts
    case scramCredentials = "scram_credentials"
    case rosterVersions = "roster_versions"
    case rosterItems = "roster_items"
    case offlineMessages = "offline_messages"
    case accountData = "account_data"
    case archive
    case roomArchive = "room_archive"
    case moduleDocuments = "module_documents"
    case moduleSchemas = "module_schemas"
}

/// An account's (or a room's) address as the tables key it.
public struct StorageOwner: Sendable, Hashable {
    public var domain: String
    public var localpart: String

    public init(domain: String, localpart: String) {
        self.domain = domain
        self.localpart = localpart
    }
}

/// One row of a roster table, with the versioning columns the store protocol does not show.
public struct StoredRosterItem: Sendable, Hashable {
    public var owner: StorageOwner
    public var contact: String
    public var name: String?
    public var groups: [String]
    public var subscription: String
    public var ask: Bool
    public var pendingIn: Bool
    public var approved: Bool
    public var inRoster: Bool
    public var pendingRequest: String?
    public var version: Int64
    public var removed: Bool

    public init(
        owner: StorageOwner, contact: String, name: String?, groups: [String], subscription: String, ask: Bool, pendingIn: Bool, approved: Bool,
        inRoster: Bool, pendingRequest: String?, version: Int64, removed: Bool
    ) {
        self.owner = owner
        self.contact = contact
        self.name = name
        self.groups = groups
        self.subscription = subscription
        self.ask = ask
        self.pendingIn = pendingIn
        self.approved = approved
        self.inRoster = inRoster
        self.pendingRequest = pendingRequest
        self.version = version
        self.removed = removed
    }
}

/// One exported row. Offline messages and archived messages come in the order they were
/// stored; the target numbers them anew in that order, which keeps every order the stores
/// promise (offline IDs and archive positions are never shown to clients).
public enum StorageRecord: Sendable, Hashable {
    case account(StorageOwner, skeleton: String, createdAt: Date)
    case credentials(StorageOwner, SCRAMCredentials)
    case rosterVersion(StorageOwner, version: Int64)
    case rosterItem(StoredRosterItem)
    case offlineMessage(StorageOwner, stamp: Date, stanza: String)
    case accountData(StorageOwner, key: String, value: String)
    /// `room`: the room archive's row rather than an account archive's.
    case archived(StorageOwner, room: Bool, id: String, stamp: Date, with: String, body: String?, stanza: String)
    case moduleDocument(module: String, collection: String, key: String, value: String, updatedAt: Date)
    case moduleSchema(module: String, version: Int)
}

public protocol StorageCounting: Sendable {
    /// How many rows each table holds.
    func tableCounts() async throws -> [StorageTable: Int]
}

public protocol StorageExporting: StorageCounting {
    /// Reads one table in the order its rows were stored, handing them to `sink` in batches of
    /// at most `batchSize`, so that an archive of millions of rows is never all in memory.
    func export(_ table: StorageTable, batchSize: Int, into sink: ([StorageRecord]) async throws -> Void) async throws
}

public protocol StorageImporting: StorageCounting {
    /// Writes the records in one transaction, in order (accounts before what hangs off them).
    func importRecords(_ records: [StorageRecord]) async throws
    /// Deletes every row of every table (`migrate-storage --force`).
    func removeEverything() async throws
}
