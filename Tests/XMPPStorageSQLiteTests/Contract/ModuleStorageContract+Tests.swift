import Foundation
import Testing
import XMPPStorage

/// A migration that counts how often it ran, in a document of its own.
let countingMigration = ModuleMigration("count runs") { documents in
    let runs = Int(try documents.document("meta", key: "runs")?.value ?? "0") ?? 0
    try documents.put(String(runs + 1), collection: "meta", key: "runs")
}

private struct Failure: Error {}

@Suite("ModuleStorage contract")
struct ModuleStorageContractTests {
    @Test("documents in account: collections keyed by an account go with the account, and nothing else does", arguments: Backend.allCases)
    func accountDocuments(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let pep = try await ModuleStorage.open(ModuleSchema(module: "pubsub"), in: storage)
            let alice = try await Fixture.account("alice@example.com", in: storage)
            try await Fixture.account("alice2@example.com", in: storage)
            try await pep.put("a", collection: "account:nodes", key: "alice@example.com\u{0}urn:xmpp:avatar:data")
            try await pep.put("b", collection: "account:items", key: "alice@example.com\u{0}node\u{0}1")
            // A longer JID with the same beginning, another account's documents and a shared
            // collection keyed the same way all stay.
            try await pep.put("c", collection: "account:nodes", key: "alice2@example.com\u{0}node")
            try await pep.put("d", collection: "nodes", key: "alice@example.com\u{0}node")
            #expect(try await storage.accounts.deleteAccount(alice))
            #expect(try await pep.list("account:nodes").map(\.value) == ["c"])
            #expect(try await pep.list("account:items").isEmpty)
            #expect(try await pep.list("nodes").map(\.value) == ["d"])
        }
    }

    @Test("documents are put, replaced and deleted per module, collection and key", arguments: Backend.allCases)
    func documents(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let muc = try await ModuleStorage.open(ModuleSchema(module: "muc"), in: storage)
            let pubsub = try await ModuleStorage.open(ModuleSchema(module: "pubsub"), in: storage)
            #expect(try await muc.document("rooms", key: "lobby") == nil)
            let before = Date()
            try await muc.put("<x/>", collection: "rooms", key: "lobby")
            let after = Date()
            let stored = try #require(try await muc.document("rooms", key: "lobby"))
            #expect(stored.value == "<x/>" && stored.key == "lobby" && stored.collection == "rooms")
            #expect(stored.updatedAt.timeIntervalSince(before) > -0.001 && after.timeIntervalSince(stored.updatedAt) > -0.001)

            // The same collection and key in another module, or another collection, is another document.
            try await pubsub.put("node", collection: "rooms", key: "lobby")
            try await muc.put("affiliation", collection: "affiliations", key: "lobby")
            #expect(try await muc.document("rooms", key: "lobby")?.value == "<x/>")
            try await muc.put("<y/>", collection: "rooms", key: "lobby")
            #expect(try await muc.document("rooms", key: "lobby")?.value == "<y/>")
            #expect(try await pubsub.document("rooms", key: "lobby")?.value == "node")
            #expect(try await muc.delete("rooms", key: "lobby"))
            #expect(try await muc.delete("rooms", key: "lobby") == false)
            #expect(try await muc.document("rooms", key: "lobby") == nil)
            #expect(try await muc.document("affiliations", key: "lobby")?.value == "affiliation")
            #expect(try await pubsub.list("rooms").map(\.value) == ["node"])
            // Values come back byte for byte, however long.
            let large = String(repeating: "<item>ünïcødé ✓</item>", count: 10_000)
            try await pubsub.put(large, collection: "items", key: "big")
            #expect(try await pubsub.document("items", key: "big")?.value == large)
        }
    }

    @Test("keys list by prefix in byte order, both directions, with paging", arguments: Backend.allCases)
    func listing(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let muc = try await ModuleStorage.open(ModuleSchema(module: "muc"), in: storage)
            // NUL separates a room from a member: no room name contains it, so "room1\0" never
            // matches the members of "room10".
            let keys = ["room1\u{0}bob", "room10\u{0}carol", "room1\u{0}alice", "room2\u{0}dave", "Room1\u{0}eve", "room1\u{0}\u{E9}ve", "room1\u{0}e\u{301}ve"]
            for key in keys { try await muc.put("v", collection: "affiliations", key: key) }
            func list(_ range: ModuleDocumentRange) async throws -> [String] {
                try await muc.list("affiliations", range).map(\.key)
            }
            // Byte order: upper case before lower case, "e" + combining accent before "é";
            // the two spellings of "ève" are two keys (no normalisation).
            let room1 = ["room1\u{0}alice", "room1\u{0}bob", "room1\u{0}e\u{301}ve", "room1\u{0}\u{E9}ve"]
            #expect(try await list(ModuleDocumentRange(prefix: "room1\u{0}")) == room1)
            #expect(try await list(ModuleDocumentRange()).first == "Room1\u{0}eve")
            #expect(try await list(ModuleDocumentRange()).count == keys.count)
            #expect(try await list(ModuleDocumentRange(prefix: "room1")).count == 5)
            #expect(try await list(ModuleDocumentRange(prefix: "room1\u{0}", descending: true)) == room1.reversed())
            // Paging: after a key, in the direction of the listing.
            #expect(try await list(ModuleDocumentRange(prefix: "room1\u{0}", limit: 2)) == Array(room1.prefix(2)))
            #expect(try await list(ModuleDocumentRange(prefix: "room1\u{0}", after: room1[1], limit: 2)) == Array(room1.suffix(2)))
            #expect(try await list(ModuleDocumentRange(prefix: "room1\u{0}", after: room1[2], descending: true)) == [room1[1], room1[0]])
            #expect(try await list(ModuleDocumentRange(prefix: "room1\u{0}", limit: 0)).isEmpty)
            #expect(try await list(ModuleDocumentRange(prefix: "room3")).isEmpty)

            #expect(try await muc.deleteAll("affiliations", prefix: "room1\u{0}") == 4)
            #expect(try await list(ModuleDocumentRange()) == ["Room1\u{0}eve", "room10\u{0}carol", "room2\u{0}dave"])
            #expect(try await muc.deleteAll("affiliations") == 3)
            #expect(try await list(ModuleDocumentRange()).isEmpty)
        }
    }

    @Test("a transaction is all or nothing", arguments: Backend.allCases)
    func transactions(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let muc = try await ModuleStorage.open(ModuleSchema(module: "muc"), in: storage)
            try await muc.put("owner", collection: "affiliations", key: "lobby\u{0}alice")
            await #expect(throws: Failure.self) {
                try await muc.transaction { documents in
                    try documents.put("owner", collection: "affiliations", key: "lobby\u{0}bob")
                    try documents.delete("affiliations", key: "lobby\u{0}alice")
                    throw Failure()
                }
            }
            #expect(try await muc.list("affiliations").map(\.key) == ["lobby\u{0}alice"])
            // Read, decide, write, as one step: the last owner cannot be removed.
            let removed = try await muc.transaction { documents -> Bool in
                let owners = try documents.list("affiliations", ModuleDocumentRange(prefix: "lobby\u{0}")).filter { $0.value == "owner" }
                guard owners.count > 1 else { return false }
                return try documents.delete("affiliations", key: "lobby\u{0}alice")
            }
            #expect(!removed)
            #expect(try await muc.document("affiliations", key: "lobby\u{0}alice") != nil)
        }
    }

    @Test("transactions of one module never interleave: concurrent read-then-write loses no update", arguments: Backend.allCases)
    func concurrentTransactions(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let pubsub = try await ModuleStorage.open(ModuleSchema(module: "pubsub"), in: storage)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await pubsub.transaction { documents in
                            let count = Int(try documents.document("meta", key: "sequence")?.value ?? "0") ?? 0
                            try documents.put(String(count + 1), collection: "meta", key: "sequence")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await pubsub.document("meta", key: "sequence")?.value == "40")
        }
    }

    @Test("migrations run once each, in order, and a newer version is refused", arguments: Backend.allCases)
    func migrations(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let first = ModuleSchema(module: "pubsub", migrations: [countingMigration])
            #expect(try await storage.moduleData.schemaVersion(of: "pubsub") == 0)
            var pubsub = try await ModuleStorage.open(first, in: storage)
            pubsub = try await ModuleStorage.open(first, in: storage)
            #expect(try await storage.moduleData.schemaVersion(of: "pubsub") == 1)
            #expect(try await pubsub.document("meta", key: "runs")?.value == "1")
            try await pubsub.put("old", collection: "items", key: "a")

            // A later release rewrites the documents the first one wrote.
            let rewrite = ModuleMigration("items move into the default node") { documents in
                for item in try documents.list("items", ModuleDocumentRange()) {
                    try documents.delete("items", key: item.key)
                    try documents.put(item.value, collection: "items", key: "default\u{0}" + item.key)
                }
            }
            let failing = ModuleMigration("fails") { documents in
                try documents.put("half done", collection: "meta", key: "partial")
                throw Failure()
            }
            // A migration that fails records nothing and leaves nothing; the steps before it stay.
            await #expect(throws: Failure.self) {
                try await ModuleStorage.open(ModuleSchema(module: "pubsub", migrations: [countingMigration, rewrite, failing]), in: storage)
            }
            #expect(try await storage.moduleData.schemaVersion(of: "pubsub") == 2)
            #expect(try await pubsub.document("meta", key: "partial") == nil)
            #expect(try await pubsub.list("items").map(\.key) == ["default\u{0}a"])
            #expect(try await pubsub.document("meta", key: "runs")?.value == "1")
            // Another module's version is its own.
            #expect(try await storage.moduleData.schemaVersion(of: "muc") == 0)
            // An older Starling must not read what a newer one wrote.
            await #expect(throws: StorageError.self) { try await ModuleStorage.open(first, in: storage) }
        }
    }

    @Test("opening the same schema from many tasks at once migrates once", arguments: Backend.allCases)
    func concurrentOpen(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let schema = ModuleSchema(module: "upload", migrations: [countingMigration, countingMigration])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { _ = try await ModuleStorage.open(schema, in: storage) } }
                try await group.waitForAll()
            }
            let upload = try await ModuleStorage.open(schema, in: storage)
            #expect(try await upload.document("meta", key: "runs")?.value == "2")
        }
    }

    private struct Slot: Codable, Equatable {
        var owner: String
        var size: Int
    }

    @Test("typed documents round-trip as JSON", arguments: Backend.allCases)
    func typed(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let upload = try await ModuleStorage.open(ModuleSchema(module: "upload"), in: storage)
            let slot = Slot(owner: "alice@example.com", size: 1024)
            try await upload.setValue(slot, collection: "slots", key: "s1")
            #expect(try await upload.value(Slot.self, collection: "slots", key: "s1") == slot)
            #expect(try await upload.document("slots", key: "s1")?.value == #"{"owner":"alice@example.com","size":1024}"#)
            #expect(try await upload.value(Slot.self, collection: "slots", key: "s2") == nil)
        }
    }
}
