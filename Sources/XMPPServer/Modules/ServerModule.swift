import Logging
import XMPPCore
import XMPPStorage

/// A unit of server behaviour, one per RFC section or XEP. Modules declare what they handle
/// when registered and never see sockets or sessions directly.
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
}

/// Returns the payload of the result (nil for an empty result) or throws a `StanzaError`.
public typealias IQHandler = @Sendable (IQRequest) async throws -> Element?

/// What a module may use: storage, the hosts, a logger, and a way to send stanzas.
public struct ModuleContext: Sendable {
    public let storage: any StorageBackend
    public let hosts: Set<String>
    public let logger: Logger
    let router: Router

    /// Sends a stanza from the server (the module supplies `from` and `to`).
    public func send(_ stanza: Element) {
        self.router.route(stanza)
    }
}

/// Collects handlers and disco features from modules as they register.
public final class ModuleRegistrar: @unchecked Sendable {
    struct IQKey: Hashable {
        var type: IQType
        var namespace: String
        var target: IQTarget
    }

    public let context: ModuleContext
    private(set) var iqHandlers: [IQKey: IQHandler] = [:]
    private(set) var serverFeatures: [String] = []
    private(set) var accountFeatures: [String] = []

    init(context: ModuleContext) {
        self.context = context
    }

    /// Handles IQs of `type` whose payload is in `namespace`, addressed to `target`.
    public func handleIQ(_ type: IQType, namespace: String, target: IQTarget, _ handler: @escaping IQHandler) {
        self.iqHandlers[IQKey(type: type, namespace: namespace, target: target)] = handler
    }

    /// Announces a feature in service discovery (XEP-0030) for the server or for accounts.
    public func addFeature(_ feature: String, target: IQTarget = .server) {
        switch target {
        case .server: if !self.serverFeatures.contains(feature) { self.serverFeatures.append(feature) }
        case .account: if !self.accountFeatures.contains(feature) { self.accountFeatures.append(feature) }
        }
    }

    func handler(for type: IQType, namespace: String, target: IQTarget) -> IQHandler? {
        self.iqHandlers[IQKey(type: type, namespace: namespace, target: target)]
    }

    /// Features, for service discovery modules.
    public func features(for target: IQTarget) -> [String] {
        target == .server ? self.serverFeatures : self.accountFeatures
    }
}
