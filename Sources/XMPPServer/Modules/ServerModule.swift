import Logging
import XMPPCore
import XMPPStorage

/// A unit of server behaviour, one per RFC section or XEP. Modules declare what they handle
/// when registered and never see sockets: they get stanzas, events and a context.
public protocol ServerModule: Sendable {
    /// A short name used in logs and configuration.
    var name: String { get }
    func register(with registrar: ModuleRegistrar)
}

/// Who an IQ is addressed to, from a module's point of view.
public enum IQTarget: Sendable, Hashable {
    /// The server itself (`to` is a hosted domain).
    case server
    /// An account, handled by the server on its behalf (`to` is a bare JID or absent).
    case account
}

public enum IQType: String, Sendable, Hashable {
    case get, set
}

/// An IQ get or set for a module.
public struct IQRequest: Sendable {
    public var stanza: Element
    public var payload: Element
    public var from: JID
    /// The addressee: a domain for `.server`, a bare JID for `.account`.
    public var to: JID
    public var type: IQType
    /// The session that sent it, when it came from a local client.
    public var session: ClientSession?
}

/// Returns the payload of the result (nil for an empty result) or throws a `StanzaError`.
public typealias IQHandler = @Sendable (IQRequest) async throws -> Element?

/// Thrown by an IQ handler that has already sent its reply itself (for example a result
/// followed by pushes that must come after it).
public struct IQAlreadyAnswered: Error {
    public init() {}
}

/// What a hook decided about a stanza.
public enum HookResult: Sendable {
    /// Go on routing this (possibly changed) stanza.
    case `continue`(Element)
    /// The hook took care of it; routing stops.
    case handled
}

/// A stanza sent by a local client, before it is routed (presence broadcast, subscriptions).
public typealias OutboundHook = @Sendable (Element, ClientSession) async -> HookResult
/// A stanza about to be delivered to a local account (subscription processing, probes).
public typealias InboundHook = @Sendable (Element, JID) async -> HookResult
/// A message for an account with no resource to take it: true when the hook kept it (offline storage).
public typealias UndeliverableHook = @Sendable (Element, JID) async -> UndeliverableResult

public enum UndeliverableResult: Sendable {
    case stored
    case refused(StanzaError)
    case notHandled
}

/// Which way a stanza crosses an account's boundary, for filters.
public enum StanzaDirection: Sendable, Hashable {
    /// Sent by the account (`account` is the sender).
    case outbound
    /// Addressed to the account (`account` is the recipient).
    case inbound
}

public enum FilterVerdict: Sendable, Hashable {
    case allow
    /// Drop without a word.
    case drop
    /// Refuse with this error, sent to whoever sent the stanza.
    case refuse(StanzaError)
}

/// Decides whether a stanza may pass between an account and someone else (blocking, privacy lists).
public typealias StanzaFilter = @Sendable (Element, StanzaDirection, JID) async -> FilterVerdict

/// Things that happen to sessions, for modules that react to them.
public enum ServerEvent: Sendable {
    /// A session sent its first available presence.
    case initialPresence(ClientSession)
    /// A session ended, for any reason; its presence record as it was.
    case sessionEnded(ClientSession, SessionPresence)
}

public typealias EventHandler = @Sendable (ServerEvent) async -> Void

/// What a module may use: storage, sessions, configuration, a logger, and routing.
public struct ModuleContext: Sendable {
    public let storage: any StorageBackend
    public let hosts: Set<String>
    public let logger: Logger
    public let configuration: ServerConfiguration
    public let sessions: SessionManager
    let router: Router

    /// Routes a stanza on the server's behalf (the module supplies `from` and `to`).
    public func route(_ stanza: Element) async {
        await self.router.route(stanza, origin: .server)
    }

    /// Sends an event to every module that listens.
    public func emit(_ event: ServerEvent) async {
        await self.router.emit(event)
    }

