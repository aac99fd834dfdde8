import XMPPCore
import XMPPSASL

/// A backend that keeps everything in memory: for tests and for throwaway servers.
public final class InMemoryStorage: StorageBackend, AccountStore {
    private struct StoredAccount {
        var credentials: [SCRAMHash: SCRAMCredentials]
        var skeleton: String
    }

    private let state = LockedBox<[JID: StoredAccount]>([:])

    public init() {}

    public var accounts: any AccountStore { self }

    public func close() async {}

    public func createAccount(_ account: JID, credentials: [SCRAMCredentials], skeleton: String) async throws {
        let bare = account.bare
        try self.state.withLock { accounts in
            if accounts[bare] != nil { throw StorageError.accountExists(bare) }
            if let existing = accounts.first(where: { $0.key.domainpart == bare.domainpart && $0.value.skeleton == skeleton }) {
                throw StorageError.confusable(with: existing.key)
            }
            accounts[bare] = StoredAccount(credentials: Dictionary(credentials.map { ($0.hash, $0) }) { $1 }, skeleton: skeleton)
        }
    }

    public func credentials(for account: JID, hash: SCRAMHash) async throws -> SCRAMCredentials? {
        self.state.withLock { $0[account.bare]?.credentials[hash] }
    }

    public func setCredentials(_ credentials: [SCRAMCredentials], for account: JID) async throws -> Bool {
        self.state.withLock { accounts in
            guard accounts[account.bare] != nil else { return false }
            accounts[account.bare]?.credentials = Dictionary(credentials.map { ($0.hash, $0) }) { $1 }
            return true
        }
    }

    public func deleteAccount(_ account: JID) async throws -> Bool {
        self.state.withLock { $0.removeValue(forKey: account.bare) != nil }
    }

    public func accountExists(_ account: JID) async throws -> Bool {
        self.state.withLock { $0[account.bare] != nil }
    }

    public func accounts(onDomain domain: String) async throws -> [JID] {
        self.state.withLock { $0.keys.filter { $0.domainpart == domain }.sorted() }
    }
}
