import Crypto
import Logging
import NIOConcurrencyHelpers
import NIOCore
import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStream

/// The state every connection shares: configuration, storage, sessions, router, modules.
final class ServerCore: @unchecked Sendable {
    let configuration: ServerConfiguration
    let hosts: [String]
    let storage: any StorageBackend
    let sessions: SessionManager
    let router: Router
    let connections = ConnectionRegistry()
    let logger: Logger
    let registration: RegistrationService?
    /// Invitations (XEP-0401), nil when `invites.enabled` is off.
    let invitations: InvitationStore?
    /// The HTTP listeners once bound: for URLs that point at them (upload, invitations).
    let httpEndpoints = HTTPEndpoints()
    let abuse: AbuseControls
    let statistics = ServerStatistics()
    let metrics: ServerMetrics
    /// The shared secret of each external component's domain (XEP-0114).
    let componentPolicy: ComponentPolicy
    /// XEP-0484 token digests, per account and client.
    let fastTokens: FASTTokenStore
    /// Accounts an administrator disabled; every login asks.
    let disabledAccounts = DisabledAccounts()
    /// The administrators (`admins`), as bare JIDs; a reload replaces them.
    let administrators: LockedBox<Set<JID>>

    init(
        configuration: ServerConfiguration, hosts: [String], storage: any StorageBackend, logger: Logger,
        metrics: ServerMetrics = ServerMetrics()
    ) throws {
        self.configuration = configuration
        self.hosts = hosts
        self.metrics = metrics
        self.administrators = LockedBox(try configuration.preparedAdmins())
        let storage = InstrumentedStorage(storage, metrics: metrics)
        self.storage = storage
        self.fastTokens = FASTTokenStore(backend: storage)
        self.logger = logger
        self.sessions = SessionManager(
            conflictPolicy: configuration.c2s.resourceConflict, maxSessionsPerAccount: configuration.limits.maxSessionsPerAccount)
        let components = try configuration.preparedComponents()
        self.componentPolicy = ComponentPolicy(secrets: components)
        let routes = RouteTable(hosts: Set(hosts), componentDomains: Set(components.keys))
        self.router = Router(sessions: self.sessions, routes: routes, logger: logger, metrics: metrics)
        self.abuse = AbuseControls(limits: configuration.limits)
        let router = self.router
        let invitations = configuration.invites.enabled ? InvitationStore(backend: storage) : nil
        self.invitations = invitations
        self.registration =
            configuration.modules.registration || invitations != nil
            ? RegistrationService(
                accounts: AccountManager(store: storage.accounts, hosts: Set(hosts)), open: configuration.modules.registration,
                invitations: invitations, perHour: configuration.modules.registrationsPerIPPerHour,
                created: { account, invitation in
                    await router.emit(.accountCreated(account))
                    if let inviter = invitation?.inviter.flatMap({ try? JID($0) }) {
                        await router.emit(.invitationAccepted(account, inviter: inviter))
                    }
                })
            : nil
        self.negotiationPolicies = Self.negotiationPolicies(
            configuration: configuration, hosts: hosts, authenticatedFeatures: [], registrationAvailable: self.registration != nil)
    }

    /// Stream features from modules (caps, …), built once every module is registered.
    var authenticatedFeatures: [Element] = [] {
        didSet { self.rebuildNegotiationPolicies() }
    }

    /// What modules enable inside a Bind 2 request, by namespace (carbons …); each answers
    /// with an element for `<bound/>` or nothing. Set once every module is registered.
    var inlineBindHandlers: [String: InlineBindHandler] = [:] {
        didSet { self.rebuildNegotiationPolicies() }
    }

    /// What modules put into every Bind 2 `<bound/>` (the archive's metadata).
    var boundElementProviders: [BoundElementProvider] = []

    /// Keys the Bind 2 resource a user-agent id maps to: stable while the server runs, and the
    /// id cannot be read back from the resource.
    let bind2ResourceKey = SymmetricKey(size: .bits256)

    private func rebuildNegotiationPolicies() {
        self.negotiationPolicies = Self.negotiationPolicies(
            configuration: self.configuration, hosts: self.hosts, authenticatedFeatures: self.authenticatedFeatures,
            registrationAvailable: self.registration != nil, bind2InlineFeatures: self.inlineBindHandlers.keys.sorted())
    }

    /// Built once and shared by every connection (copies share their sets and arrays).
    private var negotiationPolicies: (withTLS: C2SNegotiationPolicy, withoutTLS: C2SNegotiationPolicy)

    /// A detached session that was not resumed in time ends like any other.
    func endDetachedSession(_ session: ClientSession) async {
        guard session.isDetached, let last = self.sessions.unbind(session) else { return }
        self.logger.info("session not resumed in time", metadata: ["jid": "\(session.jid)"])
        await self.router.emit(.sessionEnded(session, last))
        await self.router.rerouteUnacknowledged(of: session)
    }

    func negotiationPolicy(tlsAvailable: Bool) -> C2SNegotiationPolicy {
        tlsAvailable ? self.negotiationPolicies.withTLS : self.negotiationPolicies.withoutTLS
    }