    public func isLocal(_ jid: JID) -> Bool { self.hosts.contains(jid.domainpart) }
}

/// Collects handlers, hooks, filters and disco features from modules as they register.
public final class ModuleRegistrar: @unchecked Sendable {
    struct IQKey: Hashable {
        var type: IQType
        var namespace: String
        var target: IQTarget
    }

    public let context: ModuleContext
    private(set) var iqHandlers: [IQKey: IQHandler] = [:]
    private(set) var outboundHooks: [StanzaKind: [(Int, OutboundHook)]] = [:]
    private(set) var inboundHooks: [StanzaKind: [(Int, InboundHook)]] = [:]
    private(set) var undeliverableHooks: [UndeliverableHook] = []
    private(set) var filters: [StanzaFilter] = []
    private(set) var eventHandlers: [EventHandler] = []
    private(set) var detachedDeliveryHandlers: [@Sendable (ClientSession, Element) -> Void] = []
    private(set) var serverFeatures: [String] = []
    private(set) var accountFeatures: [String] = []
    private(set) var streamFeatures: [@Sendable () -> Element] = []
    public private(set) var modules: [String] = []

    init(context: ModuleContext) {
        self.context = context
    }

    func registered(_ module: any ServerModule) {
        self.modules.append(module.name)
    }

    /// Handles IQs of `type` whose payload is in `namespace`, addressed to `target`.
    public func handleIQ(_ type: IQType, namespace: String, target: IQTarget, _ handler: @escaping IQHandler) {
        self.iqHandlers[IQKey(type: type, namespace: namespace, target: target)] = handler
    }

    /// Sees stanzas of `kind` from local clients before routing; higher priority runs first.
    public func onOutbound(_ kind: StanzaKind, priority: Int = 0, _ hook: @escaping OutboundHook) {
        self.outboundHooks[kind, default: []].append((priority, hook))
        self.outboundHooks[kind]?.sort { $0.0 > $1.0 }
    }

    /// Sees stanzas of `kind` addressed to local accounts before delivery.
    public func onInbound(_ kind: StanzaKind, priority: Int = 0, _ hook: @escaping InboundHook) {
        self.inboundHooks[kind, default: []].append((priority, hook))
        self.inboundHooks[kind]?.sort { $0.0 > $1.0 }
    }

    public func onUndeliverableMessage(_ hook: @escaping UndeliverableHook) {
        self.undeliverableHooks.append(hook)
    }

    public func addFilter(_ filter: @escaping StanzaFilter) {
        self.filters.append(filter)
    }

    /// Called when a message is queued for a session whose connection dropped and may resume
    /// (XEP-0198): the place for push notifications.
    public func onDetachedDelivery(_ handler: @escaping @Sendable (ClientSession, Element) -> Void) {
        self.detachedDeliveryHandlers.append(handler)
    }

    public func onEvent(_ handler: @escaping EventHandler) {
        self.eventHandlers.append(handler)
    }

    /// Announces a feature in service discovery (XEP-0030) for the server or for accounts.
    public func addFeature(_ feature: String, target: IQTarget = .server) {
        switch target {
        case .server: if !self.serverFeatures.contains(feature) { self.serverFeatures.append(feature) }
        case .account: if !self.accountFeatures.contains(feature) { self.accountFeatures.append(feature) }
        }
    }

    /// Adds an element to the stream features of authenticated streams; built once all
    /// modules are registered, so it may depend on what the others announced.
    public func addStreamFeature(_ feature: @escaping @Sendable () -> Element) {
        self.streamFeatures.append(feature)
    }

    func handler(for type: IQType, namespace: String, target: IQTarget) -> IQHandler? {
        self.iqHandlers[IQKey(type: type, namespace: namespace, target: target)]
    }

    /// Features, for service discovery modules.
    public func features(for target: IQTarget) -> [String] {
        target == .server ? self.serverFeatures : self.accountFeatures
    }
}
