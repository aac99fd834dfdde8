import Foundation
import XMPPCore
import XMPPServer

/// XEP-0202: entity time of the server, in UTC.
public struct TimeModule: ServerModule {
    public let name = "time"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        registrar.addFeature(XMPPNamespace.time)
        registrar.handleIQ(.get, namespace: XMPPNamespace.time, target: .server) { _ in
            Element(
                "time", namespace: XMPPNamespace.time,
                children: [Element("tzo", namespace: XMPPNamespace.time, text: "+00:00"), Element("utc", namespace: XMPPNamespace.time, text: XMPPDateTime.string(Date()))])
        }
    }
}
