import XMPPCore
import XMPPServer
import XMPPStorage

/// Roster items on the wire (RFC 6121 §2.1.2) and roster pushes (§2.1.6).
enum RosterXML {
    static func element(_ item: RosterItem) -> Element {
        var element = Element("item", namespace: XMPPNamespace.roster, attributes: [("jid", item.jid.description)])
        if let name = item.name { element[attribute: "name"] = name }
        element[attribute: "subscription"] = item.state.subscription
        if item.state.pendingOut { element[attribute: "ask"] = "subscribe" }
        if item.state.preApproved { element[attribute: "approved"] = "true" }
        for group in item.groups {
            element.append(Element("group", namespace: XMPPNamespace.roster, text: group))
        }
        return element
    }

    static func removed(_ jid: JID) -> Element {
        Element("item", namespace: XMPPNamespace.roster, attributes: [("jid", jid.description), ("subscription", "remove")])
    }

    /// Sends the changed item (or its removal) to every interested resource of the account.
    static func push(_ item: Element, version: Int64?, account: JID, context: ModuleContext) {
        for (session, presence) in context.sessions.sessions(of: account) where presence.interested {
            var query = Element(name: "query", namespace: XMPPNamespace.roster)
            if let version { query[attribute: "ver"] = String(version) }
            query.append(item)
            var push = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "push-" + String(UInt32.random(in: 0...UInt32.max), radix: 36))])
            push[attribute: "to"] = session.jid.description
            push.append(query)
            session.deliver(push)
        }
    }
}
