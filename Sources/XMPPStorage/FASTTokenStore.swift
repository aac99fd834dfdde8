import Foundation
import XMPPCore
import XMPPSASL

/// XEP-0484 tokens, one `FASTTokenRecord` per (account, user-agent id), kept as module documents
/// in an `account:` collection, so every backend deletes them with the account (whoever deletes
/// it). Only digests are stored (`FASTTokenSlot`), never a token.
public struct FASTTokenStore: Sendable {
    static let module = "fast"
    static let collection = ModuleAccountDocuments.collectionPrefix + "fast-tokens"

    private let store: any ModuleDataStore

    public init(_ store: any ModuleDataStore) {
        self.store = store
    }

    public init(backend: any StorageBackend) {
        self.store = backend.moduleData
    }

    private static func key(_ account: JID, userAgentID: String) -> String {
        "\(account.bare)\u{0}\(userAgentID)"
    }

    /// Checks a token login and records what it changes, in one transaction: two logins with
    /// the same token and count cannot both pass the count check.
    public func authenticate(_ attempt: FASTTokenAttempt, account: JID, now: Int64, rotateBefore: Int64) async throws -> FASTTokenVerdict {
        let key = Self.key(account, userAgentID: attempt.userAgentID)
        return try await self.store.transaction(module: Self.module) { documents -> FASTTokenVerdict in
            guard var record = try Self.read(documents, key: key) else { return .rejected }
            let before = record
            let verdict = record.authenticate(attempt, now: now, rotateBefore: rotateBefore)
            if record != before { try Self.write(record, documents, key: key) }
            return verdict
        }
    }

    /// Stores a newly issued token's digest in the client's `new` slot.
    public func issue(_ slot: FASTTokenSlot, account: JID, userAgentID: String) async throws {
        let key = Self.key(account, userAgentID: userAgentID)
        try await self.store.transaction(module: Self.module) { documents -> Void in
            var record = try Self.read(documents, key: key) ?? FASTTokenRecord()
            record.issue(slot)
            try Self.write(record, documents, key: key)
        }
    }

    /// Drops every token of the account (a password change); returns how many clients had some.
    @discardableResult
    public func revokeAll(of account: JID) async throws -> Int {
        let prefix = "\(account.bare)\u{0}"
        return try await self.store.transaction(module: Self.module) { documents -> Int in
            try documents.deleteAll(Self.collection, prefix: prefix)
        }
    }

    /// Every client of the account that holds a token, by user-agent id, in id order; records
    /// the store cannot read are left out (a login with them fails on its own).
    public func clients(of account: JID) async throws -> [(userAgentID: String, record: FASTTokenRecord)] {
        let prefix = "\(account.bare)\u{0}"
        let documents = try await self.store.transaction(module: Self.module) { documents -> [ModuleDocument] in
            try documents.list(Self.collection, ModuleDocumentRange(prefix: prefix))
        }
        return documents.compactMap { document in
            guard let record = try? JSONDecoder().decode(FASTTokenRecord.self, from: Data(document.value.utf8)) else { return nil }
            return (String(document.key.dropFirst(prefix.count)), record)
        }
    }

    /// The stored record of one client, for tests and administration.
    public func record(of account: JID, userAgentID: String) async throws -> FASTTokenRecord? {
        let key = Self.key(account, userAgentID: userAgentID)
        return try await self.store.transaction(module: Self.module) { documents -> FASTTokenRecord? in try Self.read(documents, key: key) }
    }

    private static func read(_ documents: any ModuleDocuments, key: String) throws -> FASTTokenRecord? {
        guard let document = try documents.document(Self.collection, key: key) else { return nil }
        return try JSONDecoder().decode(FASTTokenRecord.self, from: Data(document.value.utf8))
    }

    private static func write(_ record: FASTTokenRecord, _ documents: any ModuleDocuments, key: String) throws {
        guard !record.isEmpty else {
            try documents.delete(Self.collection, key: key)
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try documents.put(String(decoding: try encoder.encode(record), as: UTF8.self), collection: Self.collection, key: key)
    }
}
