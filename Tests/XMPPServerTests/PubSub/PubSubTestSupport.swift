import Foundation
import Testing
import XMPPClient
import XMPPCore
@testable import XMPPServerModules

enum PubSub {
    static let ns = "http://jabber.org/protocol/pubsub"
    static let owner = "http://jabber.org/protocol/pubsub#owner"
    static let event = "http://jabber.org/protocol/pubsub#event"
    static let errors = "http://jabber.org/protocol/pubsub#errors"
    static let service = try! JID("pubsub.localhost")

    static func form(_ formType: String, _ fields: [String: String], type: String = "submit") -> Element {
        var form = Element("x", namespace: XMPPNamespace.dataForms, attributes: [("type", type)])
        form.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", "FORM_TYPE"), ("type", "hidden")], children: [
            Element("value", namespace: XMPPNamespace.dataForms, text: formType)
        ]))
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            form.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", name)], children: [Element("value", namespace: XMPPNamespace.dataForms, text: value)]))
        }
        return form
    }

    static func publish(_ node: String, id: String? = nil, payload: Element, options: [String: String]? = nil) -> Element {
        var item = Element("item", namespace: ns, children: [payload])
        if let id { item[attribute: "id"] = id }
        var pubsub = Element("pubsub", namespace: ns, children: [Element("publish", namespace: ns, attributes: [("node", node)], children: [item])])
        if let options {
            pubsub.append(Element("publish-options", namespace: ns, children: [form("http://jabber.org/protocol/pubsub#publish-options", options)]))
        }
        return pubsub
    }

    static func items(_ node: String, maxItems: Int? = nil, ids: [String] = []) -> Element {
        var items = Element("items", namespace: ns, attributes: [("node", node)], children: ids.map { Element("item", namespace: ns, attributes: [("id", $0)]) })
        if let maxItems { items[attribute: "max_items"] = "\(maxItems)" }
        return Element("pubsub", namespace: ns, children: [items])
    }

    static func itemIDs(_ result: Element) -> [String] {
        result.iqPayload?.child(named: "items")?.children(named: "item").compactMap { $0[attribute: "id"] } ?? []
    }

    static func errorCondition(_ stanza: Element) -> String? {
        stanza.child(named: "error")?.elements.first { $0.namespace == XMPPNamespace.stanzaErrors }?.name
    }

    static func pubsubError(_ stanza: Element) -> String? {
        stanza.child(named: "error")?.elements.first { $0.namespace == errors }?.name
    }

    /// The node and item ids of a notification.
    static func notified(_ message: Element) -> (node: String, ids: [String])? {
        guard let items = message.child(named: "event", namespace: event)?.child(named: "items") else { return nil }
        return (items[attribute: "node"] ?? "", items.children(named: "item").compactMap { $0[attribute: "id"] })
    }
}

extension XMPPClient {
    /// Available presence with XEP-0115 capabilities for these features; answers the server's
    /// disco#info query for them when it comes (`answerCapsQuery`).
    func sendPresence(features: [String]) async throws -> String {
        let identity = Element("identity", namespace: XMPPNamespace.discoInfo, attributes: [("category", "client"), ("type", "pc"), ("name", "Test")])
        let info = Element("query", namespace: XMPPNamespace.discoInfo, children: [identity] + features.map { Element("feature", namespace: XMPPNamespace.discoInfo, attributes: [("var", $0)]) })
        let ver = EntityCapabilities.verification(of: info) ?? ""
        try await self.send(Element("presence", namespace: XMPPNamespace.client, children: [
            Element("c", namespace: XMPPNamespace.caps, attributes: [("hash", "sha-1"), ("node", "https://example.org/test"), ("ver", ver)])
        ]))
        return ver
    }

    /// Waits for the server's disco#info query about our capabilities and answers it.
    func answerCapsQuery(features: [String]) async throws {
        let query = try await self.receive { $0.name == "iq" && $0.stanzaType == "get" && $0.iqPayload?.namespace == XMPPNamespace.discoInfo }
        let identity = Element("identity", namespace: XMPPNamespace.discoInfo, attributes: [("category", "client"), ("type", "pc"), ("name", "Test")])
        var info = Element("query", namespace: XMPPNamespace.discoInfo, children: [identity] + features.map { Element("feature", namespace: XMPPNamespace.discoInfo, attributes: [("var", $0)]) })
        if let node = query.iqPayload?[attribute: "node"] { info[attribute: "node"] = node }
        try await self.send(query.iqResult(payload: info))
    }

    func pubsub(_ type: String, to: JID?, _ payload: Element) async throws -> Element {
        try await self.iq(type, to: to, payload: payload)
    }

    /// The next pubsub notification for `node`.
    func notification(node: String, from: JID? = nil) async throws -> Element {
        try await self.receive(timeout: .seconds(5)) { message in
            message.name == "message" && PubSub.notified(message)?.node == node && (from == nil || message.from == from)
                || (message.name == "message" && message.child(named: "event", namespace: PubSub.event)?.elements.first?[attribute: "node"] == node && (from == nil || message.from == from))
        }
    }
}
