import Foundation
import Testing
import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStorageSQLite

/// Every storage backend the contract suites run against. A new backend (PostgreSQL) is one
/// case here and one arm in `make()`; every `@Test(arguments: Backend.allCases)` picks it up.
/// A backend that needs a server can drop itself from `allCases` when its URL is not set.
enum Backend: String, CaseIterable, CustomStringConvertible {
    case memory, sqlite

    var description: String { self.rawValue }

    /// A fresh, empty backend and what removes its files afterwards.
    func make() throws -> (any StorageBackend, cleanup: @Sendable () -> Void) {
        switch self {
        case .memory:
            return (InMemoryStorage(), {})
        case .sqlite:
            let path = NSTemporaryDirectory() + "starling-contract-\(UUID().uuidString).sqlite"
            return (try SQLiteStorage(path: path), { Self.removeSQLiteFiles(path) })
        }
    }

    /// Runs `body` on a fresh backend, then closes and removes it whether or not `body` threw.
    func withStorage(_ body: (any StorageBackend) async throws -> Void) async throws {
        let (storage, cleanup) = try self.make()
        do {
            try await body(storage)
        } catch {
            await storage.close()
            cleanup()
            throw error
        }
        await storage.close()
        cleanup()
    }

    static func removeSQLiteFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

/// Fixtures shared by the suites. Stores that hang off an account (rosters, offline messages,
/// account data, archives) are only used for accounts that exist: SQLite refuses the rest
/// through its foreign keys, so the contract does not ask for it.
enum Fixture {
    @discardableResult
    static func account(_ text: String, in storage: any StorageBackend) async throws -> JID {
        let jid = try JID(text)
        try await storage.accounts.createAccount(jid, credentials: [], skeleton: jid.localpart ?? text)
        return jid
    }

    /// A fixed instant with whole milliseconds, so that backends storing seconds as a double
    /// can be compared without tolerance games beyond a millisecond.
    static let epoch = Date(timeIntervalSince1970: 1_780_000_000)

    static func closeEnough(_ lhs: Date, _ rhs: Date) -> Bool {
        abs(lhs.timeIntervalSince1970 - rhs.timeIntervalSince1970) < 0.001
    }
}
