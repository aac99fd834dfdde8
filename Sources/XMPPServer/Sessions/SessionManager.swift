import NIOConcurrencyHelpers
import NIOCore
import XMPPCore
import XMPPSASL

/// The bound sessions of every local account, by bare JID and resource.
public final class SessionManager: @unchecked Sendable {
    private struct Entry {
        var session: ClientSession
        var presence = SessionPresence()
    }

    /// An account's sessions by resource. A short list, not a dictionary: accounts have a few
    /// sessions at most (`maxSessionsPerAccount`), and a dictionary per online account cost
    /// each connection a few hundred bytes.
    private struct Resources {
        private var entries: [(resource: String, entry: Entry)] = []

        subscript(resource: String) -> Entry? {
            get { self.entries.first { $0.resource == resource }?.entry }
            set {
                let index = self.entries.firstIndex { $0.resource == resource }
                switch (index, newValue) {
                case (let index?, let entry?): self.entries[index].entry = entry
                case (let index?, nil): self.entries.remove(at: index)
                case (nil, let entry?): self.entries.append((resource, entry))
                case (nil, nil): break
                }
            }
        }

        var values: LazyMapSequence<[(resource: String, entry: Entry)], Entry> { self.entries.lazy.map(\.entry) }
        var count: Int { self.entries.count }
        var isEmpty: Bool { self.entries.isEmpty }
    }

    private let lock = NIOLock()
    private var accounts: [JID: Resources] = [:]
    private let conflictPolicy: ServerConfiguration.C2SSettings.ResourceConflict
    private let maxSessionsPerAccount: Int

    public init(conflictPolicy: ServerConfiguration.C2SSettings.ResourceConflict, maxSessionsPerAccount: Int) {
        self.conflictPolicy = conflictPolicy
        self.maxSessionsPerAccount = maxSessionsPerAccount
    }

    public enum BindOutcome {
        case bound(ClientSession, replaced: ClientSession?)
        case failed(StanzaError)
    }

    /// Binds a resource (RFC 6120 §7): the requested one when free, a generated one when none
    /// was asked, and on conflict whatever the configured policy says.
    /// `replacingOnConflict` is for a Bind 2 resource made from a user-agent id: the same
    /// client reconnecting, whose earlier session ends (XEP-0386 §3.2) whatever the policy.
    public func bind(account: JID, requested: String?, replacingOnConflict: Bool = false, makeSession: (JID) -> ClientSession) -> BindOutcome {
        let bare = account.bare
        var resource: String
        if let requested {
            do {
                resource = try JID.prepareResourcepart(requested)
            } catch {
                return .failed(StanzaError(.badRequest, text: "the requested resource is not valid: \(error)"))
            }
        } else {
            resource = Self.generatedResource()
        }
        return self.lock.withLock {
            var resources = self.accounts[bare] ?? Resources()
            var replaced: ClientSession?
            if let existing = resources[resource] {
                switch replacingOnConflict ? .kickOld : self.conflictPolicy {
                case .kickOld:
                    replaced = existing.session
                    resources[resource] = nil
                case .newResource:
                    repeat {
                        resource = "\(resource).\(Self.generatedResource().prefix(6))"
                    } while resources[resource] != nil
                }
            }
            guard resources.count < self.maxSessionsPerAccount else {
                return .failed(StanzaError(.resourceConstraint, text: "too many sessions for this account"))
            }
            guard let full = try? bare.with(resource: resource) else {
                return .failed(StanzaError(.badRequest))
            }
            let session = makeSession(full)
            resources[resource] = Entry(session: session)
            self.accounts[bare] = resources
            return .bound(session, replaced: replaced)
        }
    }

    /// Removes the session; returns its last presence so the caller can broadcast unavailability.
    @discardableResult
    func unbind(_ session: ClientSession) -> SessionPresence? {
        self.forgetResumable(session)
        return self.lock.withLock {
            let bare = session.jid.bare
            guard let resource = session.jid.resourcepart, let entry = self.accounts[bare]?[resource], entry.session === session else {
                return nil
            }
            self.accounts[bare]?[resource] = nil
            if self.accounts[bare]?.isEmpty == true { self.accounts[bare] = nil }
            return entry.presence
        }
    }

    /// Changes a session's presence record; returns the record before and after, or nil when
    /// the session is no longer bound.
    @discardableResult
    public func updatePresence(of session: ClientSession, _ change: (inout SessionPresence) -> Void) -> (before: SessionPresence, after: SessionPresence)? {
        self.lock.withLock {
            guard let resource = session.jid.resourcepart, let entry = self.accounts[session.jid.bare]?[resource], entry.session === session else {
                return nil
            }
            var presence = entry.presence
            change(&presence)
            self.accounts[session.jid.bare]?[resource]?.presence = presence
            return (entry.presence, presence)
        }
    }

