import Foundation
import XMPPCore
import XMPPStorage

/// Accounts an administrator disabled: they cannot log in (`<account-disabled/>`, RFC 6120
/// §6.5.1). Kept as module documents in a per-account collection, so deleting the account
/// deletes its mark in every backend, and mirrored in memory because every login asks.
final class DisabledAccounts: Sendable {
    static let schema = ModuleSchema(module: "admin")
    private static let collection = ModuleAccountDocuments.collectionPrefix + "disabled"

    /// What is stored for a disabled account.
    struct Mark: Codable, Sendable {
        var since: Date
    }

    private let accounts = LockedBox<Set<JID>>([])
    private let storage = LockedBox<ModuleStorage?>(nil)

    /// Opens the documents and reads every mark; called once when the server starts.
    func load(from backend: any StorageBackend) async throws {
        let storage = try await ModuleStorage.open(Self.schema, in: backend)
        let marked = try await storage.list(Self.collection).compactMap { document in
            try? JID(String(document.key.prefix { $0 != "\u{0}" }))
        }
        self.storage.withLock { $0 = storage }
        self.accounts.withLock { $0 = Set(marked) }
    }

    func contains(_ account: JID) -> Bool {
        self.accounts.withLock { $0.contains(account.bare) }
    }

    var all: Set<JID> { self.accounts.withLock { $0 } }

    /// Marks or unmarks the account; true when that changed anything.
    func set(_ account: JID, disabled: Bool) async throws -> Bool {
        let bare = account.bare
        guard let storage = self.storage.withLock({ $0 }) else { throw StorageError.backend("the server has not started") }
        let key = "\(bare)\u{0}"
        if disabled {
            try await storage.setValue(Mark(since: Date()), collection: Self.collection, key: key)
        } else {
            _ = try await storage.delete(Self.collection, key: key)
        }
        return self.accounts.withLock { accounts in
            disabled ? accounts.insert(bare).inserted : accounts.remove(bare) != nil
        }
    }

    /// The account is gone (its documents went with it).
    func forget(_ account: JID) {
        self.accounts.withLock { _ = $0.remove(account.bare) }
    }
}
