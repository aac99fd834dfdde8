import XMPPCore
import XMPPServer

/// XEP-0280: message carbons — every resource that asks sees the messages its account sends
/// and receives on other resources; XEP-0334 `<no-copy/>` and carbons `<private/>` opt out.
public struct CarbonsModule: ServerModule {
    public let name = "carbons"
    static let namespace = "urn:xmpp:carbons:2"
    static let forward = "urn:xmpp:forward:0"
    static let hints = "urn:xmpp:hints"
    static let stateKey = SessionStateKey<Bool>("carbons.enabled")

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        registrar.addFeature(Self.namespace)
        registrar.handleIQ(.set, namespace: Self.namespace, target: .account) { request in
            guard request.from.bare == request.to.bare, let session = request.session else { throw StanzaError(.notAllowed) }
            switch request.payload.name {
            case "enable": context.sessions.updatePresence(of: session) { $0.moduleState[Self.stateKey] = true }
            case "disable": context.sessions.updatePresence(of: session) { $0.moduleState[Self.stateKey] = nil }
            default: throw StanzaError(.badRequest)
            }
            return nil
        }

        // XEP-0386: enabled inside Bind 2, before <success/>, so no message slips between the
        // bind and the enable. XEP-0280 enabling cannot fail, so nothing goes into <bound/>.
        registrar.addInlineBindFeature(Self.namespace) { session, request in
            if request.name == "enable" {
                context.sessions.updatePresence(of: session) { $0.moduleState[Self.stateKey] = true }
            }
            return nil
        }

        registrar.onOutbound(.message) { message, session in
            guard Self.eligible(message) else { return .continue(Self.withoutPrivate(message)) }
            for (other, presence) in context.sessions.sessions(of: session.jid) where other !== session && presence.moduleState[Self.stateKey] != nil {
                other.deliver(Self.wrap(message, as: "sent", account: session.jid.bare, to: other.jid))
            }
            return .continue(message)
        }

        registrar.onInbound(.message, priority: -10) { message, account in
            guard Self.eligible(message), let to = message.to else { return .continue(message) }
            // The same recipients the router would pick; nobody means offline storage, so go on.
            let recipients = to.isFull ? context.sessions.session(for: to).map { [$0] } ?? [] : context.sessions.localMessageRecipients(of: account)
            guard !recipients.isEmpty else { return .continue(message) }
            for recipient in recipients { recipient.deliver(message) }
            for (other, presence) in context.sessions.sessions(of: account) where !recipients.contains(other) && presence.moduleState[Self.stateKey] != nil {
                other.deliver(Self.wrap(message, as: "received", account: account, to: other.jid))
            }
            return .handled
        }
    }

    /// §6: chat messages, and normal ones with a body; never errors, never opted-out ones.
    static func eligible(_ message: Element) -> Bool {
        let type = message.stanzaType ?? "normal"
        guard type == "chat" || (type == "normal" && message.child(named: "body") != nil) else { return false }
        if message.child(named: "private", namespace: Self.namespace) != nil { return false }
        if message.child(named: "no-copy", namespace: Self.hints) != nil { return false }
        if message.child(named: "sent", namespace: Self.namespace) != nil || message.child(named: "received", namespace: Self.namespace) != nil {
            return false
        }
        return true
    }

    static func withoutPrivate(_ message: Element) -> Element {
        var copy = message
        copy.removeChildren { $0.name == "private" && $0.namespace == Self.namespace }
        return copy
    }

    static func wrap(_ message: Element, as direction: String, account: JID, to: JID) -> Element {
        var carbon = Element("message", namespace: XMPPNamespace.client, attributes: [("from", account.description), ("to", to.description), ("type", message.stanzaType ?? "normal")])
        carbon.append(Element(direction, namespace: Self.namespace, children: [Element("forwarded", namespace: Self.forward, children: [message])]))
        return carbon
    }
}