    public func presence(of session: ClientSession) -> SessionPresence? {
        self.lock.withLock {
            guard let resource = session.jid.resourcepart, let entry = self.accounts[session.jid.bare]?[resource], entry.session === session else {
                return nil
            }
            return entry.presence
        }
    }

    /// Who gets a chat or normal message sent to the bare JID (RFC 6121 §8.5.2.1.1): the
    /// available resources with the highest non-negative priority; none means offline.
    public func localMessageRecipients(of account: JID) -> [ClientSession] {
        self.messageRecipients(of: account) { $0 }
    }

    /// The recipients, each made into what the caller wants in the one array built for them.
    private func messageRecipients<Recipient>(of account: JID, _ make: (ClientSession) -> Recipient) -> [Recipient] {
        let candidates = self.sessions(of: account).filter { $0.1.available && $0.1.priority >= 0 }
        guard let highest = candidates.map(\.1.priority).max() else { return [] }
        return candidates.filter { $0.1.priority == highest }.map { make($0.0) }
    }

    /// True when at least one session of the account is available.
    public func isAvailable(_ account: JID) -> Bool {
        self.lock.withLock { (self.accounts[account.bare] ?? Resources()).values.contains { $0.presence.available } }
    }

    public func session(for full: JID) -> ClientSession? {
        guard let resource = full.resourcepart else { return nil }
        return self.lock.withLock { self.accounts[full.bare]?[resource]?.session }
    }

    /// Every session of the account with its presence.
    public func sessions(of account: JID) -> [(ClientSession, SessionPresence)] {
        self.lock.withLock { (self.accounts[account.bare] ?? Resources()).values.map { ($0.session, $0.presence) } }
    }

    /// Every bound session with its presence (for administrators: a copy of the whole table).
    public func allSessions() -> [(ClientSession, SessionPresence)] {
        self.lock.withLock { self.accounts.values.flatMap { resources in resources.values.map { entry in (entry.session, entry.presence) } } }
    }

    // MARK: - Resumable sessions (XEP-0198)

    private var resumable: [String: ClientSession] = [:]
    /// Told about messages queued for detached sessions (push notifications).
    var detachedDeliveryHandlers: [@Sendable (ClientSession, Element) -> Void] = []
    private var expiries: [ObjectIdentifier: Scheduled<Void>] = [:]

    func registerResumable(_ session: ClientSession, id: String) {
        self.lock.withLock { self.resumable[id] = session }
    }

    /// A still-bound session with this stream management ID.
    func resumableSession(id: String) -> ClientSession? {
        self.lock.withLock {
            guard let session = self.resumable[id], let resource = session.jid.resourcepart,
                self.accounts[session.jid.bare]?[resource]?.session === session
            else { return nil }
            return session
        }
    }

    func setExpiry(_ expiry: Scheduled<Void>, for session: ClientSession) {
        self.lock.withLock { self.expiries[ObjectIdentifier(session)] = expiry }
    }

    func cancelExpiry(of session: ClientSession) {
        self.lock.withLock { self.expiries.removeValue(forKey: ObjectIdentifier(session)) }?.cancel()
    }

    func forgetResumable(_ session: ClientSession) {
        self.lock.withLock {
            if let id = session.streamManagementID { self.resumable[id] = nil }
            self.expiries[ObjectIdentifier(session)] = nil
        }
    }

    public var count: Int { self.lock.withLock { self.accounts.values.reduce(0) { $0 + $1.count } } }

    private static func generatedResource() -> String {
        "starling-" + String(Base64.encode(SASLRandom.bytes(9)).map { $0 == "/" ? "_" : $0 == "+" ? "-" : $0 })
    }
}

/// The sessions of this process, answered without copying the lists the router walks.
extension SessionManager: SessionDirectory {
    public func locate(_ full: JID) -> SessionLocation? {
        self.session(for: full).map(SessionLocation.local)
    }

    public func locateAll(of account: JID) -> [(SessionLocation, SessionPresence)] {
        self.lock.withLock { (self.accounts[account.bare] ?? Resources()).values.map { (.local($0.session), $0.presence) } }
    }

    public func messageRecipients(of account: JID) -> [SessionLocation] {
        self.messageRecipients(of: account, SessionLocation.local)
    }
}
