import Logging
import XMPPCore
import XMPPStorage

/// A unit of server behaviour, one per RFC section or XEP. Modules declare what they handle
/// when registered and never see sockets: they get stanzas, events and a context.
public protocol ServerModule: Sendable {
    /// A short name used in logs and configuration.
    var name: String { get }
    /// Declares handlers, hooks, services and features; runs once, before anything listens.
    func register(with registrar: ModuleRegistrar)
    /// Starts background work (expiry, timers) once every module is registered and before the
    /// server listens; a module that throws stops the server from starting.
    func start(context: ModuleContext) async throws
    /// Stops background work; runs at shutdown after the streams closed and before storage
    /// closes, in the reverse order of `start`.
    func stop() async
}

extension ServerModule {
    public func start(context: ModuleContext) async throws {}
    public func stop() async {}
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

/// Enables a feature inside a Bind 2 request for a just-bound session; returns what goes into
/// `<bound/>`, if anything. Runs on the stream's event loop: it must not wait.
public typealias InlineBindHandler = @Sendable (ClientSession, Element) -> Element?
/// What a module adds to every Bind 2 `<bound/>` (XEP-0386), requested or not: the archive's
/// metadata (XEP-0313). Runs after the resource is bound and before `<success/>` goes out.
public typealias BoundElementProvider = @Sendable (ClientSession) async -> Element?

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
    /// An account was created while the server runs (in-band or by an administrator).
    case accountCreated(JID)
    /// An account was registered with an invitation that names an inviter (XEP-0401): the
    /// two become each other's contacts.
    case invitationAccepted(JID, inviter: JID)
    /// An account is about to be deleted, its roster and data still stored: contacts are told
    /// now (RFC 6121 §3.2), while the roster says who they are.
    case accountDeleting(JID)
    /// An account was deleted while the server runs (in-band, XEP-0077): modules drop what
    /// they keep about it outside its own data (subscriptions to others' nodes).
    case accountDeleted(JID)
    /// The server stops: listeners are closed, streams are still open. Last words to
    /// clients go now (XEP-0045 rooms tell occupants with 332).
    case shuttingDown
}

public typealias EventHandler = @Sendable (ServerEvent) async -> Void

/// What a module may use: storage, sessions, configuration, a logger, and routing.
public struct ModuleContext: Sendable {
    public let storage: any StorageBackend
    /// The hosted account domains.
    public let hosts: Set<String>
    /// The server's administrators (`admins` in the configuration), as bare JIDs, as they are
    /// now: a reload of the configuration may change them.
    public var admins: Set<JID> { self.administrators.withLock { $0 } }
    let administrators: LockedBox<Set<JID>>
    public let logger: Logger
    public let configuration: ServerConfiguration
    public let sessions: SessionManager
    /// The operations every admin front shares (XEP-0133 commands, the HTTP API).
    public let admin: AdminOperations
    let router: Router
    /// The HTTP listeners once bound (empty before `start`): for URLs that point at them.
    public var httpEndpoints: HTTPEndpoints { self.admin.core.httpEndpoints }

    /// Routes a stanza on the server's behalf (the module supplies `from` and `to`).
    public func route(_ stanza: Element) async {
        await self.router.route(stanza, origin: .server)
    }

    /// Sends an event to every module that listens.
    public func emit(_ event: ServerEvent) async {
        await self.router.emit(event)
    }

    public func isLocal(_ jid: JID) -> Bool { self.hosts.contains(jid.domainpart) }

    public func isAdmin(_ jid: JID) -> Bool { self.admins.contains(jid.bare) }

    /// The services and components a hosting domain lists in disco#items.
    public func serviceItems(of host: String) -> [(jid: String, name: String?)] { self.router.routes.items(of: host) }
}

/// Answers service discovery about nodes of the server (XEP-0030 §3.2 and §4.2) that a
/// module owns: XEP-0050 lists its commands under `http://jabber.org/protocol/commands`.
public struct DiscoNodeHandler: Sendable {
    /// Whether the node is this handler's.
    public var owns: @Sendable (String) -> Bool
    /// The `<query/>` answering disco#info about the node.
    public var info: @Sendable (String, IQRequest) async throws -> Element
    /// The `<query/>` answering disco#items about the node.
    public var items: @Sendable (String, IQRequest) async throws -> Element

