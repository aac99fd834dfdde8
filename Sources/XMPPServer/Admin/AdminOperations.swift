import Foundation
import Logging
import XMPPCore
import XMPPStorage

/// Everything an administrator can do to a running server, in one place: XEP-0133 ad-hoc
/// commands call these, and so will the HTTP API, the web UI and the command line, so that
/// no front can do a thing differently from another. Results are plain values (Codable, for
/// JSON); failures are `AdminError`s worded for a person.
public final class AdminOperations: Sendable {
    let core: ServerCore
    private let s2sManager = LockedBox<S2SManager?>(nil)
    private let configurationReloader = LockedBox<ConfigurationReloader?>(nil)
    private let runtimeLogLevel: RuntimeLogLevel
    let shutdownRequests = ShutdownRequests()
    /// When the server was made; uptime counts from here.
    public let startedAt = Date()
    let messageRate: LockedBox<RateSampler>

    init(core: ServerCore, logLevel: RuntimeLogLevel) {
        self.core = core
        self.runtimeLogLevel = logLevel
        self.messageRate = LockedBox(RateSampler(time: self.startedAt))
    }

    /// Federation is set up after the modules register; it reports its links from then on.
    func attach(s2s: S2SManager) {
        self.s2sManager.withLock { $0 = s2s }
    }

    var s2s: S2SManager? { self.s2sManager.withLock { $0 } }

    /// The server sets up reloading once its certificate and federation exist.
    func attach(reloader: ConfigurationReloader) {
        self.configurationReloader.withLock { $0 = reloader }
    }

    var reloader: ConfigurationReloader? { self.configurationReloader.withLock { $0 } }

    private var accounts: AccountManager {
        AccountManager(store: self.core.storage.accounts, hosts: Set(self.core.hosts), fastTokens: self.core.fastTokens)
    }

    public var hosts: [String] { self.core.hosts }

    // MARK: - Accounts

    /// The accounts of one hosted domain (all of them when nil) whose address contains
    /// `search` (ignoring case), in address order, `limit` (1…1000) after `after`.
    public func listAccounts(domain: String? = nil, search: String? = nil, after: String? = nil, limit: Int = 100) async throws(AdminError) -> AdminAccountPage {
        let domains = domain.map { [$0] } ?? self.core.hosts
        var all: [JID] = []
        for domain in domains {
            guard self.core.hosts.contains(domain) else { throw .invalid("this server does not serve \(domain)") }
            do {
                all += try await self.core.storage.accounts.accounts(onDomain: domain)
            } catch {
                throw .storage("\(error)")
            }
        }
        let needle = search?.lowercased() ?? ""
        let matching = all.map(\.description).filter { needle.isEmpty || $0.lowercased().contains(needle) }.sorted()
        let start = after.map { after in matching.firstIndex { $0 > after } ?? matching.endIndex } ?? matching.startIndex
        let page = matching[start...].prefix(min(max(limit, 1), 1000))
        let disabled = self.core.disabledAccounts.all
        let accounts = page.compactMap { address -> AdminAccount? in
            guard let jid = try? JID(address) else { return nil }
            return AdminAccount(jid: address, disabled: disabled.contains(jid), sessions: self.core.sessions.sessions(of: jid).count)
        }
        let more = start + page.count < matching.endIndex
        return AdminAccountPage(accounts: accounts, total: matching.count, next: more ? page.last : nil)
    }

    /// How many accounts the hosted domains hold.
    public func registeredAccountCount() async throws(AdminError) -> Int {
        var count = 0
        for domain in self.core.hosts {
            do {
                count += try await self.core.storage.accounts.accounts(onDomain: domain).count
            } catch {
                throw .storage("\(error)")
            }
        }
        return count
    }

    /// Whether the account exists; throws for an address that cannot be one of ours.
    public func accountExists(_ address: String) async throws(AdminError) -> Bool {
        let account = try self.account(address)
        do {
            return try await self.core.storage.accounts.accountExists(account)
        } catch {
            throw .storage("\(error)")
        }
    }

    /// Creates the account with every rule in-band registration applies; modules hear of it
    /// (the welcome message).
    @discardableResult
    public func createAccount(_ address: String, password: String) async throws(AdminError) -> JID {
        let account: JID
        do {
            account = try await self.accounts.create(address, password: password)
        } catch {
            throw Self.adminError(error)
        }
        self.core.logger.notice("account created by an administrator", metadata: ["account": "\(account)"])
        await self.core.router.emit(.accountCreated(account))
        return account
    }

