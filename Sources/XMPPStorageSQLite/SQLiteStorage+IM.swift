import Foundation
import XMPPCore
import XMPPStorage

extension SQLiteStorage: RosterStore, OfflineStore, AccountDataStore {
    public var rosters: any RosterStore { self }
    public var offline: any OfflineStore { self }
    public var accountData: any AccountDataStore { self }

    private static func key(_ account: JID) -> [SQLiteConnection.Value] {
        [.text(account.domainpart), .text(account.localpart ?? "")]
    }

    // MARK: - Rosters

    private static let itemColumns = "contact, name, groups, subscription, ask, pending_in, approved, in_roster, pending_request"

    private static func item(from row: SQLiteConnection.Row) -> RosterItem? {
        guard row.count >= 9, let contact = row[0].text, let jid = try? JID(contact) else { return nil }
        let groups = Self.decodeGroups(row[2].text ?? "")
        let state = SubscriptionState(
            subscription: row[3].text ?? "none", ask: row[4].integer == 1, pendingIn: row[5].integer == 1, approved: row[6].integer == 1)
        return RosterItem(jid: jid, name: row[1].text, groups: groups, state: state, inRoster: row[7].integer == 1, pendingRequest: row[8].text)
    }

    /// A roster item's groups in one column. Rows written first joined the names with "\n",
    /// which split a name holding a newline (legal in XML text) in two. Now each name follows a
    /// U+001F, which XML cannot carry, so no name holds it; text without a leading U+001F is
    /// the first format, still read as before.
    static func encodeGroups(_ groups: [String]) -> String {
        groups.map { "\u{1F}" + $0 }.joined()
    }

    static func decodeGroups(_ text: String) -> [String] {
        guard text.first == "\u{1F}" else { return text.split(separator: "\n").map(String.init) }
        return text.dropFirst().split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
    }

    private static func currentVersion(_ account: JID, _ connection: SQLiteConnection) throws -> Int64 {
        try connection.execute("SELECT version FROM roster_versions WHERE domain = ? AND localpart = ?", self.key(account)).first?.first?.integer ?? 0
    }

    private static func bumpVersion(_ account: JID, _ connection: SQLiteConnection) throws -> Int64 {
        let next = try self.currentVersion(account, connection) + 1
        try connection.execute(
            "INSERT INTO roster_versions (domain, localpart, version) VALUES (?, ?, ?) ON CONFLICT (domain, localpart) DO UPDATE SET version = excluded.version",
            self.key(account) + [.integer(next)])
        return next
    }

    public func roster(of account: JID) async throws -> (version: Int64, items: [RosterItem]) {
        try await self.run { connection in
            let version = try Self.currentVersion(account, connection)
            let rows = try connection.execute(
                "SELECT \(Self.itemColumns) FROM roster_items WHERE domain = ? AND localpart = ? AND removed = 0 AND in_roster = 1 ORDER BY contact",
                Self.key(account))
            return (version, rows.compactMap(Self.item))
        }
    }

    public func allRecords(of account: JID) async throws -> [RosterItem] {
        try await self.run { connection in
            try connection.execute(
                "SELECT \(Self.itemColumns) FROM roster_items WHERE domain = ? AND localpart = ? AND removed = 0 ORDER BY contact", Self.key(account)
            ).compactMap(Self.item)
        }
    }

    public func item(of account: JID, contact: JID) async throws -> RosterItem? {
        try await self.run { connection in
            try connection.execute(
                "SELECT \(Self.itemColumns) FROM roster_items WHERE domain = ? AND localpart = ? AND contact = ? AND removed = 0",
                Self.key(account) + [.text(contact.bare.description)]
            ).first.flatMap(Self.item)
        }
    }

    public func setItem(_ item: RosterItem, of account: JID) async throws -> Int64 {
        try await self.run { connection in
            try connection.transaction {
                let version = try Self.bumpVersion(account, connection)
                let state = item.state
                try connection.execute(
                    """
                    INSERT OR REPLACE INTO roster_items (domain, localpart, \(Self.itemColumns), version, removed)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
                    """,
                    Self.key(account) + [
                        .text(item.jid.bare.description), item.name.map { .text($0) } ?? .null, .text(Self.encodeGroups(item.groups)),
                        .text(state.subscription), .integer(state.pendingOut ? 1 : 0), .integer(state.pendingIn ? 1 : 0),
                        .integer(state.preApproved ? 1 : 0), .integer(item.inRoster ? 1 : 0), item.pendingRequest.map { .text($0) } ?? .null,
                        .integer(version),
                    ])
                return version
            }
        }
    }

