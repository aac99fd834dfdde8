import XMPPCore
import XMPPServer

/// XEP-0357: push notifications — an account registers app servers (a pubsub JID and node);
/// when a message arrives while the account is offline, or for a session that dropped and
/// may still resume, each app server is told, with the publish options the client gave.
public struct PushModule: ServerModule {
    public let name = "push"
    static let namespace = "urn:xmpp:push:0"
    static let pubsub = "http://jabber.org/protocol/pubsub"
    static let storageKey = "push.services"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        registrar.addFeature(Self.namespace, target: .account)

        registrar.handleIQ(.set, namespace: Self.namespace, target: .account) { request in
            let account = request.from.bare
            guard account == request.to.bare else { throw StanzaError(.forbidden) }
            guard let jidText = request.payload[attribute: "jid"], let service = try? JID(jidText) else {
                throw StanzaError(.badRequest, text: "a push service needs a 'jid'")
            }
            var services = await Self.services(of: account, context: context)
            switch request.payload.name {
            case "enable":
                guard let node = request.payload[attribute: "node"], !node.isEmpty else { throw StanzaError(.badRequest, text: "enable needs a 'node'") }
                services.removeAll { $0[attribute: "jid"] == service.description && $0[attribute: "node"] == node }
                var entry = Element("service", namespace: Self.namespace, attributes: [("jid", service.description), ("node", node)])
                if let options = request.payload.child(named: "x", namespace: XMPPNamespace.dataForms) { entry.append(options) }
                services.append(entry)
            case "disable":
                let node = request.payload[attribute: "node"]
                services.removeAll { $0[attribute: "jid"] == service.description && (node == nil || $0[attribute: "node"] == node) }
            default:
                throw StanzaError(.badRequest)
            }
            let stored = Element("services", namespace: Self.namespace, children: services)
            try await context.storage.accountData.setValue(services.isEmpty ? nil : stored.storedText, for: account, key: Self.storageKey)
            return nil
        }

        registrar.onUndeliverableMessage { message, account in
            await Self.notify(account: account, about: message, context: context)
            return .notHandled
        }
        registrar.onDetachedDelivery { session, message in
            Task { await Self.notify(account: session.jid.bare, about: message, context: context) }
        }
    }

    static func services(of account: JID, context: ModuleContext) async -> [Element] {
        guard let stored = try? await context.storage.accountData.value(for: account, key: Self.storageKey), let element = Element.parse(stored) else {
            return []
        }
        return element.children(named: "service")
    }

    static func notify(account: JID, about message: Element, context: ModuleContext) async {
        guard message.child(named: "body") != nil else { return }
        for service in await self.services(of: account, context: context) {
            guard let jid = service[attribute: "jid"], let node = service[attribute: "node"] else { continue }
            var summary = Element("x", namespace: XMPPNamespace.dataForms, attributes: [("type", "submit")])
            for (field, value) in [("FORM_TYPE", "urn:xmpp:push:summary"), ("message-count", "1"), ("last-message-sender", message[attribute: "from"] ?? "")] {
                summary.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", field)], children: [Element("value", namespace: XMPPNamespace.dataForms, text: value)]))
            }
            let item = Element("item", namespace: Self.pubsub, children: [Element("notification", namespace: Self.namespace, children: [summary])])
            var pubsub = Element("pubsub", namespace: Self.pubsub, children: [Element("publish", namespace: Self.pubsub, attributes: [("node", node)], children: [item])])
            if let options = service.child(named: "x", namespace: XMPPNamespace.dataForms) {
                pubsub.append(Element("publish-options", namespace: Self.pubsub, children: [options]))
            }
            var iq = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "push-\(UInt32.random(in: 0...UInt32.max))")])
            iq[attribute: "from"] = account.description
            iq[attribute: "to"] = jid
            iq.append(pubsub)
            await context.route(iq)
        }
    }
}
