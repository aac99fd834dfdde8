import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

/// The conversions that keep older protocols in step with PEP: XEP-0048 bookmarks in private
/// XML storage and XEP-0402 (with #compat), vCard avatars and XEP-0084 (XEP-0398).
@Suite("PEP: bookmarks and avatar conversions")
struct PEPConversionIntegrationTests {
    static let bookmarks = "urn:xmpp:bookmarks:1"

    static func privateBookmarks(_ conferences: [(jid: String, name: String, autojoin: Bool, nick: String?)], url: Bool = false) -> Element {
        var storage = Element("storage", namespace: "storage:bookmarks")
        for conference in conferences {
            var element = Element("conference", namespace: "storage:bookmarks", attributes: [("jid", conference.jid), ("name", conference.name), ("autojoin", conference.autojoin ? "true" : "false")])
            if let nick = conference.nick { element.append(Element("nick", namespace: "storage:bookmarks", text: nick)) }
            storage.append(element)
        }
        if url { storage.append(Element("url", namespace: "storage:bookmarks", attributes: [("name", "Site"), ("url", "https://example.org")])) }
        return Element("query", namespace: "jabber:iq:private", children: [storage])
    }

    @Test("bookmarks in private XML storage and in the PEP node are one list, both ways, and the account says so (#compat)")
    func bookmarkConversion() async throws {
        try await withMUCServer { _, clients in
            let alice = clients[0]
            let info = try await alice.iq("get", to: try JID("alice@localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            #expect(info.iqPayload?.children(named: "feature").contains { $0[attribute: "var"] == "urn:xmpp:bookmarks:1#compat" } == true)

            let stored = try await alice.iq("set", to: nil, payload: Self.privateBookmarks([("lobby@conference.localhost", "Lobby", true, "Al")], url: true))
            #expect(stored.stanzaType == "result")
            let items = try await alice.pubsub("get", to: nil, PubSub.items(Self.bookmarks))
            #expect(PubSub.itemIDs(items) == ["lobby@conference.localhost"])
            let conference = items.iqPayload?.child(named: "items")?.child(named: "item")?.child(named: "conference", namespace: Self.bookmarks)
            #expect(conference?[attribute: "name"] == "Lobby" && conference?[attribute: "autojoin"] == "true" && conference?.child(named: "nick")?.text == "Al")
            // The node is the owner's alone (XEP-0402 §5 publish-options).
            let peek = try await clients[1].pubsub("get", to: try JID("alice@localhost"), PubSub.items(Self.bookmarks))
            #expect(peek.stanzaType == "error")

            let published = try await alice.pubsub("set", to: nil, PubSub.publish(Self.bookmarks, id: "team@conference.localhost",
                payload: Element("conference", namespace: Self.bookmarks, attributes: [("name", "Team"), ("autojoin", "false")]),
                options: ["pubsub#persist_items": "true", "pubsub#max_items": "max", "pubsub#send_last_published_item": "never", "pubsub#access_model": "whitelist"]))
            #expect(published.stanzaType == "result", "a XEP-0402 publish with its publish-options answered \(published)")
            let legacy = try await alice.iq("get", to: nil, payload: Element("query", namespace: "jabber:iq:private", children: [Element(name: "storage", namespace: "storage:bookmarks")]))
            let storage = legacy.iqPayload?.child(named: "storage", namespace: "storage:bookmarks")
            #expect(Set(storage?.children(named: "conference").compactMap { $0[attribute: "jid"] } ?? []) == ["lobby@conference.localhost", "team@conference.localhost"])
            #expect(storage?.child(named: "url")?[attribute: "url"] == "https://example.org", "what XEP-0402 cannot hold stays in private storage")

            // Removing a conference in private storage retracts it from the node.
            _ = try await alice.iq("set", to: nil, payload: Self.privateBookmarks([("team@conference.localhost", "Team", false, nil)]))
            #expect(PubSub.itemIDs(try await alice.pubsub("get", to: nil, PubSub.items(Self.bookmarks))) == ["team@conference.localhost"])
        }
    }

    @Test("an avatar published in PEP becomes the vCard PHOTO and the presence hash; a vCard PHOTO is published to PEP")
    func avatarConversion() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            try await bob.subscribe(to: alice)
            let info = try await alice.iq("get", to: try JID("alice@localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            #expect(info.iqPayload?.children(named: "feature").contains { $0[attribute: "var"] == "urn:xmpp:pep-vcard-conversion:0" } == true)

            let image: [UInt8] = Array("not really a PNG, but bytes".utf8)
            let base64 = Base64.encode(image)
            let id = "0123456789abcdef0123456789abcdef01234567"
            _ = try await alice.pubsub("set", to: nil, PubSub.publish("urn:xmpp:avatar:data", id: id, payload: Element("data", namespace: "urn:xmpp:avatar:data", text: base64)))
            let metadata = Element("metadata", namespace: "urn:xmpp:avatar:metadata", children: [
                Element("info", namespace: "urn:xmpp:avatar:metadata", attributes: [("bytes", "\(image.count)"), ("id", id), ("type", "image/png")])
            ])
            _ = try await alice.pubsub("set", to: nil, PubSub.publish("urn:xmpp:avatar:metadata", id: id, payload: metadata))
            let vcard = try await bob.iq("get", to: try JID("alice@localhost"), payload: Element(name: "vCard", namespace: "vcard-temp"))
            #expect(vcard.iqPayload?.child(named: "PHOTO")?.child(named: "BINVAL")?.text == base64)
            #expect(vcard.iqPayload?.child(named: "PHOTO")?.child(named: "TYPE")?.text == "image/png")

            try await alice.sendPresence()
            // The presence sent after the avatar was published (earlier ones, from before it, may be held).
            let presence = try await bob.awaitStanza("alice's presence with an avatar hash") {
                $0.name == "presence" && $0.from?.bare.description == "alice@localhost" && $0.child(named: "x", namespace: "vcard-temp:x:update") != nil
            }
            #expect(presence.child(named: "x", namespace: "vcard-temp:x:update")?.child(named: "photo")?.text == id)

            // The other way: Bob sets a vCard with a PHOTO; his PEP avatar follows, named by the SHA-1.
            let photoBytes: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 1, 2, 3]
            _ = try await bob.iq("set", to: nil, payload: Element("vCard", namespace: "vcard-temp", children: [
                Element("FN", namespace: "vcard-temp", text: "Bob"),
                Element("PHOTO", namespace: "vcard-temp", children: [Element("TYPE", namespace: "vcard-temp", text: "image/png"), Element("BINVAL", namespace: "vcard-temp", text: Base64.encode(photoBytes))]),
            ]))
            let bobMetadata = try await bob.pubsub("get", to: nil, PubSub.items("urn:xmpp:avatar:metadata"))
            let infoElement = bobMetadata.iqPayload?.child(named: "items")?.child(named: "item")?.child(named: "metadata")?.child(named: "info")
            #expect(infoElement?[attribute: "bytes"] == "\(photoBytes.count)" && infoElement?[attribute: "type"] == "image/png")
            let sha1 = try #require(infoElement?[attribute: "id"])
            #expect(sha1.count == 40)
            let bobData = try await bob.pubsub("get", to: nil, PubSub.items("urn:xmpp:avatar:data", ids: [sha1]))
            #expect(bobData.iqPayload?.child(named: "items")?.child(named: "item")?.child(named: "data")?.text == Base64.encode(photoBytes))
        }
    }

    @Test("roster access: only contacts in an allowed group read the node")
    func rosterAccess() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            try await bob.subscribe(to: alice)
            try await carol.subscribe(to: alice)
            _ = try await alice.iq("set", to: nil, payload: SubscriptionStanzas.rosterSet(Element("item", namespace: SubscriptionStanzas.rosterNamespace, attributes: [("jid", "bob@localhost")], children: [
                Element("group", namespace: SubscriptionStanzas.rosterNamespace, text: "Family")
            ])))
            let config = PubSub.form("http://jabber.org/protocol/pubsub#node_config", ["pubsub#access_model": "roster", "pubsub#roster_groups_allowed": "Family"])
            let create = Element("pubsub", namespace: PubSub.ns, children: [
                Element("create", namespace: PubSub.ns, attributes: [("node", "photos")]), Element("configure", namespace: PubSub.ns, children: [config]),
            ])
            #expect(try await alice.pubsub("set", to: nil, create).stanzaType == "result")
            _ = try await alice.pubsub("set", to: nil, PubSub.publish("photos", id: "p1", payload: Element("photo", namespace: "urn:example:photos")))
            #expect(PubSub.itemIDs(try await bob.pubsub("get", to: try JID("alice@localhost"), PubSub.items("photos"))) == ["p1"])
            let refused = try await carol.pubsub("get", to: try JID("alice@localhost"), PubSub.items("photos"))
            #expect(PubSub.errorCondition(refused) == "not-authorized" && PubSub.pubsubError(refused) == "not-in-roster-group")
        }
    }
}