    private static func negotiationPolicies(
        configuration: ServerConfiguration, hosts: [String], authenticatedFeatures: [Element], registrationAvailable: Bool,
        bind2InlineFeatures: [String] = []
    ) -> (withTLS: C2SNegotiationPolicy, withoutTLS: C2SNegotiationPolicy) {
        func policy(tlsAvailable: Bool) -> C2SNegotiationPolicy {
            var policy = C2SNegotiationPolicy(
                hostedDomains: Set(hosts),
                tlsAvailable: tlsAvailable,
                tlsRequired: configuration.tls.required,
                mechanisms: SASLMechanismName.allCases,
                maxAuthenticationFailures: configuration.limits.maxAuthenticationFailures,
                offerLegacySession: configuration.c2s.legacySession,
                authenticatedFeatures: authenticatedFeatures,
                registrationAvailable: registrationAvailable && tlsAvailable,
                sasl2: configuration.c2s.sasl2,
                bind2InlineFeatures: bind2InlineFeatures,
                fast: configuration.c2s.fast.enabled
            )
            policy.scramUpgrades = configuration.c2s.scramUpgrades
            policy.registrationByInvitation = registrationAvailable && tlsAvailable && configuration.invites.enabled
            let limits = configuration.limits
            policy.streamLimits = StreamLimits(
                maxBytesBeforeAuthentication: limits.maxStanzaBytesBeforeAuthentication, maxBytes: limits.maxStanzaBytes,
                idleSeconds: configuration.c2s.pingIntervalSeconds > 0 ? configuration.c2s.pingIntervalSeconds : nil)
            return policy
        }
        return (policy(tlsAvailable: true), policy(tlsAvailable: false))
    }

    func parserLimits(authenticated: Bool) -> XMLParserLimits {
        let limits = self.configuration.limits
        if authenticated {
            return XMLParserLimits(
                maxStanzaBytes: limits.maxStanzaBytes,
                maxDepth: limits.maxDepth,
                maxAttributesPerElement: limits.maxAttributesPerElement,
                maxAttributeValueBytes: limits.maxAttributeValueBytes
            )
        }
        return XMLParserLimits(
            maxStanzaBytes: limits.maxStanzaBytesBeforeAuthentication,
            maxDepth: min(limits.maxDepth, 16),
            maxAttributesPerElement: min(limits.maxAttributesPerElement, 16),
            maxAttributeValueBytes: min(limits.maxAttributeValueBytes, limits.maxStanzaBytesBeforeAuthentication)
        )
    }
}

/// A stream handler whose deadlines the registry's sweep checks and which shutdown reaches.
/// Both are called on the handler's own event loop.
protocol SweptConnection: AnyObject {
    func checkDeadlines(now: NIODeadline)
    func terminate(_ condition: StreamErrorCondition)
}

/// Every open client and component connection, grouped by event loop: shutdown reaches each
/// one, and one repeated task per loop checks every connection's deadlines (negotiation, slow
/// input, keepalive) once a second.
final class ConnectionRegistry: @unchecked Sendable {
    private struct Loop {
        let eventLoop: any EventLoop
        var handlers: [ObjectIdentifier: any SweptConnection] = [:]
        var sweep: RepeatedTask?
    }

    private let lock = NIOLock()
    private var loops: [ObjectIdentifier: Loop] = [:]
    private var sweeping = true

    static let sweepInterval = TimeAmount.seconds(1)

    var count: Int { self.lock.withLock { self.loops.values.reduce(0) { $0 + $1.handlers.count } } }

    func add(_ handler: any SweptConnection, eventLoop: any EventLoop) {
        let loopID = ObjectIdentifier(eventLoop)
        self.lock.withLock {
            self.loops[loopID, default: Loop(eventLoop: eventLoop)].handlers[ObjectIdentifier(handler)] = handler
            if self.sweeping && self.loops[loopID]?.sweep == nil {
                self.loops[loopID]?.sweep = eventLoop.scheduleRepeatedTask(initialDelay: Self.sweepInterval, delay: Self.sweepInterval) {
                    [weak self] _ in self?.checkDeadlines(onLoop: loopID)
                }
            }
        }
    }

    func remove(_ handler: any SweptConnection, eventLoop: any EventLoop) {
        self.lock.withLock { _ = self.loops[ObjectIdentifier(eventLoop)]?.handlers.removeValue(forKey: ObjectIdentifier(handler)) }
    }

    /// Runs on the loop itself, so each handler is only touched on its own loop.
    private func checkDeadlines(onLoop loopID: ObjectIdentifier) {
        let handlers = self.lock.withLock { self.loops[loopID].map { Array($0.handlers.values) } ?? [] }
        let now = NIODeadline.now()
        for handler in handlers { handler.checkDeadlines(now: now) }
    }

    func stopSweeping() {
        let sweeps = self.lock.withLock {
            self.sweeping = false
            return self.loops.values.compactMap(\.sweep)
        }
        for sweep in sweeps { sweep.cancel() }
    }

    func terminateAll(_ condition: StreamErrorCondition) {
        let all = self.lock.withLock { self.loops.values.flatMap { loop in loop.handlers.values.map { ($0, loop.eventLoop) } } }
        for (handler, eventLoop) in all {
            // The handler is only ever touched on its own loop; the closure carries it there.
            let transfer = UnsafeTransfer(handler)
            eventLoop.execute { transfer.value.terminate(condition) }
        }
    }
}

/// Carries a loop-confined reference to its event loop.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