    public init(
        owns: @escaping @Sendable (String) -> Bool, info: @escaping @Sendable (String, IQRequest) async throws -> Element,
        items: @escaping @Sendable (String, IQRequest) async throws -> Element
    ) {
        self.owns = owns
        self.info = info
        self.items = items
    }
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
    /// XEP-0128 forms in the server's disco#info.
    public private(set) var serverInfoForms: [Element] = []
    private(set) var accountFeatures: [String] = []
    private(set) var accountIdentities: [DiscoIdentity] = []
    private(set) var streamFeatures: [@Sendable () -> Element] = []
    private(set) var inlineBindHandlers: [String: InlineBindHandler] = [:]
    private(set) var boundElementProviders: [BoundElementProvider] = []
    private(set) var discoNodeHandlers: [DiscoNodeHandler] = []
    public private(set) var modules: [String] = []
    /// Registration mistakes (a service domain taken twice), reported when the server starts.
    private var registrationProblems: [ConfigurationError] = []
    private var optionReaders: [String: ModuleOptions] = [:]
    let httpRoutes = ModuleHTTPRoutes()
    private(set) var metricGauges: [(name: String, value: @Sendable () -> Double)] = []
    private(set) var accountUsage: [(name: String, count: @Sendable (JID) async throws -> Int)] = []
    private(set) var roomDirectories: [any AdminRoomDirectory] = []

    init(context: ModuleContext) {
        self.context = context
    }

    func registered(_ module: any ServerModule) {
        self.modules.append(module.name)
    }

    /// Reports a gauge on the metrics endpoint (docs/metrics.md), read at every scrape; adds
    /// up what several registrations report under one name (one MUC service per host).
    public func reportGauge(_ gauge: ModuleGauge, _ value: @escaping @Sendable () -> Int) {
        if let index = self.metricGauges.firstIndex(where: { $0.name == gauge.name }) {
            let earlier = self.metricGauges[index].value
            self.metricGauges[index].value = { earlier() + Double(value()) }
        } else {
            self.metricGauges.append((gauge.name, { Double(value()) }))
        }
    }

    /// Reports how much of something the module keeps for an account (`pep_items`), for the
    /// admin fronts' account pages; `name` is snake_case and stable.
    public func reportAccountUsage(_ name: String, _ count: @escaping @Sendable (JID) async throws -> Int) {
        self.accountUsage.append((name, count))
    }

    /// Shows a chat-room service to the admin fronts (list, inspect and destroy rooms, and
    /// the counts in the statistics); one per service domain.
    public func addRoomDirectory(_ directory: any AdminRoomDirectory) {
        self.roomDirectories.append(directory)
    }

    /// Handles IQs of `type` whose payload is in `namespace`, addressed to `target`.
    public func handleIQ(_ type: IQType, namespace: String, target: IQTarget, _ handler: @escaping IQHandler) {
        self.iqHandlers[IQKey(type: type, namespace: namespace, target: target)] = handler
    }

    /// The module's section of the configuration (`modules: {<section>: {...}}`), empty when
    /// absent. Keys the module does not read are reported as unknown when the server starts.
    public func options(_ section: String) -> ModuleOptions {
        if let existing = self.optionReaders[section] { return existing }
        let reader = ModuleOptions(path: "modules.\(section)", values: self.context.configuration.modules.sections[section] ?? [:])
        self.optionReaders[section] = reader
        return reader
    }

    /// Everything wrong that registration found: taken service domains, bad or unknown
    /// options, and sections no loaded module reads.
    var problems: [ConfigurationError] {
        let unclaimed = self.context.configuration.modules.sections.keys.filter { self.optionReaders[$0] == nil }.sorted().map { section in
            ConfigurationError(
                path: "modules.\(section)",
                message: "no loaded module has options named \(section); modules with options: \(self.optionReaders.keys.sorted().joined(separator: ", "))")
        }
        return self.registrationProblems + self.optionReaders.keys.sorted().flatMap { self.optionReaders[$0]?.problems ?? [] } + unclaimed
    }

