import Foundation
import XMPPCore

/// One contact in an account's roster (RFC 6121 §2.1.2).
public struct RosterItem: Sendable, Hashable {
    public var jid: JID
    public var name: String?
    public var groups: [String]
    public var state: SubscriptionState
    /// False for a record kept only to remember a pending inbound request (RFC 6121 §3.1.3):
    /// such records are not part of the roster the user sees.
    public var inRoster: Bool
    /// The subscription request as received, kept to deliver again while it is pending.
    public var pendingRequest: String?

    public init(jid: JID, name: String? = nil, groups: [String] = [], state: SubscriptionState = .none, inRoster: Bool = true, pendingRequest: String? = nil) {
        self.jid = jid
        self.name = name
        self.groups = groups
        self.state = state
        self.inRoster = inRoster
        self.pendingRequest = pendingRequest
    }
}

/// Rosters with versions (RFC 6121 §2.6): every change takes the next version number, and
/// removals leave a marker so a client can be sent only what changed since its version.
public protocol RosterStore: Sendable {
    func roster(of account: JID) async throws -> (version: Int64, items: [RosterItem])
    /// Every record for the account, pending-only ones included.
    func allRecords(of account: JID) async throws -> [RosterItem]
    func item(of account: JID, contact: JID) async throws -> RosterItem?
    /// Inserts or replaces the item; returns the new roster version.
    @discardableResult
    func setItem(_ item: RosterItem, of account: JID) async throws -> Int64
    /// Removes the item; returns the new version, or nil when there was no such item.
    @discardableResult
    func removeItem(_ contact: JID, of account: JID) async throws -> Int64?
    /// What changed after `version`, or nil when the version is unknown (then the client gets everything).
    func changes(of account: JID, since version: Int64) async throws -> (version: Int64, changed: [RosterItem], removed: [JID])?
}

/// Messages kept for an account while it has no available resource (XEP-0160).
public protocol OfflineStore: Sendable {
    /// Stores the serialised stanza durably; false when the account's quota is full.
    func store(_ stanza: String, stamp: Date, for account: JID, quota: Int) async throws -> Bool
    /// The stored messages, oldest first.
    func messages(for account: JID) async throws -> [OfflineMessage]
    func remove(throughID id: Int64, for account: JID) async throws
    func count(for account: JID) async throws -> Int
}

public struct OfflineMessage: Sendable, Hashable {
    public var id: Int64
    public var stanza: String
    public var stamp: Date

    public init(id: Int64, stanza: String, stamp: Date) {
        self.id = id
        self.stanza = stanza
        self.stamp = stamp
    }
}

/// Small per-account documents: vCard, private XML, block list, privacy lists, last logout.
public protocol AccountDataStore: Sendable {
    func value(for account: JID, key: String) async throws -> String?
    /// Stores the value, or removes it when nil.
    func setValue(_ value: String?, for account: JID, key: String) async throws
}
