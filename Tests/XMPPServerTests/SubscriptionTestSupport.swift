import NIOCore
import XMPPClient
import XMPPCore

/// Stanzas and predicates shared by the RFC 6121 subscription tests.
enum SubscriptionStanzas {
    static let rosterNamespace = "jabber:iq:roster"

    static func presence(_ type: String?, to: String) -> Element {
        var presence = Element("presence", namespace: XMPPNamespace.client, attributes: [("to", to)])
        if let type { presence[attribute: "type"] = type }
        return presence
    }

    /// A presence of `type` (nil: available) whose sender, bare or full, is `from`.
    static func isPresence(_ type: String?, from: String) -> (Element) -> Bool {
        { stanza in
            stanza.name == "presence" && stanza.stanzaType == type && (stanza[attribute: "from"] == from || stanza.from?.bare.description == from)
        }
    }

    /// A presence of `type` from exactly this full JID.
    static func isPresence(_ type: String?, fromFull full: String) -> (Element) -> Bool {
        { stanza in stanza.name == "presence" && stanza.stanzaType == type && stanza[attribute: "from"] == full }
    }

    /// A roster push about `contact`, optionally with this `subscription` attribute.
    static func isRosterPush(for contact: String, subscription: String? = nil) -> (Element) -> Bool {
        { stanza in
            guard stanza.name == "iq", stanza.stanzaType == "set",
                let item = stanza.child(named: "query", namespace: rosterNamespace)?.child(named: "item"), item[attribute: "jid"] == contact
            else { return false }
            return subscription == nil || item[attribute: "subscription"] == subscription
        }
    }

    static func pushedItem(_ push: Element) -> Element? {
        push.child(named: "query", namespace: rosterNamespace)?.child(named: "item")
    }

    static func rosterSet(_ item: Element) -> Element {
        Element("query", namespace: rosterNamespace, children: [item])
    }
}

extension XMPPClient {
    /// The roster as the server returns it; asking also makes the session interested in pushes.
    func rosterItems() async throws -> [Element] {
        let reply = try await self.iq("get", to: nil, payload: Element(name: "query", namespace: SubscriptionStanzas.rosterNamespace))
        return reply.child(named: "query")?.children(named: "item") ?? []
    }

    func rosterEntry(_ contact: String) async throws -> Element? {
        try await self.rosterItems().first { $0[attribute: "jid"] == contact }
    }

    /// Asks `contact` for a subscription and has it approved, waiting for each step to arrive.
    func subscribe(to contact: XMPPClient) async throws {
        let contactBare = contact.jid.bare.description
        try await self.send(SubscriptionStanzas.presence("subscribe", to: contactBare))
        _ = try await contact.receive(where: SubscriptionStanzas.isPresence("subscribe", from: self.jid.bare.description))
        try await contact.send(SubscriptionStanzas.presence("subscribed", to: self.jid.bare.description))
        _ = try await self.receive(where: SubscriptionStanzas.isPresence("subscribed", from: contactBare))
    }
}

/// A stanza a test waited for did not come; says which.
struct MissingStanza: Error, CustomStringConvertible {
    var description: String
}

extension XMPPClient {
    /// Waits for a matching stanza; a timeout fails with what was awaited, so a failing test
    /// says which step did not happen.
    func awaitStanza(_ what: String, timeout: TimeAmount = .seconds(5), where predicate: (Element) -> Bool) async throws -> Element {
        do {
            return try await self.receive(timeout: timeout, where: predicate)
        } catch XMPPConnection.Failure.timedOut {
            throw MissingStanza(description: "\(self.jid) received no \(what) within \(timeout)")
        }
    }
}
