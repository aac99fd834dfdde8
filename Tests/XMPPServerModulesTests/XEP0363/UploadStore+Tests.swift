import Foundation
import Testing
import XMPPServer
import XMPPStorage
@testable import XMPPServerModules

@Suite("Upload records: quota, claims, expiry and removal in module storage")
struct UploadStoreTests {
    let origin = Date(timeIntervalSince1970: 1_700_000_000)

    func store() async throws -> (UploadStore, String) {
        let root = NSTemporaryDirectory() + "starling-upload-store-" + UUID().uuidString
        let storage = try await ModuleStorage.open(UploadStore.schema, in: InMemoryStorage())
        let files = UploadFiles(root: root)
        try files.prepareRoot()
        return (UploadStore(storage: storage, files: files), root)
    }

    func record(_ owner: String, size: Int, at offset: TimeInterval = 0, lifetime: TimeInterval = 300) -> UploadRecord {
        UploadRecord(
            owner: owner, filename: "f.bin", size: size, contentType: "application/octet-stream", created: self.origin.addingTimeInterval(offset),
            putExpires: self.origin.addingTimeInterval(offset + lifetime))
    }

    @Test("reservations count against the owner's quota, open slots included; other owners are separate")
    func quota() async throws {
        let (store, root) = try await self.store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await store.reserve(UploadSlotID.make(), self.record("a@x", size: 600), quota: 1_000)
        await #expect(throws: UploadStoreError.quotaExceeded(used: 600)) {
            try await store.reserve(UploadSlotID.make(), self.record("a@x", size: 401), quota: 1_000)
        }
        try await store.reserve(UploadSlotID.make(), self.record("a@x", size: 400), quota: 1_000)
        try await store.reserve(UploadSlotID.make(), self.record("b@x", size: 1_000), quota: 1_000)
        #expect(try await store.usage(of: "a@x") == 1_000)
        #expect(try await store.usage(of: "b@x") == 1_000)
    }

    @Test("a slot is claimed once; a stored one is never claimed again; a released claim can be retried")
    func claims() async throws {
        let (store, root) = try await self.store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let slot = UploadSlotID.make()
        try await store.reserve(slot, self.record("a@x", size: 3), quota: 100)
        _ = try await store.claim(slot)
        await #expect(throws: UploadStoreError.alreadyUsed) { try await store.claim(slot) }
        await store.release(slot)
        _ = try await store.claim(slot)
        try await store.files.write(slot, size: 3, body: ModuleHTTPRequestBody(chunks: [[1], [2, 3]]))
        try await store.finish(slot, now: self.origin, expireAfter: 60)
        await #expect(throws: UploadStoreError.alreadyUsed) { try await store.claim(slot) }
        #expect(try await store.record(slot)?.storedAt == self.origin)
        await #expect(throws: UploadStoreError.notFound) { try await store.claim(UploadSlotID.make()) }
    }

    @Test("the file is written whole or not at all: too long, too short")
    func writes() async throws {
        let (store, root) = try await self.store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let slot = UploadSlotID.make()
        await #expect(throws: UploadFileError.tooLarge) {
            try await store.files.write(slot, size: 3, body: ModuleHTTPRequestBody(chunks: [[1, 2], [3, 4]]))
        }
        await #expect(throws: UploadFileError.incomplete) {
            try await store.files.write(slot, size: 3, body: ModuleHTTPRequestBody(chunks: [[1, 2]]))
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(slot)")) ?? []).isEmpty)
        try await store.files.write(slot, size: 3, body: ModuleHTTPRequestBody(chunks: [[7, 8, 9]]))
        #expect(FileManager.default.contents(atPath: "\(root)/\(slot)/content") == Data([7, 8, 9]))
    }

    @Test("the sweep removes unused slots after their PUT URL and stored files after their expiry, nothing earlier")
    func sweep() async throws {
        let (store, root) = try await self.store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let unused = UploadSlotID.make()
        let stored = UploadSlotID.make()
        let kept = UploadSlotID.make()
        try await store.reserve(unused, self.record("a@x", size: 1, lifetime: 10), quota: 100)
        try await store.reserve(stored, self.record("a@x", size: 1, lifetime: 10), quota: 100)
        try await store.reserve(kept, self.record("a@x", size: 1, lifetime: 10), quota: 100)
        for slot in [stored, kept] {
            _ = try await store.claim(slot)
            try await store.files.write(slot, size: 1, body: ModuleHTTPRequestBody(chunks: [[1]]))
        }
        try await store.finish(stored, now: self.origin, expireAfter: 100)
        try await store.finish(kept, now: self.origin, expireAfter: nil)

        #expect(try await store.sweep(now: self.origin.addingTimeInterval(5)) == 0)
        #expect(try await store.sweep(now: self.origin.addingTimeInterval(11)) == 1)
        #expect(try await store.record(unused) == nil)
        #expect(try await store.record(stored) != nil)
        #expect(try await store.sweep(now: self.origin.addingTimeInterval(101)) == 1)
        #expect(try await store.record(stored) == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/\(stored)"))
        // Kept without expiry: still there, and still counted.
        #expect(try await store.sweep(now: self.origin.addingTimeInterval(1_000_000)) == 0)
        #expect(try await store.usage(of: "a@x") == 1)
        #expect(try await store.removeAll(owner: "a@x") == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/\(kept)"))
        #expect(try await store.usage(of: "a@x") == 0)
    }
}
