import XMPPCore
import XMPPServer

/// XEP-0092: software version of the server (off with `modules.version: false`).
public struct VersionModule: ServerModule {
    public let name = "version"
    public static let version = "0.1.0"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        registrar.addFeature(XMPPNamespace.version)
        registrar.handleIQ(.get, namespace: XMPPNamespace.version, target: .server) { _ in
            Element(
                "query", namespace: XMPPNamespace.version,
                children: [Element("name", namespace: XMPPNamespace.version, text: "Starling"), Element("version", namespace: XMPPNamespace.version, text: Self.version)])
        }
    }
}
