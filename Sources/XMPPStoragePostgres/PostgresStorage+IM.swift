import Foundation
import Logging
import PostgresNIO
import XMPPCore
import XMPPStorage

extension PostgresStorage: RosterStore, OfflineStore, AccountDataStore {
    public var rosters: any RosterStore { self }
    public var offline: any OfflineStore { self }
    public var accountData: any AccountDataStore { self }

    // MARK: - Rosters

    static let itemColumns = "contact, name, groups, subscription, ask, pending_in, approved, in_roster, pending_request"
    typealias ItemRow = (String, String?, [String], String, Bool, Bool, Bool, Bool, String?)

    static func item(from row: ItemRow) -> RosterItem? {
        let (contact, name, groups, subscription, ask, pendingIn, approved, inRoster, pendingRequest) = row
        guard let jid = try? JID(contact) else { return nil }
        let state = SubscriptionState(subscription: subscription, ask: ask, pendingIn: pendingIn, approved: approved)
        return RosterItem(jid: jid, name: name, groups: groups, state: state, inRoster: inRoster, pendingRequest: pendingRequest)
    }

    /// The roster query for one account; `condition` and `order` are this file's constants.
    private func items(of account: JID, where condition: String, contact: String? = nil) async throws -> [RosterItem] {
        let (domain, localpart) = (account.domainpart, account.localpart ?? "")
        let logger = self.logger
        return try await self.run { client in
            var query: PostgresQuery = "SELECT \(unescaped: Self.itemColumns) FROM roster_items WHERE domain = \(domain) AND localpart = \(localpart)"
            if let contact {
                query.binds.append(contact)
                query.sql += " AND contact = $\(query.binds.count)"
            }
            query.sql += " AND " + condition + " ORDER BY contact"
            var items: [RosterItem] = []
            for try await row in try await client.query(query, logger: logger).decode(ItemRow.self) {
                if let item = Self.item(from: row) { items.append(item) }
            }
            return items
        }
    }

    private static func currentVersion(_ account: JID, _ connection: PostgresConnection, _ logger: Logger) async throws -> Int64 {
        let rows = try await connection.query(
            "SELECT version FROM roster_versions WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "")", logger: logger)
        var version: Int64 = 0
        for try await value in rows.decode(Int64.self) { version = value }
        return version
    }

    /// The next version, taken under the row lock of the upsert: concurrent changes to one
    /// roster get distinct versions in the order they commit.
    private static func bumpVersion(_ account: JID, _ connection: PostgresConnection, _ logger: Logger) async throws -> Int64 {
        let rows = try await connection.query(
            """
            INSERT INTO roster_versions (domain, localpart, version) VALUES (\(account.domainpart), \(account.localpart ?? ""), 1)
            ON CONFLICT (domain, localpart) DO UPDATE SET version = roster_versions.version + 1
            RETURNING version
            """, logger: logger)
        var version: Int64 = 0
        for try await value in rows.decode(Int64.self) { version = value }
        return version
    }

