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
    let abuse: AbuseControls
    let statistics = ServerStatistics()

    init(configuration: ServerConfiguration, hosts: [String], storage: any StorageBackend, logger: Logger) {
        self.configuration = configuration
        self.hosts = hosts
        self.storage = storage
        self.logger = logger
        self.sessions = SessionManager(
            conflictPolicy: configuration.c2s.resourceConflict, maxSessionsPerAccount: configuration.limits.maxSessionsPerAccount)
        self.router = Router(sessions: self.sessions, hosts: Set(hosts), logger: logger)
        self.abuse = AbuseControls(limits: configuration.limits)
        self.registration =
            configuration.modules.registration
            ? RegistrationService(
                accounts: AccountManager(store: storage.accounts, hosts: Set(hosts)), perHour: configuration.modules.registrationsPerIPPerHour)
            : nil
    }

    /// Stream features from modules (caps, …), built once every module is registered.
    var authenticatedFeatures: [Element] = []

    /// A detached session that was not resumed in time ends like any other.
    func endDetachedSession(_ session: ClientSession) async {
        guard session.isDetached, let last = self.sessions.unbind(session) else { return }
        self.logger.info("session not resumed in time", metadata: ["jid": "\(session.jid)"])
        await self.router.emit(.sessionEnded(session, last))
        await self.router.rerouteUnacknowledged(of: session)
    }

    func negotiationPolicy(tlsAvailable: Bool) -> C2SNegotiationPolicy {
        C2SNegotiationPolicy(
            hostedDomains: Set(self.hosts),
            tlsAvailable: tlsAvailable,
            tlsRequired: self.configuration.tls.required,
            mechanisms: SASLMechanismName.allCases,
            maxAuthenticationFailures: self.configuration.limits.maxAuthenticationFailures,
            offerLegacySession: self.configuration.c2s.legacySession,
            authenticatedFeatures: self.authenticatedFeatures,
            registrationAvailable: self.registration != nil && tlsAvailable
        )
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

/// Every open client connection, so that shutdown can reach each one.
final class ConnectionRegistry: @unchecked Sendable {
    private let lock = NIOLock()
    private var connections: [ObjectIdentifier: (C2SConnectionHandler, any EventLoop)] = [:]

    func add(_ handler: C2SConnectionHandler, eventLoop: any EventLoop) {
        self.lock.withLock { self.connections[ObjectIdentifier(handler)] = (handler, eventLoop) }
    }

    func remove(_ handler: C2SConnectionHandler) {
        self.lock.withLock { self.connections[ObjectIdentifier(handler)] = nil }
    }

    var count: Int { self.lock.withLock { self.connections.count } }

    func terminateAll(_ condition: StreamErrorCondition) {
        let all = self.lock.withLock { Array(self.connections.values) }
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
