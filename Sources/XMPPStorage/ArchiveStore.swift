import Foundation
import XMPPCore

/// One archived message (XEP-0313).
public struct ArchivedMessage: Sendable, Hashable {
    /// The stable stanza-id (XEP-0359).
    public var id: String
    public var timestamp: Date
    /// The other party, as a bare JID.
    public var with: JID
    /// The message as stored, `jabber:client` XML.
    public var stanza: String

    public init(id: String, timestamp: Date, with: JID, stanza: String) {
        self.id = id
        self.timestamp = timestamp
        self.with = with
        self.stanza = stanza
    }
}

/// A MAM query: filters, and a page in one direction (XEP-0059).
public struct ArchiveQuery: Sendable, Hashable {
    public var with: JID?
    public var start: Date?
    public var end: Date?
    public var fulltext: String?
    /// Page forwards from after this ID (nil with `before == nil`: from the start).
    public var after: String?
    /// Page backwards from before this ID; "" means from the end.
    public var before: String?
    public var limit: Int

    public init(with: JID? = nil, start: Date? = nil, end: Date? = nil, fulltext: String? = nil, after: String? = nil, before: String? = nil, limit: Int = 50) {
        self.with = with
        self.start = start
        self.end = end
        self.fulltext = fulltext
        self.after = after
        self.before = before
        self.limit = limit
    }
}

public struct ArchivePage: Sendable, Hashable {
    /// Oldest first, whatever the direction of the query.
    public var items: [ArchivedMessage]
    /// True when nothing more lies in the direction of the query.
    public var complete: Bool

    public init(items: [ArchivedMessage], complete: Bool) {
        self.items = items
        self.complete = complete
    }
}

public enum ArchiveError: Error, Sendable, Hashable {
    /// `after` or `before` names an ID the archive does not hold.
    case unknownID(String)
}

/// Per-account message archives, indexed for queries by time, peer and position.
public protocol ArchiveStore: Sendable {
    func append(_ message: ArchivedMessage, body: String?, for account: JID) async throws
    func query(_ query: ArchiveQuery, for account: JID) async throws -> ArchivePage
    /// The message archived under this ID, if any.
    func message(id: String, for account: JID) async throws -> ArchivedMessage?
    /// Replaces what is kept of a message, keeping its ID, time and place in the archive (a
    /// moderator's tombstone, XEP-0425); false when the archive holds no such message.
    @discardableResult
    func replace(id: String, stanza: String, body: String?, for account: JID) async throws -> Bool
    /// How many messages the account's archive holds.
    func messageCount(for account: JID) async throws -> Int
    /// Deletes the account's whole archive; returns how many messages it held.
    @discardableResult
    func purge(account: JID) async throws -> Int
    /// Deletes every message older than the date; returns how many.
    @discardableResult
    func expire(before date: Date) async throws -> Int
}