    public func roster(of account: JID) async throws -> (version: Int64, items: [RosterItem]) {
        let logger = self.logger
        // One transaction: the version belongs to exactly these items.
        return try await self.transaction { connection in
            let version = try await Self.currentVersion(account, connection, logger)
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.itemColumns) FROM roster_items
                WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND NOT removed AND in_roster ORDER BY contact
                """, logger: logger)
            var items: [RosterItem] = []
            for try await row in rows.decode(ItemRow.self) {
                if let item = Self.item(from: row) { items.append(item) }
            }
            return (version, items)
        }
    }

    public func allRecords(of account: JID) async throws -> [RosterItem] {
        try await self.items(of: account, where: "NOT removed")
    }

    public func item(of account: JID, contact: JID) async throws -> RosterItem? {
        try await self.items(of: account, where: "NOT removed", contact: contact.bare.description).first
    }

    public func setItem(_ item: RosterItem, of account: JID) async throws -> Int64 {
        let logger = self.logger
        return try await self.transaction { connection in
            let version = try await Self.bumpVersion(account, connection, logger)
            let state = item.state
            try await connection.query(
                """
                INSERT INTO roster_items (domain, localpart, \(unescaped: Self.itemColumns), version, removed)
                VALUES (\(account.domainpart), \(account.localpart ?? ""), \(item.jid.bare.description), \(item.name), \(item.groups),
                        \(state.subscription), \(state.pendingOut), \(state.pendingIn), \(state.preApproved), \(item.inRoster), \(item.pendingRequest),
                        \(version), false)
                ON CONFLICT (domain, localpart, contact) DO UPDATE SET
                    name = excluded.name, groups = excluded.groups, subscription = excluded.subscription, ask = excluded.ask,
                    pending_in = excluded.pending_in, approved = excluded.approved, in_roster = excluded.in_roster,
                    pending_request = excluded.pending_request, version = excluded.version, removed = false
                """, logger: logger)
            return version
        }
    }

    public func removeItem(_ contact: JID, of account: JID) async throws -> Int64? {
        let logger = self.logger
        let contact = contact.bare.description
        return try await self.transaction { connection in
            let exists = try await connection.query(
                """
                SELECT 1 FROM roster_items
                WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND contact = \(contact) AND NOT removed
                FOR UPDATE
                """, logger: logger)
            guard try await Self.count(exists) > 0 else { return nil }
            let version = try await Self.bumpVersion(account, connection, logger)
            try await connection.query(
                """
                UPDATE roster_items SET removed = true, version = \(version), pending_request = NULL
                WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND contact = \(contact)
                """, logger: logger)
            return version
        }
    }

    public func changes(of account: JID, since version: Int64) async throws -> (version: Int64, changed: [RosterItem], removed: [JID])? {
        let logger = self.logger
        return try await self.transaction { connection in
            let current = try await Self.currentVersion(account, connection, logger)
            guard version >= 0, version <= current else { return nil }
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.itemColumns), removed FROM roster_items
                WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND version > \(version) ORDER BY version
                """, logger: logger)
            var changed: [RosterItem] = []
            var removed: [JID] = []
            for try await (contact, name, groups, subscription, ask, pendingIn, approved, inRoster, pendingRequest, isRemoved) in rows.decode(
                (String, String?, [String], String, Bool, Bool, Bool, Bool, String?, Bool).self)
            {
                guard let item = Self.item(from: (contact, name, groups, subscription, ask, pendingIn, approved, inRoster, pendingRequest)) else { continue }
                if isRemoved || !item.inRoster { removed.append(item.jid) } else { changed.append(item) }
            }
            return (current, changed, removed)
        }
    }

    // MARK: - Offline messages

    public func store(_ stanza: String, stamp: Date, for account: JID, quota: Int) async throws -> Bool {
        let logger = self.logger
        let (domain, localpart) = (account.domainpart, account.localpart ?? "")
        return try await self.transaction { connection in
            // The account's row, locked, serialises stores for the account: the quota holds, and
            // IDs are taken in the order messages commit, so a delivery that removes "through
            // ID n" never removes a message it did not see.
            try await connection.query(
                "SELECT 1 FROM accounts WHERE domain = \(domain) AND localpart = \(localpart) FOR NO KEY UPDATE", logger: logger)
            var count = 0
            for try await value in try await connection.query(
                "SELECT count(*) FROM offline_messages WHERE domain = \(domain) AND localpart = \(localpart)", logger: logger
            ).decode(Int.self) {
                count = value
            }
            guard count < quota else { return false }
            try await connection.query(
                "INSERT INTO offline_messages (domain, localpart, stamp, stanza) VALUES (\(domain), \(localpart), \(stamp), \(stanza))", logger: logger)
            return true
        }
    }

    public func messages(for account: JID) async throws -> [OfflineMessage] {
        let logger = self.logger
        return try await self.run { client in
            var messages: [OfflineMessage] = []
            let rows = try await client.query(
                """
                SELECT id, stamp, stanza FROM offline_messages
                WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") ORDER BY id
                """, logger: logger)
            for try await (id, stamp, stanza) in rows.decode((Int64, Date, String).self) {
                messages.append(OfflineMessage(id: id, stanza: stanza, stamp: stamp))
            }
            return messages
        }
    }

    public func remove(throughID id: Int64, for account: JID) async throws {
        let logger = self.logger
        _ = try await self.run { client in
            try await Self.count(
                try await client.query(
                    "DELETE FROM offline_messages WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND id <= \(id)",
                    logger: logger))
        }
    }

    public func count(for account: JID) async throws -> Int {
        let logger = self.logger
        return try await self.run { client in
            var count = 0
            for try await value in try await client.query(
                "SELECT count(*) FROM offline_messages WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "")", logger: logger
            ).decode(Int.self) {
                count = value
            }
            return count
        }
    }

    // MARK: - Account data

    public func value(for account: JID, key: String) async throws -> String? {
        let logger = self.logger
        return try await self.run { client in
            var value: String?
            for try await stored in try await client.query(
                "SELECT value FROM account_data WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND key = \(key)",
                logger: logger
            ).decode(String.self) {
                value = stored
            }
            return value
        }
    }

    public func setValue(_ value: String?, for account: JID, key: String) async throws {
        let logger = self.logger
        let (domain, localpart) = (account.domainpart, account.localpart ?? "")
        _ = try await self.run { client in
            if let value {
                return try await Self.count(try await client.query(
                    """
                    INSERT INTO account_data (domain, localpart, key, value) VALUES (\(domain), \(localpart), \(key), \(value))
                    ON CONFLICT (domain, localpart, key) DO UPDATE SET value = excluded.value
                    """, logger: logger))
            } else {
                return try await Self.count(try await client.query(
                    "DELETE FROM account_data WHERE domain = \(domain) AND localpart = \(localpart) AND key = \(key)", logger: logger))
            }
        }
    }
}
