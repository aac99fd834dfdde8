import Foundation
import Testing
import XMPPCore
import XMPPSASL
import XMPPStorage
@testable import XMPPStorageSQLite

/// What each racing opener saw, collected across threads.
private final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [String] = []
    private var storages: [SQLiteStorage] = []

    func record(_ result: Result<SQLiteStorage, any Error>) {
        self.lock.lock()
        defer { self.lock.unlock() }
        switch result {
        case .success(let storage): self.storages.append(storage)
        case .failure(let error): self.failures.append("\(error)")
        }
    }

    var snapshot: (failures: [String], storages: [SQLiteStorage]) {
        self.lock.lock()
        defer { self.lock.unlock() }
        return (self.failures, self.storages)
    }
}

@Suite("SQLite schema creation under concurrency")
struct SQLiteConcurrentOpenTests {
    /// Opens `openers` storages on `path` from as many threads, released together.
    private static func openAtOnce(path: String, openers: Int) -> (failures: [String], storages: [SQLiteStorage]) {
        let outcomes = Outcomes()
        let ready = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        let finished = DispatchGroup()
        for _ in 0..<openers {
            ready.enter()
            finished.enter()
            Thread.detachNewThread {
                ready.leave()
                // Every thread waits here, so the opens start together.
                start.wait()
                outcomes.record(Result { try SQLiteStorage(path: path) })
                finished.leave()
            }
        }
        ready.wait()
        for _ in 0..<openers { start.signal() }
        finished.wait()
        return outcomes.snapshot
    }

    /// Two `starling adduser` runs on a new data directory: both open the file and migrate at once.
    @Test("several storages opened at the same moment on a new file all succeed")
    func concurrentFirstOpen() async throws {
        let openers = 4
        for _ in 0..<10 {
            let path = NSTemporaryDirectory() + "starling-race-\(UUID().uuidString).sqlite"
            defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
            let (failures, storages) = Self.openAtOnce(path: path, openers: openers)
            #expect(failures.isEmpty, "\(failures)")
            #expect(storages.count == openers)
            // Each of them can write: the schema is complete, whichever opener created it.
            for (index, storage) in storages.enumerated() {
                let account = try JID("user\(index)@example.com")
                try await storage.createAccount(account, credentials: [], skeleton: "user\(index)")
                #expect(try await storage.accountExists(account))
                await storage.close()
            }
            let check = try SQLiteConnection(path: path, synchronous: "FULL")
            #expect(try check.execute("PRAGMA user_version").first?.first == .integer(Int64(SQLiteSchema.migrations.count)))
            check.close()
        }
    }

    /// Two processes starting on a new file, each with the same modules: every module
    /// migration runs once, on whichever connection gets there first.
    @Test("module migrations from several connections at once run once")
    func concurrentModuleMigrations() async throws {
        let openers = 4
        for _ in 0..<10 {
            let path = NSTemporaryDirectory() + "starling-module-race-\(UUID().uuidString).sqlite"
            defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
            let (failures, storages) = Self.openAtOnce(path: path, openers: openers)
            #expect(failures.isEmpty, "\(failures)")
            let schema = ModuleSchema(module: "muc", migrations: [countingMigration, countingMigration, countingMigration])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for storage in storages { group.addTask { _ = try await ModuleStorage.open(schema, in: storage) } }
                try await group.waitForAll()
            }
            for storage in storages {
                let muc = try await ModuleStorage.open(schema, in: storage)
                #expect(try await muc.document("meta", key: "runs")?.value == "3")
                #expect(try await storage.schemaVersion(of: "muc") == 3)
                await storage.close()
            }
        }
    }
}