    /// Owns a domain (XEP-0045 rooms, XEP-0060 pubsub, XEP-0363 upload): every stanza for the
    /// domain or a JID in it goes to the service's handler, and its hosting domain lists it in
    /// disco#items. A domain already routed elsewhere stops the server from starting.
    public func addService(_ service: HostedService) {
        do {
            try self.context.router.routes.add(service)
        } catch {
            self.registrationProblems.append(error)
        }
    }

    /// Answers HTTP requests whose path starts with `prefix` (`/upload/`) on every `kind: http`
    /// listener, in Starling's own request and response types (XEP-0363 upload). A prefix must
    /// start and end with `/`; one taken twice stops the server from starting.
    public func addHTTPRoute(prefix: String, _ handler: @escaping ModuleHTTPHandler) {
        guard prefix.count > 2, prefix.hasPrefix("/"), prefix.hasSuffix("/") else {
            self.registrationProblems.append(ConfigurationError(path: "modules", message: "the HTTP route prefix \(prefix) must start and end with /"))
            return
        }
        if !self.httpRoutes.add(prefix: prefix, handler: handler) {
            self.registrationProblems.append(ConfigurationError(path: "modules", message: "the HTTP route prefix \(prefix) is taken by another module"))
        }
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

    /// Adds a XEP-0128 form to the server's disco#info (XEP-0157 contact addresses); entity
    /// capabilities hash it with the features.
    public func addServerInfoForm(_ form: Element) {
        self.serverInfoForms.append(form)
    }

    /// Adds a service discovery identity to accounts (XEP-0163: `pubsub/pep`), next to
    /// `account/registered`.
    public func addIdentity(_ identity: DiscoIdentity, target: IQTarget) {
        guard target == .account, !self.accountIdentities.contains(identity) else { return }
        self.accountIdentities.append(identity)
    }

    /// Identities modules added for accounts.
    public func identities(for target: IQTarget) -> [DiscoIdentity] {
        target == .account ? self.accountIdentities : []
    }

    /// Adds an element to the stream features of authenticated streams; built once all
    /// modules are registered, so it may depend on what the others announced.
    public func addStreamFeature(_ feature: @escaping @Sendable () -> Element) {
        self.streamFeatures.append(feature)
    }

    /// Lets clients enable a per-session feature inside a Bind 2 request (XEP-0386): the
    /// namespace is listed in the Bind 2 `<inline/>` feature, and the handler gets the session
    /// and the request's element in that namespace, after the resource is bound and before
    /// `<success/>` goes out; what it returns goes into `<bound/>`.
    public func addInlineBindFeature(_ namespace: String, _ handler: @escaping InlineBindHandler) {
        self.inlineBindHandlers[namespace] = handler
    }

    /// Adds an element to every Bind 2 `<bound/>`, whatever the request enabled.
    public func addBoundElement(_ provider: @escaping BoundElementProvider) {
        self.boundElementProviders.append(provider)
    }

    /// Lets a module answer disco#info and disco#items about server nodes it owns.
    public func addDiscoNodes(_ handler: DiscoNodeHandler) {
        self.discoNodeHandlers.append(handler)
    }

    /// The module that owns a server node, for the service discovery module.
    public func discoNodeHandler(for node: String) -> DiscoNodeHandler? {
        self.discoNodeHandlers.first { $0.owns(node) }
    }

    func handler(for type: IQType, namespace: String, target: IQTarget) -> IQHandler? {
        self.iqHandlers[IQKey(type: type, namespace: namespace, target: target)]
    }

    /// Features, for service discovery modules.
    public func features(for target: IQTarget) -> [String] {
        target == .server ? self.serverFeatures : self.accountFeatures
    }
}

/// A gauge a module may report (`ModuleRegistrar.reportGauge`); each is one of the metrics
/// docs/metrics.md lists, so its name and help are fixed here.
public struct ModuleGauge: Sendable {
    let name: String

    /// Chat rooms in memory (XEP-0045).
    public static let mucRooms = ModuleGauge(name: MetricCatalog.mucRooms)
    /// Occupants of the chat rooms in memory (XEP-0045).
    public static let mucOccupants = ModuleGauge(name: MetricCatalog.mucOccupants)
}