    /// Sets a new password; the account's FAST tokens are revoked with the old one.
    public func changePassword(_ address: String, password: String) async throws(AdminError) {
        do {
            let account = try await self.accounts.changePassword(address, password: password)
            self.core.logger.notice("password changed", metadata: ["account": "\(account)"])
        } catch {
            throw Self.adminError(error)
        }
    }

    /// Disables or re-enables an account. A disabled account cannot log in, and its sessions
    /// end now with `policy-violation`. Returns false when it already was so.
    @discardableResult
    public func setDisabled(_ address: String, _ disabled: Bool) async throws(AdminError) -> Bool {
        guard try await self.accountExists(address) else { throw .notFound("there is no account \(address)") }
        let account = try self.account(address)
        let changed: Bool
        do {
            changed = try await self.core.disabledAccounts.set(account, disabled: disabled)
        } catch {
            throw .storage("\(error)")
        }
        if disabled {
            await self.endSessions(of: account, condition: .policyViolation)
        }
        self.core.logger.notice(disabled ? "account disabled" : "account re-enabled", metadata: ["account": "\(account)"])
        return changed
    }

    public func isDisabled(_ address: String) throws(AdminError) -> Bool {
        self.core.disabledAccounts.contains(try self.account(address))
    }

    /// The disabled accounts, in address order.
    public var disabledAccounts: [String] { self.core.disabledAccounts.all.map(\.description).sorted() }

    /// Deletes the account the way in-band cancellation does: contacts are told while the
    /// roster still says who they are, the account and everything stored under it goes,
    /// modules drop what they keep elsewhere, and its sessions end (`not-authorized`) unless
    /// the caller ends them itself after answering (XEP-0077 §3.2).
    public func deleteAccount(_ address: String, endingSessions: Bool = true) async throws(AdminError) {
        let account = try self.account(address)
        guard try await self.accountExists(address) else { throw .notFound("there is no account \(account)") }
        await self.core.router.emit(.accountDeleting(account))
        do {
            _ = try await self.accounts.delete(account.description)
        } catch {
            throw Self.adminError(error)
        }
        self.core.disabledAccounts.forget(account)
        await self.core.router.emit(.accountDeleted(account))
        if endingSessions {
            await self.endSessions(of: account, condition: .notAuthorized)
        }
        self.core.logger.notice("account deleted", metadata: ["account": "\(account)"])
    }

    /// How much the account keeps in offline storage and in its archive.
    public func storageUsage(of address: String) async throws(AdminError) -> AdminAccountStorage {
        let account = try self.account(address)
        guard try await self.accountExists(address) else { throw .notFound("there is no account \(account)") }
        do {
            let offline = try await self.core.storage.offline.count(for: account)
            let archived = try await self.core.storage.archive.messageCount(for: account)
            var moduleData: [String: Int] = [:]
            for usage in self.core.router.registrar?.accountUsage ?? [] {
                moduleData[usage.name, default: 0] += try await usage.count(account)
            }
            return AdminAccountStorage(account: account.description, offlineMessages: offline, archivedMessages: archived, moduleData: moduleData)
        } catch {
            throw .storage("\(error)")
        }
    }

    /// The roster as stored (what the account's clients see).
    public func roster(of address: String) async throws(AdminError) -> [RosterItem] {
        let account = try self.account(address)
        guard try await self.accountExists(address) else { throw .notFound("there is no account \(account)") }
        do {
            return try await self.core.storage.rosters.roster(of: account).items
        } catch {
            throw .storage("\(error)")
        }
    }

    // MARK: - Shutdown

    /// Asks whoever runs the server to stop it gracefully, after `seconds`; false when nobody
    /// waits for such a request (see `XMPPServer.waitForShutdownRequest`).
    public func requestShutdown(after seconds: Int = 0) -> Bool {
        self.shutdownRequests.request(after: seconds)
    }

    // MARK: - Log level

    /// The level every logger of the server logs at; changing it takes effect at once and
    /// lasts until the server stops (the configuration file is not changed).
    public var logLevel: Logger.Level {
        get { self.runtimeLogLevel.value }
        set {
            self.runtimeLogLevel.value = newValue
            self.core.logger.notice("log level changed", metadata: ["level": "\(newValue)"])
        }
    }

    // MARK: - Helpers

    func account(_ address: String) throws(AdminError) -> JID {
        do {
            return try self.accounts.account(address)
        } catch {
            throw Self.adminError(error)
        }
    }

    private static func adminError(_ failure: AccountManager.Failure) -> AdminError {
        switch failure {
        case .noSuchAccount: .notFound(failure.description)
        case .storage(.accountExists): .conflict("the account exists already")
        case .storage(.confusable): .conflict(failure.description)
        case .storage(let error): .storage(error.description)
        case .malformedAddress, .notHosted, .username, .password: .invalid(failure.description)
        }
    }
}
