import Foundation
import Logging
import PostgresNIO
import XMPPStorage

/// The target of `starling migrate-storage` (`StorageImporting`).
extension PostgresStorage: StorageImporting {
    public func tableCounts() async throws -> [StorageTable: Int] {
        let logger = self.logger
        return try await self.transaction { connection in
            var counts: [StorageTable: Int] = [:]
            for table in StorageTable.allCases {
                // The table name is one of StorageTable's constants, never input.
                for try await count in try await connection.query("SELECT count(*) FROM \(unescaped: table.rawValue)", logger: logger).decode(Int.self) {
                    counts[table] = count
                }
            }
            return counts
        }
    }

    public func removeEverything() async throws {
        let logger = self.logger
        let tables = StorageTable.allCases.map(\.rawValue).joined(separator: ", ")
        _ = try await self.transaction { connection in
            try await connection.query("TRUNCATE \(unescaped: tables) RESTART IDENTITY", logger: logger)
        }
    }

    public func importRecords(_ records: [StorageRecord]) async throws {
        let logger = self.logger
        try await self.transaction { connection in
            for record in records {
                try await connection.query(Self.insert(record), logger: logger)
            }
        }
    }

    static func insert(_ record: StorageRecord) -> PostgresQuery {
        switch record {
        case .account(let owner, let skeleton, let createdAt):
            return "INSERT INTO accounts (domain, localpart, skeleton, created_at) VALUES (\(owner.domain), \(owner.localpart), \(skeleton), \(createdAt))"
        case .credentials(let owner, let credential):
            return """
                INSERT INTO scram_credentials (domain, localpart, hash, salt, iterations, stored_key, server_key)
                VALUES (\(owner.domain), \(owner.localpart), \(credential.hash.rawValue), \(Self.bytes(credential.salt)), \(credential.iterations),
                        \(Self.bytes(credential.storedKey)), \(Self.bytes(credential.serverKey)))
                """
        case .rosterVersion(let owner, let version):
            return "INSERT INTO roster_versions (domain, localpart, version) VALUES (\(owner.domain), \(owner.localpart), \(version))"
        case .rosterItem(let item):
            return """
                INSERT INTO roster_items (domain, localpart, \(unescaped: Self.itemColumns), version, removed)
                VALUES (\(item.owner.domain), \(item.owner.localpart), \(item.contact), \(item.name), \(item.groups), \(item.subscription), \(item.ask),
                        \(item.pendingIn), \(item.approved), \(item.inRoster), \(item.pendingRequest), \(item.version), \(item.removed))
                """
        case .offlineMessage(let owner, let stamp, let stanza):
            return "INSERT INTO offline_messages (domain, localpart, stamp, stanza) VALUES (\(owner.domain), \(owner.localpart), \(stamp), \(stanza))"
        case .accountData(let owner, let key, let value):
            return "INSERT INTO account_data (domain, localpart, key, value) VALUES (\(owner.domain), \(owner.localpart), \(key), \(value))"
        case .archived(let owner, let room, let id, let stamp, let with, let body, let stanza):
            let table = room ? PostgresArchiveStore.Table.rooms : .accounts
            return """
                INSERT INTO \(unescaped: table.rawValue) (domain, localpart, id, stamp, with_jid, body, body_lower, stanza)
                VALUES (\(owner.domain), \(owner.localpart), \(id), \(stamp), \(with), \(body), \(PostgresArchiveStore.lowered(body)), \(stanza))
                """
        case .moduleDocument(let module, let collection, let key, let value, let updatedAt):
            return """
                INSERT INTO module_documents (module, collection, key, value, updated_at)
                VALUES (\(module), \(collection), \(Self.bytes(key)), \(value), \(updatedAt))
                """
        case .moduleSchema(let module, let version):
            return "INSERT INTO module_schemas (module, version) VALUES (\(module), \(version))"
        }
    }
}
