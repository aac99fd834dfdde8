import XMPPCore
import XMPPServer

/// XEP-0199: XMPP Ping — the server answers pings addressed to it.
public struct PingModule: ServerModule {
    public let name = "ping"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        registrar.addFeature(XMPPNamespace.ping)
        registrar.handleIQ(.get, namespace: XMPPNamespace.ping, target: .server) { request in
            guard request.payload.name == "ping" else { throw StanzaError(.badRequest) }
            return nil
        }
    }
}
