import XMPPCore
import XMPPServer

/// XEP-0016: privacy lists — named lists of allow/deny rules, an active list per session and
/// a default list per account; enforced by `CommunicationPolicy`'s filter in the router.
public struct PrivacyListsModule: ServerModule {
    public let name = "privacy"
    let policy: CommunicationPolicy

    public init(policy: CommunicationPolicy) {
        self.policy = policy
    }

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let policy = self.policy
        let limit = context.configuration.limits.maxPrivacyListItems
        policy.attach(to: registrar)
        // Clients look for privacy lists in the server's disco#info (XEP-0016 §3); the
        // account's own features list them too.
        registrar.addFeature(XMPPNamespace.privacy)
        registrar.addFeature(XMPPNamespace.privacy, target: .account)

        registrar.handleIQ(.get, namespace: XMPPNamespace.privacy, target: .account) { request in
            let account = request.from.bare
            guard account == request.to.bare else { throw StanzaError(.forbidden) }
            let state = await policy.policy(for: account, context: context)
            let children = request.payload.elements
            var query = Element(name: "query", namespace: XMPPNamespace.privacy)
            switch children.count {
            case 0:
                if let session = request.session, let active = context.sessions.presence(of: session)?.moduleState[CommunicationPolicy.activeListKey] {
                    query.append(Element("active", namespace: XMPPNamespace.privacy, attributes: [("name", active)]))
                }
                if let defaultList = state.defaultList {
                    query.append(Element("default", namespace: XMPPNamespace.privacy, attributes: [("name", defaultList)]))
                }
                for name in state.lists.keys.sorted() {
                    query.append(Element("list", namespace: XMPPNamespace.privacy, attributes: [("name", name)]))
                }
            case 1:
                guard children[0].name == "list", let name = children[0][attribute: "name"] else { throw StanzaError(.badRequest) }
                guard let list = state.lists[name] else { throw StanzaError(.itemNotFound) }
                query.append(list.element(namespace: XMPPNamespace.privacy))
            default:
                throw StanzaError(.badRequest, text: "ask for one list at a time")
            }
            return query
        }

        registrar.handleIQ(.set, namespace: XMPPNamespace.privacy, target: .account) { request in
            let account = request.from.bare
            guard account == request.to.bare else { throw StanzaError(.forbidden) }
            let children = request.payload.elements
            guard children.count == 1, let command = children.first else { throw StanzaError(.badRequest, text: "one change at a time") }
            let state = await policy.policy(for: account, context: context)
            let name = command[attribute: "name"]
            switch command.name {
            case "active":
                guard let session = request.session else { throw StanzaError(.badRequest) }
                if let name, state.lists[name] == nil { throw StanzaError(.itemNotFound) }
                context.sessions.updatePresence(of: session) { $0.moduleState[CommunicationPolicy.activeListKey] = name }
            case "default":
                if let name, state.lists[name] == nil { throw StanzaError(.itemNotFound) }
                try await policy.update(account, context: context) { $0.defaultList = name }
            case "list":
                guard let name, !name.isEmpty else { throw StanzaError(.badRequest) }
                if command.children(named: "item").isEmpty {
                    guard state.lists[name] != nil else { throw StanzaError(.itemNotFound) }
                    let inUse = context.sessions.sessions(of: account).contains { $0.1.moduleState[CommunicationPolicy.activeListKey] == name && $0.0 !== request.session }
                    if inUse || state.defaultList == name { throw StanzaError(.conflict, text: "the list is in use") }
                    try await policy.update(account, context: context) { $0.lists[name] = nil }
                } else {
                    let list: PrivacyList
                    do {
                        list = try PrivacyList(element: command)
                    } catch {
                        throw StanzaError(.badRequest, text: (error as? PrivacyList.ParseError)?.reason)
                    }
                    guard list.items.count <= limit else { throw StanzaError(.notAcceptable, text: "at most \(limit) items per list") }
                    try await policy.update(account, context: context) { $0.lists[name] = list }
                }
                // §2.6: every resource hears that the list changed.
                for (session, _) in context.sessions.sessions(of: account) {
                    var push = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "privacy-push-\(UInt32.random(in: 0...UInt32.max))")])
                    push[attribute: "to"] = session.jid.description
                    push.append(Element("query", namespace: XMPPNamespace.privacy, children: [Element("list", namespace: XMPPNamespace.privacy, attributes: [("name", name)])]))
                    session.deliver(push)
                }
            default:
                throw StanzaError(.badRequest)
            }
            return nil
        }
    }
}
