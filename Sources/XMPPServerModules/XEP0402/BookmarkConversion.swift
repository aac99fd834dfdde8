import XMPPCore
import XMPPServer

/// XEP-0402 bookmarks with `urn:xmpp:bookmarks:1#compat`: clients that keep XEP-0048
/// bookmarks in private XML storage (XEP-0049) and clients that use the PEP node see one
/// list. The PEP node is the list; private storage is a view of it (XEP-0411 both ways).
enum BookmarkConversion {
    static let node = "urn:xmpp:bookmarks:1"
    static let compatFeature = "urn:xmpp:bookmarks:1#compat"
    static let legacyNamespace = "storage:bookmarks"
    /// What XEP-0402 §5 asks clients to publish with.
    static let publishOptions = ["pubsub#persist_items": "true", "pubsub#max_items": "max", "pubsub#send_last_published_item": "never", "pubsub#access_model": "whitelist"]

    /// The XEP-0048 `<storage/>` for the account: conferences from the PEP node, anything
    /// else (URLs) from what the client stored before.
    static func storage(items: [StoredItem], kept: Element?) -> Element {
        var storage = Element("storage", namespace: Self.legacyNamespace)
        for item in items {
            guard let conference = item.payloadElement, conference.name == "conference", conference.namespace == Self.node else { continue }
            var legacy = Element("conference", namespace: Self.legacyNamespace, attributes: [("jid", item.id)])
            if let name = conference[attribute: "name"] { legacy[attribute: "name"] = name }
            // XEP-0048's default is false: only a true one is written.
            if conference[attribute: "autojoin"] == "true" || conference[attribute: "autojoin"] == "1" { legacy[attribute: "autojoin"] = "true" }
            if let nick = conference.child(named: "nick")?.text { legacy.append(Element("nick", namespace: Self.legacyNamespace, text: nick)) }
            if let password = conference.child(named: "password")?.text { legacy.append(Element("password", namespace: Self.legacyNamespace, text: password)) }
            storage.append(legacy)
        }
        for other in kept?.elements ?? [] where other.name != "conference" { storage.append(other) }
        return storage
    }

    /// The conferences of a XEP-0048 `<storage/>` as XEP-0402 items, by room JID.
    static func conferences(in storage: Element) throws -> [(jid: String, conference: Element)] {
        try storage.children(named: "conference").map { legacy in
            guard let jid = legacy[attribute: "jid"].flatMap({ try? JID($0) }) else { throw StanzaError(.badRequest, text: "a bookmark needs a room JID") }
            var conference = Element("conference", namespace: Self.node)
            if let name = legacy[attribute: "name"] { conference[attribute: "name"] = name }
            let autojoin = legacy[attribute: "autojoin"]
            conference[attribute: "autojoin"] = autojoin == "true" || autojoin == "1" ? "true" : "false"
            if let nick = legacy.child(named: "nick")?.text { conference.append(Element("nick", namespace: Self.node, text: nick)) }
            if let password = legacy.child(named: "password")?.text { conference.append(Element("password", namespace: Self.node, text: password)) }
            return (jid.bare.description, conference)
        }
    }

    /// Makes the PEP node hold exactly the conferences of `storage`.
    static func write(_ storage: Element, owner: JID, bridge: PersonalEventingBridge) async throws {
        let wanted = try self.conferences(in: storage)
        let existing = try await bridge.items(of: owner, node: Self.node) ?? []
        let current = Dictionary(existing.map { ($0.id, $0.payload) }, uniquingKeysWith: { _, last in last })
        for (jid, conference) in wanted where current[jid] != .some(conference.storedText) {
            try await bridge.publish(conference, id: jid, node: Self.node, owner: owner, options: Self.publishOptions)
        }
        let keep = Set(wanted.map(\.jid))
        try await bridge.retract(existing.map(\.id).filter { !keep.contains($0) }, node: Self.node, owner: owner)
    }
}