    public func removeItem(_ contact: JID, of account: JID) async throws -> Int64? {
        try await self.run { connection in
            try connection.transaction {
                let exists = try !connection.execute(
                    "SELECT 1 FROM roster_items WHERE domain = ? AND localpart = ? AND contact = ? AND removed = 0",
                    Self.key(account) + [.text(contact.bare.description)]
                ).isEmpty
                guard exists else { return nil }
                let version = try Self.bumpVersion(account, connection)
                try connection.execute(
                    "UPDATE roster_items SET removed = 1, version = ?, pending_request = NULL WHERE domain = ? AND localpart = ? AND contact = ?",
                    [.integer(version)] + Self.key(account) + [.text(contact.bare.description)])
                return version
            }
        }
    }

    public func changes(of account: JID, since version: Int64) async throws -> (version: Int64, changed: [RosterItem], removed: [JID])? {
        try await self.run { connection in
            let current = try Self.currentVersion(account, connection)
            guard version >= 0, version <= current else { return nil }
            let rows = try connection.execute(
                "SELECT \(Self.itemColumns), removed FROM roster_items WHERE domain = ? AND localpart = ? AND version > ? ORDER BY version",
                Self.key(account) + [.integer(version)])
            var changed: [RosterItem] = []
            var removed: [JID] = []
            for row in rows {
                guard let item = Self.item(from: row) else { continue }
                if row.last?.integer == 1 || !item.inRoster { removed.append(item.jid) } else { changed.append(item) }
            }
            return (current, changed, removed)
        }
    }

    // MARK: - Offline messages

    public func store(_ stanza: String, stamp: Date, for account: JID, quota: Int) async throws -> Bool {
        try await self.run { connection in
            try connection.transaction {
                let count = try connection.execute(
                    "SELECT COUNT(*) FROM offline_messages WHERE domain = ? AND localpart = ?", Self.key(account)
                ).first?.first?.integer ?? 0
                guard count < Int64(quota) else { return false }
                try connection.execute(
                    "INSERT INTO offline_messages (domain, localpart, stamp, stanza) VALUES (?, ?, ?, ?)",
                    Self.key(account) + [.real(stamp.timeIntervalSince1970), .text(stanza)])
                return true
            }
        }
    }

    public func messages(for account: JID) async throws -> [OfflineMessage] {
        try await self.run { connection in
            try connection.execute("SELECT id, stamp, stanza FROM offline_messages WHERE domain = ? AND localpart = ? ORDER BY id", Self.key(account))
                .compactMap { row in
                    guard let id = row[0].integer, let stamp = row[1].real, let stanza = row[2].text else { return nil }
                    return OfflineMessage(id: id, stanza: stanza, stamp: Date(timeIntervalSince1970: stamp))
                }
        }
    }

    public func remove(throughID id: Int64, for account: JID) async throws {
        _ = try await self.run { connection in
            try connection.execute("DELETE FROM offline_messages WHERE domain = ? AND localpart = ? AND id <= ?", Self.key(account) + [.integer(id)])
        }
    }

    public func count(for account: JID) async throws -> Int {
        try await self.run { connection in
            Int(try connection.execute("SELECT COUNT(*) FROM offline_messages WHERE domain = ? AND localpart = ?", Self.key(account)).first?.first?.integer ?? 0)
        }
    }

    // MARK: - Account data

    public func value(for account: JID, key: String) async throws -> String? {
        try await self.run { connection in
            try connection.execute("SELECT value FROM account_data WHERE domain = ? AND localpart = ? AND key = ?", Self.key(account) + [.text(key)])
                .first?.first?.text
        }
    }

    public func setValue(_ value: String?, for account: JID, key: String) async throws {
        _ = try await self.run { connection in
            if let value {
                try connection.execute(
                    "INSERT OR REPLACE INTO account_data (domain, localpart, key, value) VALUES (?, ?, ?, ?)",
                    Self.key(account) + [.text(key), .text(value)])
            } else {
                try connection.execute("DELETE FROM account_data WHERE domain = ? AND localpart = ? AND key = ?", Self.key(account) + [.text(key)])
            }
        }
    }
}
