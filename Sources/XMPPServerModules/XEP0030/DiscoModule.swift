import Crypto
import XMPPCore
import XMPPServer

/// XEP-0030 service discovery for the server and its accounts, with the features gathered
/// from the loaded modules, and XEP-0115 entity capabilities in the stream features.
public struct DiscoModule: ServerModule {
    public let name = "disco"
    public static let capsNode = "https://github.com/starling-xmpp/starling"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        registrar.addFeature(XMPPNamespace.discoInfo)
        registrar.addFeature(XMPPNamespace.discoItems)
        registrar.addFeature(XMPPNamespace.discoInfo, target: .account)
        registrar.addFeature(XMPPNamespace.discoItems, target: .account)
        registrar.addStreamFeature {
            Element(
                "c", namespace: XMPPNamespace.caps,
                attributes: [("hash", "sha-1"), ("node", Self.capsNode), ("ver", Self.serverCapsVersion(registrar))])
        }

        registrar.handleIQ(.get, namespace: XMPPNamespace.discoInfo, target: .server) { request in
            if let node = request.payload[attribute: "node"], node != "\(Self.capsNode)#\(Self.serverCapsVersion(registrar))" {
                guard let handler = registrar.discoNodeHandler(for: node) else { throw StanzaError(.itemNotFound) }
                return try await handler.info(node, request)
            }
            var info = DiscoInfo.result(identities: [Self.serverIdentity], features: registrar.features(for: .server), node: request.payload[attribute: "node"])
            for form in registrar.serverInfoForms { info.append(form) }
            return info
        }
        registrar.handleIQ(.get, namespace: XMPPNamespace.discoItems, target: .server) { request in
            if let node = request.payload[attribute: "node"] {
                guard let handler = registrar.discoNodeHandler(for: node) else { throw StanzaError(.itemNotFound) }
                return try await handler.items(node, request)
            }
            var query = Element(name: "query", namespace: XMPPNamespace.discoItems)
            for item in context.serviceItems(of: request.to.domainpart) {
                var element = Element("item", namespace: XMPPNamespace.discoItems, attributes: [("jid", item.jid)])
                if let name = item.name { element[attribute: "name"] = name }
                query.append(element)
            }
            return query
        }
        registrar.handleIQ(.get, namespace: XMPPNamespace.discoInfo, target: .account) { request in
            try await Self.checkVisible(request, context: context)
            let identities = [DiscoIdentity(category: "account", type: "registered")] + registrar.identities(for: .account)
            return DiscoInfo.result(identities: identities, features: registrar.features(for: .account))
        }
        registrar.handleIQ(.get, namespace: XMPPNamespace.discoItems, target: .account) { request in
            try await Self.checkVisible(request, context: context)
            return Element(name: "query", namespace: XMPPNamespace.discoItems)
        }
    }

    /// An account answers its owner and its presence subscribers; to anyone else it does not exist.
    private static func checkVisible(_ request: IQRequest, context: ModuleContext) async throws {
        guard (try await context.storage.accounts.accountExists(request.to)) else { throw StanzaError(.serviceUnavailable) }
        if request.from.bare == request.to.bare { return }
        guard let item = try await context.storage.rosters.item(of: request.to, contact: request.from.bare), item.state.from else {
            throw StanzaError(.serviceUnavailable)
        }
    }

    static let serverIdentity = DiscoIdentity(category: "server", type: "im", name: "Starling")

    /// The server's caps hash: its identity, the modules' features and forms.
    static func serverCapsVersion(_ registrar: ModuleRegistrar) -> String {
        self.capsVersion(identities: [(self.serverIdentity, nil)], features: registrar.features(for: .server), forms: registrar.serverInfoForms)
    }

    /// XEP-0115 §5.1 verification string, hashed with SHA-1 and base64-encoded: identities
    /// (category/type/lang/name), features, then each XEP-0128 form by its FORM_TYPE with its
    /// fields by var and their values in order.
    public static func capsVersion(identities: [(DiscoIdentity, language: String?)], features: [String], forms: [Element] = []) -> String {
        var text = ""
        let sortedIdentities = identities.map { "\($0.0.category)/\($0.0.type)/\($0.language ?? "")/\($0.0.name ?? "")" }.sorted()
        for identity in sortedIdentities { text += identity + "<" }
        for feature in Set(features).sorted() { text += feature + "<" }
        let typed = forms.compactMap { form -> (String, [Element])? in
            let fields = form.children(named: "field")
            guard let formType = fields.first(where: { $0[attribute: "var"] == "FORM_TYPE" })?.children(named: "value").first?.text else { return nil }
            return (formType, fields.filter { $0[attribute: "var"] != "FORM_TYPE" })
        }
        for (formType, fields) in typed.sorted(by: { $0.0 < $1.0 }) {
            text += formType + "<"
            for field in fields.sorted(by: { ($0[attribute: "var"] ?? "") < ($1[attribute: "var"] ?? "") }) {
                text += (field[attribute: "var"] ?? "") + "<"
                for value in field.children(named: "value").map(\.text).sorted() { text += value + "<" }
            }
        }
        return Base64.encode(Array(Insecure.SHA1.hash(data: Array(text.utf8))))
    }
}
