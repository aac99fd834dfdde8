import Foundation
import XMPPCore
import XMPPStorage

extension SQLiteStorage {
    public var archive: any ArchiveStore { SQLiteArchiveStore(storage: self, table: "archive") }
    public var roomArchive: any ArchiveStore { SQLiteArchiveStore(storage: self, table: "room_archive") }
}

/// One archive table: accounts' (`archive`, deleted with the account) or rooms' (`room_archive`).
struct SQLiteArchiveStore: ArchiveStore {
    let storage: SQLiteStorage
    /// A constant of this file, never input.
    let table: String

    private func run<Result: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> Result) async throws -> Result {
        try await self.storage.run(body)
    }

    private static func accountKey(_ account: JID) -> [SQLiteConnection.Value] {
        [.text(account.domainpart), .text(account.localpart ?? "")]
    }

    public func append(_ message: ArchivedMessage, body: String?, for account: JID) async throws {
        let table = self.table
        _ = try await self.run { connection in
            try connection.execute(
                "INSERT INTO \(table) (domain, localpart, id, stamp, with_jid, body, stanza) VALUES (?, ?, ?, ?, ?, ?, ?)",
                Self.accountKey(account) + [
                    .text(message.id), .real(message.timestamp.timeIntervalSince1970), .text(message.with.bare.description),
                    body.map { .text($0) } ?? .null, .text(message.stanza),
                ])
        }
    }

    public func query(_ query: ArchiveQuery, for account: JID) async throws -> ArchivePage {
        let table = self.table
        return try await self.run { connection in
            var conditions = ["domain = ?", "localpart = ?"]
            var parameters = Self.accountKey(account)
            func sequence(of id: String) throws -> Int64 {
                guard let seq = try connection.execute("SELECT seq FROM \(table) WHERE domain = ? AND localpart = ? AND id = ?", Self.accountKey(account) + [.text(id)]).first?.first?.integer else {
                    throw ArchiveError.unknownID(id)
                }
                return seq
            }
            if let with = query.with {
                conditions.append("with_jid = ?")
                parameters.append(.text(with.bare.description))
            }
            if let start = query.start {
                conditions.append("stamp >= ?")
                parameters.append(.real(start.timeIntervalSince1970))
            }
            if let end = query.end {
                conditions.append("stamp <= ?")
                parameters.append(.real(end.timeIntervalSince1970))
            }
            if let fulltext = query.fulltext {
                // Both sides lower-cased the same way as InMemoryStorage does (see starling_lower).
                conditions.append("starling_lower(body) LIKE ? ESCAPE '\\'")
                let escaped = fulltext.lowercased().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                parameters.append(.text("%\(escaped)%"))
            }
            if let after = query.after {
                conditions.append("seq > ?")
                parameters.append(.integer(try sequence(of: after)))
            }
            let backwards = query.before != nil
            if let before = query.before, !before.isEmpty {
                conditions.append("seq < ?")
                parameters.append(.integer(try sequence(of: before)))
            }
            let sql = "SELECT id, stamp, with_jid, stanza FROM \(table) WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq \(backwards ? "DESC" : "ASC") LIMIT ?"
            // A negative limit is zero; left alone, LIMIT 0 (-1 + 1) would call an empty page complete.
            let limit = max(0, query.limit)
            let rows = try connection.execute(sql, parameters + [.integer(Int64(limit) + 1)])
            var items: [ArchivedMessage] = rows.prefix(limit).compactMap { row in
                guard let id = row[0].text, let stamp = row[1].real, let with = row[2].text.flatMap({ try? JID($0) }), let stanza = row[3].text else { return nil }
                return ArchivedMessage(id: id, timestamp: Date(timeIntervalSince1970: stamp), with: with, stanza: stanza)
            }
            if backwards { items.reverse() }
            return ArchivePage(items: items, complete: rows.count <= limit)
        }
    }

    public func message(id: String, for account: JID) async throws -> ArchivedMessage? {
        let table = self.table
        return try await self.run { connection in
            let rows = try connection.execute("SELECT id, stamp, with_jid, stanza FROM \(table) WHERE domain = ? AND localpart = ? AND id = ?", Self.accountKey(account) + [.text(id)])
            guard let row = rows.first, let id = row[0].text, let stamp = row[1].real, let with = row[2].text.flatMap({ try? JID($0) }), let stanza = row[3].text else { return nil }
            return ArchivedMessage(id: id, timestamp: Date(timeIntervalSince1970: stamp), with: with, stanza: stanza)
        }
    }

    public func replace(id: String, stanza: String, body: String?, for account: JID) async throws -> Bool {
        let table = self.table
        return try await self.run { connection in
            try connection.execute(
                "UPDATE \(table) SET stanza = ?, body = ? WHERE domain = ? AND localpart = ? AND id = ?",
                [.text(stanza), body.map { .text($0) } ?? .null] + Self.accountKey(account) + [.text(id)])
            return connection.changes > 0
        }
    }

    public func messageCount(for account: JID) async throws -> Int {
        let table = self.table
        return try await self.run { connection in
            Int(try connection.execute("SELECT COUNT(*) FROM \(table) WHERE domain = ? AND localpart = ?", Self.accountKey(account)).first?.first?.integer ?? 0)
        }
    }

    public func purge(account: JID) async throws -> Int {
        let table = self.table
        return try await self.run { connection in
            try connection.execute("DELETE FROM \(table) WHERE domain = ? AND localpart = ?", Self.accountKey(account))
            return connection.changes
        }
    }

    public func expire(before date: Date) async throws -> Int {
        let table = self.table
        return try await self.run { connection in
            try connection.execute("DELETE FROM \(table) WHERE stamp < ?", [.real(date.timeIntervalSince1970)])
            return connection.changes
        }
    }
}

extension SQLiteStorage {
    /// Appends many messages in one transaction (imports, benchmarks).
    public func appendBatch(_ messages: [(message: ArchivedMessage, body: String?)], for account: JID) async throws {
        try await self.run { connection in
            try connection.transaction {
                for (message, body) in messages {
                    try connection.execute(
                        "INSERT INTO archive (domain, localpart, id, stamp, with_jid, body, stanza) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            .text(account.domainpart), .text(account.localpart ?? ""), .text(message.id), .real(message.timestamp.timeIntervalSince1970),
                            .text(message.with.bare.description), body.map { .text($0) } ?? .null, .text(message.stanza),
                        ])
                }
            }
        }
    }
}
