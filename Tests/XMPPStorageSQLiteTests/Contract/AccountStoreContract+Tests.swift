import Foundation
import Testing
import XMPPCore
import XMPPSASL
import XMPPStorage
@testable import XMPPStorageSQLite

@Suite("AccountStore contract")
struct AccountStoreContractTests {
    let alice = try! JID("alice@example.com")
    let credentials = try! SCRAMCredentials.deriveAll(password: "secret")

    @Test("create, read, change, delete", arguments: Backend.allCases)
    func lifecycle(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let store = storage.accounts
            #expect(try await !store.accountExists(self.alice))
            try await store.createAccount(self.alice, credentials: self.credentials, skeleton: "alice")
            #expect(try await store.accountExists(self.alice))
            for hash in SCRAMHash.allCases {
                let stored = try #require(try await store.credentials(for: self.alice, hash: hash))
                #expect(stored.verify(password: "secret"))
            }
            let changed = try SCRAMCredentials.deriveAll(password: "new secret")
            #expect(try await store.setCredentials(changed, for: self.alice))
            #expect(try await store.credentials(for: self.alice, hash: .sha256)?.verify(password: "new secret") == true)
            #expect(try await store.setCredentials(changed, for: JID("nobody@example.com")) == false)
            #expect(try await store.accounts(onDomain: "example.com") == [self.alice])
            #expect(try await store.deleteAccount(self.alice))
            #expect(try await !store.deleteAccount(self.alice))
            #expect(try await store.credentials(for: self.alice, hash: .sha256) == nil)
        }
    }

    @Test("adding credentials for a missing hash keeps the others and never replaces", arguments: Backend.allCases)
    func addCredentials(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let store = storage.accounts
            let sha1 = try SCRAMCredentials.derive(password: "secret", hash: .sha1)
            try await store.createAccount(self.alice, credentials: [sha1], skeleton: "alice")
            #expect(try await store.credentials(for: self.alice, hash: .sha256) == nil)
            let sha256 = try SCRAMCredentials.derive(password: "secret", hash: .sha256)
            #expect(try await store.addCredentials(sha256, for: self.alice))
            #expect(try await store.credentials(for: self.alice, hash: .sha256) == sha256)
            #expect(try await store.credentials(for: self.alice, hash: .sha1) == sha1)
            // Already stored for that hash (a password change got there first): kept.
            let other = try SCRAMCredentials.derive(password: "other", hash: .sha256)
            #expect(try await store.addCredentials(other, for: self.alice))
            #expect(try await store.credentials(for: self.alice, hash: .sha256) == sha256)
            #expect(try await store.addCredentials(sha256, for: JID("nobody@example.com")) == false)
        }
    }

    @Test("duplicates and look-alikes are refused", arguments: Backend.allCases)
    func uniqueness(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            try await storage.accounts.createAccount(self.alice, credentials: self.credentials, skeleton: "alice")
            await #expect(throws: StorageError.accountExists(self.alice)) {
                try await storage.accounts.createAccount(self.alice, credentials: self.credentials, skeleton: "alice")
            }
            await #expect(throws: StorageError.confusable(with: self.alice)) {
                try await storage.accounts.createAccount(JID("a1ice@example.com"), credentials: self.credentials, skeleton: "alice")
            }
            // The same name on another domain is a different account.
            try await storage.accounts.createAccount(JID("alice@example.org"), credentials: self.credentials, skeleton: "alice")
        }
    }
}

@Suite("SQLiteStorage")
struct SQLiteStorageTests {
    @Test("accounts survive closing and reopening the file")
    func persistence() async throws {
        let path = NSTemporaryDirectory() + "starling-persist-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let first = try SQLiteStorage(path: path)
        try await first.createAccount(JID("bob@example.com"), credentials: SCRAMCredentials.deriveAll(password: "pw"), skeleton: "bob")
        await first.close()
        let second = try SQLiteStorage(path: path)
        #expect(try await second.accountExists(JID("bob@example.com")))
        await second.close()
    }

    @Test("the schema is versioned and WAL is on")
    func schema() throws {
        let path = NSTemporaryDirectory() + "starling-schema-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let connection = try SQLiteConnection(path: path, synchronous: "FULL")
        try SQLiteSchema.migrate(connection)
        #expect(try connection.execute("PRAGMA user_version").first?.first == .integer(Int64(SQLiteSchema.migrations.count)))
        #expect(try connection.execute("PRAGMA journal_mode").first?.first == .text("wal"))
        #expect(try connection.execute("PRAGMA synchronous").first?.first == .integer(2))
        // Migrating again is a no-op.
        try SQLiteSchema.migrate(connection)
        connection.close()
    }

    @Test("passwords are not stored anywhere in the file")
    func noClearTextPasswords() async throws {
        let path = NSTemporaryDirectory() + "starling-cleartext-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let storage = try SQLiteStorage(path: path)
        try await storage.createAccount(JID("carol@example.com"), credentials: SCRAMCredentials.deriveAll(password: "UniqueMarkerPassword42"), skeleton: "carol")
        await storage.close()
        var contents = Data()
        for suffix in ["", "-wal"] {
            contents.append((try? Data(contentsOf: URL(fileURLWithPath: path + suffix))) ?? Data())
        }
        #expect(contents.count > 0)
        #expect(contents.range(of: Data("UniqueMarkerPassword42".utf8)) == nil)
    }

    @Test("a bad synchronous setting is a clear error")
    func badSetting() {
        #expect(throws: StorageError.self) { try SQLiteStorage(path: "/tmp/x.sqlite", synchronous: "sometimes") }
    }
}
