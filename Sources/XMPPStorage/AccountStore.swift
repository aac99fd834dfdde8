import XMPPCore
import XMPPSASL

/// Accounts and their SCRAM credentials. Implemented by every storage backend; the same
/// contract tests run against each.
public protocol AccountStore: Sendable {
    /// Creates an account; throws `StorageError.accountExists` when the address is taken
    /// and `StorageError.confusable` when an account with the same skeleton exists.
    func createAccount(_ account: JID, credentials: [SCRAMCredentials], skeleton: String) async throws
    func credentials(for account: JID, hash: SCRAMHash) async throws -> SCRAMCredentials?
    /// Replaces all credentials; false when the account does not exist.
    func setCredentials(_ credentials: [SCRAMCredentials], for account: JID) async throws -> Bool
    /// Adds credentials for a hash the account has none for (a XEP-0480 upgrade); what is
    /// already stored for that hash is kept, so a password change that raced the upgrade
    /// wins. False when the account does not exist.
    func addCredentials(_ credentials: SCRAMCredentials, for account: JID) async throws -> Bool
    /// Deletes the account and everything stored for it; false when it did not exist.
    func deleteAccount(_ account: JID) async throws -> Bool
    func accountExists(_ account: JID) async throws -> Bool
    func accounts(onDomain domain: String) async throws -> [JID]
}

/// One storage backend: every store it offers, and its lifecycle.
public protocol StorageBackend: Sendable {
    var accounts: any AccountStore { get }
    var rosters: any RosterStore { get }
    var offline: any OfflineStore { get }
    var accountData: any AccountDataStore { get }
    var archive: any ArchiveStore { get }
    /// Archives of chat rooms (XEP-0045 with XEP-0313), keyed by room JID: no account
    /// owns them, so they outlive any account.
    var roomArchive: any ArchiveStore { get }
    /// Documents that modules own (`ModuleStorage`), in one namespace per module.
    var moduleData: any ModuleDataStore { get }
    /// Flushes and closes; the backend is unusable afterwards.
    func close() async
}

public enum StorageError: Error, Sendable, Hashable, CustomStringConvertible {
    case accountExists(JID)
    case confusable(with: JID)
    case backend(String)

    public var description: String {
        switch self {
        case .accountExists(let jid): "the account \(jid) already exists"
        case .confusable(let jid): "the name looks like the existing account \(jid); choose a more distinct name"
        case .backend(let message): "storage error: \(message)"
        }
    }
}
