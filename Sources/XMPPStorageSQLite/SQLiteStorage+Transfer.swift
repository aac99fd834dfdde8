import Foundation
import XMPPSASL
import XMPPStorage

/// The file's rows for `starling migrate-storage` (`StorageExporting`).
extension SQLiteStorage: StorageExporting {
    public func tableCounts() async throws -> [StorageTable: Int] {
        try await self.run { connection in
            var counts: [StorageTable: Int] = [:]
            for table in StorageTable.allCases {
                // The table name is one of StorageTable's constants, never input.
                counts[table] = Int(try connection.execute("SELECT COUNT(*) FROM \(table.rawValue)").first?.first?.integer ?? 0)
            }
            return counts
        }
    }

    public func export(_ table: StorageTable, batchSize: Int, into sink: ([StorageRecord]) async throws -> Void) async throws {
        let batchSize = max(1, batchSize)
        switch table {
        case .offlineMessages, .archive, .roomArchive:
            // Large tables: in pages by their integer key, the order they were stored in.
            var last: Int64 = 0
            while true {
                let after = last
                let page = try await self.run { connection in try Self.page(table, after: after, limit: batchSize, connection) }
                if page.records.isEmpty { return }
                try await sink(page.records)
                last = page.last
            }
        default:
            let records = try await self.run { connection in try Self.all(table, connection) }
            var start = 0
            while start < records.count {
                try await sink(Array(records[start..<min(records.count, start + batchSize)]))
                start += batchSize
            }
        }
    }

    private static func owner(_ row: SQLiteConnection.Row, at index: Int) -> StorageOwner {
        StorageOwner(domain: row[index].text ?? "", localpart: row[index + 1].text ?? "")
    }

    private static func page(_ table: StorageTable, after: Int64, limit: Int, _ connection: SQLiteConnection) throws -> (records: [StorageRecord], last: Int64) {
        var last = after
        var records: [StorageRecord] = []
        switch table {
        case .offlineMessages:
            for row in try connection.execute(
                "SELECT id, domain, localpart, stamp, stanza FROM offline_messages WHERE id > ? ORDER BY id LIMIT ?", [.integer(after), .integer(Int64(limit))])
            {
                last = row[0].integer ?? last
                records.append(.offlineMessage(Self.owner(row, at: 1), stamp: Date(timeIntervalSince1970: row[3].real ?? 0), stanza: row[4].text ?? ""))
            }
        default:
            let room = table == .roomArchive
            for row in try connection.execute(
                "SELECT seq, domain, localpart, id, stamp, with_jid, body, stanza FROM \(table.rawValue) WHERE seq > ? ORDER BY seq LIMIT ?",
                [.integer(after), .integer(Int64(limit))])
            {
                last = row[0].integer ?? last
                records.append(
                    .archived(
                        Self.owner(row, at: 1), room: room, id: row[3].text ?? "", stamp: Date(timeIntervalSince1970: row[4].real ?? 0),
                        with: row[5].text ?? "", body: row[6].text, stanza: row[7].text ?? ""))
            }
        }
        return (records, last)
    }

    private static func all(_ table: StorageTable, _ connection: SQLiteConnection) throws -> [StorageRecord] {
        switch table {
        case .accounts:
            return try connection.execute("SELECT domain, localpart, skeleton, created_at FROM accounts ORDER BY domain, localpart").map { row in
                .account(Self.owner(row, at: 0), skeleton: row[2].text ?? "", createdAt: Date(timeIntervalSince1970: Double(row[3].integer ?? 0)))
            }
        case .scramCredentials:
            return try connection.execute(
                "SELECT domain, localpart, hash, salt, iterations, stored_key, server_key FROM scram_credentials ORDER BY domain, localpart, hash"
            ).compactMap { row in
                guard let hash = row[2].text.flatMap(SCRAMHash.init(rawValue:)) else { return nil }
                return .credentials(
                    Self.owner(row, at: 0),
                    SCRAMCredentials(
                        hash: hash, salt: row[3].blob ?? [], iterations: Int(row[4].integer ?? 0), storedKey: row[5].blob ?? [], serverKey: row[6].blob ?? []))
            }
        case .rosterVersions:
            return try connection.execute("SELECT domain, localpart, version FROM roster_versions ORDER BY domain, localpart").map { row in
                .rosterVersion(Self.owner(row, at: 0), version: row[2].integer ?? 0)
            }
        case .rosterItems:
            return try connection.execute(
                """
                SELECT domain, localpart, contact, name, groups, subscription, ask, pending_in, approved, in_roster, pending_request, version, removed
                FROM roster_items ORDER BY domain, localpart, contact
                """
            ).map { row in
                .rosterItem(
                    StoredRosterItem(
                        owner: Self.owner(row, at: 0), contact: row[2].text ?? "", name: row[3].text, groups: Self.decodeGroups(row[4].text ?? ""),
                        subscription: row[5].text ?? "none", ask: row[6].integer == 1, pendingIn: row[7].integer == 1, approved: row[8].integer == 1,
                        inRoster: row[9].integer == 1, pendingRequest: row[10].text, version: row[11].integer ?? 0, removed: row[12].integer == 1))
            }
        case .accountData:
            return try connection.execute("SELECT domain, localpart, key, value FROM account_data ORDER BY domain, localpart, key").map { row in
                .accountData(Self.owner(row, at: 0), key: row[2].text ?? "", value: row[3].text ?? "")
            }
        case .moduleDocuments:
            return try connection.execute("SELECT module, collection, key, value, updated_at FROM module_documents ORDER BY module, collection, key").map { row in
                .moduleDocument(
                    module: row[0].text ?? "", collection: row[1].text ?? "", key: row[2].text ?? "", value: row[3].text ?? "",
                    updatedAt: Date(timeIntervalSince1970: row[4].real ?? 0))
            }
        case .moduleSchemas:
            return try connection.execute("SELECT module, version FROM module_schemas ORDER BY module").map { row in
                .moduleSchema(module: row[0].text ?? "", version: Int(row[1].integer ?? 0))
            }
        case .offlineMessages, .archive, .roomArchive:
            return try self.page(table, after: 0, limit: Int(Int32.max), connection).records
        }
    }
}
