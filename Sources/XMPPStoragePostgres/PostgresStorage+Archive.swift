import Foundation
import Logging
import PostgresNIO
import XMPPCore
import XMPPStorage

extension PostgresStorage {
    public var archive: any ArchiveStore { PostgresArchiveStore(storage: self, table: .accounts) }
    public var roomArchive: any ArchiveStore { PostgresArchiveStore(storage: self, table: .rooms) }
}

/// One archive table: accounts' (`archive`, deleted with the account) or rooms' (`room_archive`).
struct PostgresArchiveStore: ArchiveStore {
    enum Table: String {
        case accounts = "archive"
        case rooms = "room_archive"
    }

    let storage: PostgresStorage
    let table: Table

    private var logger: Logger { self.storage.logger }

    /// Full-text search compares `body_lower`, the body lower-cased by Swift when it was stored,
    /// with the needle lower-cased the same way: the same matches as SQLite's `starling_lower`
    /// and the in-memory backend, whatever the database's locale (`lower()` follows it).
    static func lowered(_ body: String?) -> String? { body?.lowercased() }

    /// Appends under a per-account advisory lock held to the statement's commit: `seq` is
    /// taken at INSERT but seen at COMMIT, so two appends for one account committing out of
    /// order would let a client paging "after" the later one miss the earlier. One statement,
    /// one round trip: the lock is taken in the SELECT the row comes from.
    func append(_ message: ArchivedMessage, body: String?, for account: JID) async throws {
        let logger = self.logger
        let table = self.table
        let lock = AdvisoryLock.key("archive", self.storage.settings.schema ?? "", table.rawValue, account.bare.description)
        try await self.storage.run { client in
            let query: PostgresQuery = """
                INSERT INTO \(unescaped: table.rawValue) (domain, localpart, id, stamp, with_jid, body, body_lower, stanza)
                SELECT \(account.domainpart), \(account.localpart ?? ""), \(message.id), \(message.timestamp), \(message.with.bare.description),
                       \(body), \(Self.lowered(body)), \(message.stanza)
                FROM (SELECT pg_advisory_xact_lock(\(lock))) AS serialised
                """
            _ = try await PostgresStorage.count(try await client.query(query, logger: logger))
        }
    }

    func query(_ query: ArchiveQuery, for account: JID) async throws -> ArchivePage {
        let logger = self.logger
        let table = self.table.rawValue
        return try await self.storage.run { client in
            var sql = "SELECT id, stamp, with_jid, stanza FROM \(table) WHERE domain = $1 AND localpart = $2"
            var binds = PostgresBindings()
            binds.append(account.domainpart)
            binds.append(account.localpart ?? "")
            /// Adds `column operator $n` with the value as parameter n; column and operator are constants.
            func condition(_ text: String, _ value: some PostgresDynamicTypeEncodable) {
                binds.append(value)
                sql += " AND \(text) $\(binds.count)"
            }
            func sequence(of id: String) async throws -> Int64 {
                let rows = try await client.query(
                    "SELECT seq FROM \(unescaped: table) WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND id = \(id)",
                    logger: logger)
                var found: Int64?
                for try await seq in rows.decode(Int64.self) { found = seq }
                guard let found else { throw ArchiveError.unknownID(id) }
                return found
            }
            if let with = query.with { condition("with_jid =", with.bare.description) }
            if let start = query.start { condition("stamp >=", start) }
            if let end = query.end { condition("stamp <=", end) }
            if let fulltext = query.fulltext {
                binds.append(fulltext.lowercased())
                sql += " AND strpos(body_lower, $\(binds.count)) > 0"
            }
            if let after = query.after { condition("seq >", try await sequence(of: after)) }
            let backwards = query.before != nil
            if let before = query.before, !before.isEmpty { condition("seq <", try await sequence(of: before)) }
            // A negative limit is zero; one more row than asked says whether the page is the last.
            let limit = max(0, query.limit)
            binds.append(limit + 1)
            sql += " ORDER BY seq \(backwards ? "DESC" : "ASC") LIMIT $\(binds.count)"
            var items: [ArchivedMessage] = []
            var rowCount = 0
            for try await (id, stamp, with, stanza) in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
                .decode((String, Date, String, String).self)
            {
                rowCount += 1
                guard items.count < limit, let peer = try? JID(with) else { continue }
                items.append(ArchivedMessage(id: id, timestamp: stamp, with: peer, stanza: stanza))
            }
            if backwards { items.reverse() }
            return ArchivePage(items: items, complete: rowCount <= limit)
        }
    }

    func message(id: String, for account: JID) async throws -> ArchivedMessage? {
        let logger = self.logger
        let table = self.table.rawValue
        return try await self.storage.run { client in
            let rows = try await client.query(
                """
                SELECT id, stamp, with_jid, stanza FROM \(unescaped: table)
                WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND id = \(id)
                """, logger: logger)
            var found: ArchivedMessage?
            for try await (id, stamp, with, stanza) in rows.decode((String, Date, String, String).self) {
                if let peer = try? JID(with) { found = ArchivedMessage(id: id, timestamp: stamp, with: peer, stanza: stanza) }
            }
            return found
        }
    }

    func replace(id: String, stanza: String, body: String?, for account: JID) async throws -> Bool {
        let logger = self.logger
        let table = self.table.rawValue
        return try await self.storage.run { client in
            let rows = try await client.query(
                """
                UPDATE \(unescaped: table) SET stanza = \(stanza), body = \(body), body_lower = \(Self.lowered(body))
                WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") AND id = \(id)
                RETURNING 1
                """, logger: logger)
            return try await PostgresStorage.count(rows) > 0
        }
    }

    func messageCount(for account: JID) async throws -> Int {
        let logger = self.logger
        let table = self.table.rawValue
        return try await self.storage.run { client in
            var count = 0
            for try await value in try await client.query(
                "SELECT count(*) FROM \(unescaped: table) WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "")", logger: logger
            ).decode(Int.self) {
                count = value
            }
            return count
        }
    }

    func purge(account: JID) async throws -> Int {
        let logger = self.logger
        let table = self.table.rawValue
        return try await self.storage.run { client in
            try await PostgresStorage.count(
                try await client.query(
                    "DELETE FROM \(unescaped: table) WHERE domain = \(account.domainpart) AND localpart = \(account.localpart ?? "") RETURNING 1",
                    logger: logger))
        }
    }

    func expire(before date: Date) async throws -> Int {
        let logger = self.logger
        let table = self.table.rawValue
        return try await self.storage.run { client in
            try await PostgresStorage.count(try await client.query("DELETE FROM \(unescaped: table) WHERE stamp < \(date) RETURNING 1", logger: logger))
        }
    }
}
