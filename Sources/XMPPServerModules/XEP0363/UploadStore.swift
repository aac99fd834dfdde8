import Foundation
import XMPPServer
import XMPPStorage

/// What is known about one slot, kept as a module document so it survives restarts.
struct UploadRecord: Codable, Sendable, Equatable {
    /// The bare JID that asked for the slot: its quota, and its files when it is deleted.
    var owner: String
    var filename: String
    var size: Int
    var contentType: String
    var created: Date
    /// Until when the PUT URL is good.
    var putExpires: Date
    /// When the upload completed; nil while the slot waits for its PUT.
    var storedAt: Date?
    /// When the stored file goes (nil: never).
    var expiresAt: Date?

    var isStored: Bool { self.storedAt != nil }
}

enum UploadStoreError: Error, Equatable {
    case quotaExceeded(used: Int)
    case notFound
    /// Stored already, or a PUT is under way: a slot is written once (XEP-0363 §5).
    case alreadyUsed
}

/// The slots' documents and files, kept in step. Documents (collections of the `upload`
/// module):
/// - `slot`: slot id → `UploadRecord`
/// - `owner`: `<bare JID>\0<slot id>` → size, for quotas and account deletion
/// - `expiry`: `<12-digit Unix time>\0<slot id>` → "", in time order for the expiry sweep
///   (pending slots under the end of their PUT URL, stored files under their expiry)
actor UploadStore {
    static let schema = ModuleSchema(module: "upload")
    static let secretCollection = "secret"

    let storage: ModuleStorage
    let files: UploadFiles
    /// Slots with a PUT under way: claimed before the first await of a PUT, so a second PUT
    /// of the same slot is refused instead of racing the first.
    private var uploading: Set<String> = []

    init(storage: ModuleStorage, files: UploadFiles) {
        self.storage = storage
        self.files = files
    }

    /// The HMAC secret: made once from the system's random generator, then read back. Kept in
    /// the module's documents, never logged.
    static func secret(in storage: ModuleStorage) async throws -> [UInt8] {
        let fresh = (0..<32).map { _ in UInt8.random(in: .min ... .max) }
        let stored = try await storage.transaction { documents -> String in
            if let existing = try documents.document(Self.secretCollection, key: "hmac-sha256") { return existing.value }
            let encoded = Data(fresh).base64EncodedString()
            try documents.put(encoded, collection: Self.secretCollection, key: "hmac-sha256")
            return encoded
        }
        guard let bytes = Data(base64Encoded: stored), bytes.count >= 32 else { throw StorageError.backend("the upload secret is damaged") }
        return Array(bytes)
    }

    static func expiryKey(_ date: Date, _ slot: String) -> String {
        let seconds = max(0, Int(date.timeIntervalSince1970.rounded(.up)))
        let digits = String(seconds)
        return String(repeating: "0", count: max(0, 12 - digits.count)) + digits + "\u{0}" + slot
    }

    static func encode(_ record: UploadRecord) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return String(decoding: try encoder.encode(record), as: UTF8.self)
    }

    static func decode(_ value: String) throws -> UploadRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return try decoder.decode(UploadRecord.self, from: Data(value.utf8))
    }

    /// Records a new slot if the owner's files and open slots leave room for it.
    func reserve(_ slot: String, _ record: UploadRecord, quota: Int) async throws {
        try await self.storage.transaction { documents in
            let used = try documents.list("owner", ModuleDocumentRange(prefix: record.owner + "\u{0}")).reduce(0) { $0 + (Int($1.value) ?? 0) }
            guard used + record.size <= quota else { throw UploadStoreError.quotaExceeded(used: used) }
            try documents.put(try Self.encode(record), collection: "slot", key: slot)
            try documents.put(String(record.size), collection: "owner", key: record.owner + "\u{0}" + slot)
            try documents.put("", collection: "expiry", key: Self.expiryKey(record.putExpires, slot))
        }
    }

    func record(_ slot: String) async throws -> UploadRecord? {
        guard let document = try await self.storage.document("slot", key: slot) else { return nil }
        return try Self.decode(document.value)
    }

    /// Claims a pending slot for a PUT; `finish` or `release` ends the claim.
    func claim(_ slot: String) async throws -> UploadRecord {
        guard !self.uploading.contains(slot) else { throw UploadStoreError.alreadyUsed }
        self.uploading.insert(slot)
        do {
            guard let record = try await self.record(slot) else { throw UploadStoreError.notFound }
            guard !record.isStored else { throw UploadStoreError.alreadyUsed }
            return record
        } catch {
            self.uploading.remove(slot)
            throw error
        }
    }

    func release(_ slot: String) {
        self.uploading.remove(slot)
    }

    /// Marks the claimed slot stored; if it was removed meanwhile (its account deleted), its
    /// file goes too.
    func finish(_ slot: String, now: Date, expireAfter: TimeInterval?) async throws {
        defer { self.uploading.remove(slot) }
        let stored = try await self.storage.transaction { documents -> Bool in
            guard let document = try documents.document("slot", key: slot) else { return false }
            var record = try Self.decode(document.value)
            documents.deleteQuietly("expiry", key: Self.expiryKey(record.putExpires, slot))
            record.storedAt = now
            record.expiresAt = expireAfter.map { now.addingTimeInterval($0) }
            try documents.put(try Self.encode(record), collection: "slot", key: slot)
            if let expires = record.expiresAt { try documents.put("", collection: "expiry", key: Self.expiryKey(expires, slot)) }
            return true
        }
        if !stored {
            self.files.remove(slot)
            throw UploadStoreError.notFound
        }
    }

    /// Removes a slot's documents and its files.
    func remove(_ slot: String) async throws {
        try await self.storage.transaction { documents in
            guard let document = try documents.document("slot", key: slot) else { return }
            let record = try Self.decode(document.value)
            try documents.delete("slot", key: slot)
            try documents.delete("owner", key: record.owner + "\u{0}" + slot)
            documents.deleteQuietly("expiry", key: Self.expiryKey(record.putExpires, slot))
            if let expires = record.expiresAt { documents.deleteQuietly("expiry", key: Self.expiryKey(expires, slot)) }
        }
        self.files.remove(slot)
    }

    /// Every slot of an account, for its deletion; returns how many went.
    func removeAll(owner: String) async throws -> Int {
        let slots = try await self.storage.list("owner", ModuleDocumentRange(prefix: owner + "\u{0}")).compactMap {
            $0.key.split(separator: "\u{0}").last.map(String.init)
        }
        for slot in slots { try await self.remove(slot) }
        return slots.count
    }

    /// Bytes an account holds or has reserved.
    func usage(of owner: String) async throws -> Int {
        try await self.storage.list("owner", ModuleDocumentRange(prefix: owner + "\u{0}")).reduce(0) { $0 + (Int($1.value) ?? 0) }
    }

    /// Removes what is due by `now`: pending slots whose PUT URL ran out (unless a PUT is
    /// still streaming) and stored files past their expiry. Returns how many went.
    func sweep(now: Date, batch: Int = 200) async throws -> Int {
        let seconds = String(max(0, Int(now.timeIntervalSince1970)))
        let due = String(repeating: "0", count: max(0, 12 - seconds.count)) + seconds
        var removed = 0
        var after: String?
        while true {
            let page = try await self.storage.list("expiry", ModuleDocumentRange(after: after, limit: batch))
            for document in page {
                // Keys are in time order: the first one not yet due ends the sweep.
                guard document.key.prefix(12) <= due else { return removed }
                after = document.key
                guard let slot = document.key.split(separator: "\u{0}").last.map(String.init), !self.uploading.contains(slot) else { continue }
                try await self.remove(slot)
                // An entry whose slot was already gone is dropped too.
                try await self.storage.delete("expiry", key: document.key)
                removed += 1
            }
            if page.count < batch { return removed }
        }
    }
}

extension ModuleDocuments {
    /// Deletes a document that may already be gone.
    fileprivate func deleteQuietly(_ collection: String, key: String) {
        _ = try? self.delete(collection, key: key)
    }
}
