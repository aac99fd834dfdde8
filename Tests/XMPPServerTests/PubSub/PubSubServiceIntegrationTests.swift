import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

/// XEP-0060 at pubsub.localhost over real sockets: the node lifecycle, items, subscriptions,
/// affiliations, the authorize model and the limits.
@Suite("PubSub service")
struct PubSubServiceIntegrationTests {
    static let atom = "http://www.w3.org/2005/Atom"
    static func entry(_ title: String) -> Element { Element("entry", namespace: atom, children: [Element("title", namespace: atom, text: title)]) }

    static func create(_ node: String, config: [String: String]? = nil) -> Element {
        var pubsub = Element("pubsub", namespace: PubSub.ns, children: [Element("create", namespace: PubSub.ns, attributes: [("node", node)])])
        if let config {
            pubsub.append(Element("configure", namespace: PubSub.ns, children: [PubSub.form("http://jabber.org/protocol/pubsub#node_config", config)]))
        }
        return pubsub
    }

    static func subscribe(_ node: String, jid: String) -> Element {
        Element("pubsub", namespace: PubSub.ns, children: [Element("subscribe", namespace: PubSub.ns, attributes: [("node", node), ("jid", jid)])])
    }

    static func owner(_ name: String, node: String, children: [Element] = []) -> Element {
        Element("pubsub", namespace: PubSub.owner, children: [Element(name, namespace: PubSub.owner, attributes: [("node", node)], children: children)])
    }

    @Test("create (with and without configuration, instant), conflict, disco of the service and of a node with meta-data")
    func create() async throws {
        try await withMUCServer { _, clients in
            let alice = clients[0]
            #expect(try await alice.pubsub("set", to: PubSub.service, Self.create("news")).stanzaType == "result")
            let again = try await alice.pubsub("set", to: PubSub.service, Self.create("news"))
            #expect(PubSub.errorCondition(again) == "conflict")
            let configured = try await alice.pubsub("set", to: PubSub.service, Self.create("blog", config: ["pubsub#title": "Alice's blog", "pubsub#max_items": "5"]))
            #expect(configured.stanzaType == "result")
            let instant = try await alice.pubsub("set", to: PubSub.service, Element("pubsub", namespace: PubSub.ns, children: [Element("create", namespace: PubSub.ns)]))
            let instantName = instant.iqPayload?.child(named: "create")?[attribute: "node"]
            #expect(instantName?.isEmpty == false)

            let items = try await alice.iq("get", to: PubSub.service, payload: Element(name: "query", namespace: XMPPNamespace.discoItems))
            let nodes = Set(items.iqPayload?.children(named: "item").compactMap { $0[attribute: "node"] } ?? [])
            #expect(nodes == Set(["news", "blog", instantName ?? ""]))
            let info = try await alice.iq("get", to: PubSub.service, payload: Element("query", namespace: XMPPNamespace.discoInfo, attributes: [("node", "blog")]))
            #expect(info.iqPayload?.child(named: "identity")?[attribute: "type"] == "leaf")
            let meta = info.iqPayload?.child(named: "x", namespace: XMPPNamespace.dataForms)?.children(named: "field")
            #expect(meta?.first { $0[attribute: "var"] == "pubsub#title" }?.child(named: "value")?.text == "Alice's blog")
            let service = try await alice.iq("get", to: PubSub.service, payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            #expect(service.iqPayload?.child(named: "identity")?[attribute: "category"] == "pubsub")
        }
    }

    @Test("an account's storage usage counts the service nodes it owns and its subscriptions there")
    func adminUsage() async throws {
        try await withMUCServer { server, clients in
            let (alice, bob) = (clients[0], clients[1])
            _ = try await alice.pubsub("set", to: PubSub.service, Self.create("news"))
            _ = try await alice.pubsub("set", to: PubSub.service, Self.create("weather"))
            _ = try await bob.pubsub("set", to: PubSub.service, Self.subscribe("news", jid: "bob@localhost"))
            _ = try await bob.pubsub("set", to: PubSub.service, Self.subscribe("weather", jid: "bob@localhost"))
            let admin = server.server.admin
            let aliceUsage = try await admin.storageUsage(of: "alice@localhost").moduleData
            let bobUsage = try await admin.storageUsage(of: "bob@localhost").moduleData
            #expect(aliceUsage["pubsub_nodes_owned"] == 2 && aliceUsage["pubsub_subscriptions"] == 0)
            #expect(bobUsage["pubsub_nodes_owned"] == 0 && bobUsage["pubsub_subscriptions"] == 2)
        }
    }

    @Test("publish with item ids, subscribe, notifications with payloads, retrieval (all, by id, max_items), max_items trims")
    func publishAndSubscribe() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            _ = try await alice.pubsub("set", to: PubSub.service, Self.create("feed", config: ["pubsub#max_items": "3"]))
            let subscribed = try await bob.pubsub("set", to: PubSub.service, Self.subscribe("feed", jid: "bob@localhost"))
            let subscription = subscribed.iqPayload?.child(named: "subscription")
            #expect(subscription?[attribute: "subscription"] == "subscribed" && subscription?[attribute: "subid"]?.isEmpty == false)
            let wrongJID = try await bob.pubsub("set", to: PubSub.service, Self.subscribe("feed", jid: "carol@localhost"))
            #expect(PubSub.errorCondition(wrongJID) == "bad-request" && PubSub.pubsubError(wrongJID) == "invalid-jid")

            for index in 1...4 {
                let result = try await alice.pubsub("set", to: PubSub.service, PubSub.publish("feed", id: "e\(index)", payload: Self.entry("entry \(index)")))
                #expect(result.iqPayload?.child(named: "publish")?.child(named: "item")?[attribute: "id"] == "e\(index)")
                let event = try await bob.notification(node: "feed", from: PubSub.service)
                #expect(PubSub.notified(event)?.ids == ["e\(index)"])
                #expect(event.stanzaType == "headline")
                #expect(event.child(named: "event", namespace: PubSub.event)?.child(named: "items")?.child(named: "item")?.child(named: "entry")?.child(named: "title")?.text == "entry \(index)")
            }
            // A generated id when none is given.
            let generated = try await alice.pubsub("set", to: PubSub.service, PubSub.publish("feed", payload: Self.entry("no id")))
            let newID = try #require(generated.iqPayload?.child(named: "publish")?.child(named: "item")?[attribute: "id"])
            _ = try await bob.notification(node: "feed")

            #expect(PubSub.itemIDs(try await bob.pubsub("get", to: PubSub.service, PubSub.items("feed"))) == ["e3", "e4", newID])
            #expect(PubSub.itemIDs(try await bob.pubsub("get", to: PubSub.service, PubSub.items("feed", maxItems: 1))) == [newID])
            #expect(PubSub.itemIDs(try await bob.pubsub("get", to: PubSub.service, PubSub.items("feed", ids: ["e4"]))) == ["e4"])
            // Publishing under an existing id replaces the item.
            _ = try await alice.pubsub("set", to: PubSub.service, PubSub.publish("feed", id: "e3", payload: Self.entry("entry 3 again")))
            #expect(PubSub.itemIDs(try await bob.pubsub("get", to: PubSub.service, PubSub.items("feed"))) == ["e4", newID, "e3"])

            let notPublisher = try await bob.pubsub("set", to: PubSub.service, PubSub.publish("feed", payload: Self.entry("bob's")))
            #expect(PubSub.errorCondition(notPublisher) == "forbidden")
            let unsubscribe = Element("pubsub", namespace: PubSub.ns, children: [Element("unsubscribe", namespace: PubSub.ns, attributes: [("node", "feed"), ("jid", "bob@localhost")])])
            #expect(try await bob.pubsub("set", to: PubSub.service, unsubscribe).stanzaType == "result")
            let twice = try await bob.pubsub("set", to: PubSub.service, unsubscribe)
            #expect(PubSub.errorCondition(twice) == "unexpected-request" && PubSub.pubsubError(twice) == "not-subscribed")
        }
    }

    @Test("retract notifies, purge empties and notifies, delete notifies with the redirect; only owners configure, purge and delete")
    func ownerOperations() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            _ = try await alice.pubsub("set", to: PubSub.service, Self.create("ops", config: ["pubsub#max_items": "10"]))
            _ = try await bob.pubsub("set", to: PubSub.service, Self.subscribe("ops", jid: "bob@localhost"))
            _ = try await alice.pubsub("set", to: PubSub.service, PubSub.publish("ops", id: "a", payload: Self.entry("a")))
            _ = try await bob.notification(node: "ops")
            let retract = Element("pubsub", namespace: PubSub.ns, children: [
                Element("retract", namespace: PubSub.ns, attributes: [("node", "ops"), ("notify", "true")], children: [Element("item", namespace: PubSub.ns, attributes: [("id", "a")])])
            ])
            #expect(try await alice.pubsub("set", to: PubSub.service, retract).stanzaType == "result")
            let retracted = try await bob.notification(node: "ops")
            #expect(retracted.child(named: "event", namespace: PubSub.event)?.child(named: "items")?.child(named: "retract")?[attribute: "id"] == "a")

            let form = try await alice.pubsub("get", to: PubSub.service, Self.owner("configure", node: "ops"))
            #expect(form.iqPayload?.child(named: "configure")?.child(named: "x", namespace: XMPPNamespace.dataForms) != nil)
            #expect(PubSub.errorCondition(try await bob.pubsub("get", to: PubSub.service, Self.owner("configure", node: "ops"))) == "forbidden")
            let reconfigured = try await alice.pubsub("set", to: PubSub.service, Self.owner("configure", node: "ops", children: [
                PubSub.form("http://jabber.org/protocol/pubsub#node_config", ["pubsub#notification_type": "normal", "pubsub#deliver_payloads": "false"])
            ]))
            #expect(reconfigured.stanzaType == "result")
            _ = try await alice.pubsub("set", to: PubSub.service, PubSub.publish("ops", id: "b", payload: Self.entry("b")))
            let withoutPayload = try await bob.notification(node: "ops")
            #expect(withoutPayload.stanzaType == "normal")
            #expect(withoutPayload.child(named: "event", namespace: PubSub.event)?.child(named: "items")?.child(named: "item")?.elements.isEmpty == true)

            #expect(PubSub.errorCondition(try await bob.pubsub("set", to: PubSub.service, Self.owner("purge", node: "ops"))) == "forbidden")
            #expect(try await alice.pubsub("set", to: PubSub.service, Self.owner("purge", node: "ops")).stanzaType == "result")
            let purged = try await bob.receive { $0.name == "message" && $0.child(named: "event", namespace: PubSub.event)?.child(named: "purge") != nil }
            #expect(purged.child(named: "event", namespace: PubSub.event)?.child(named: "purge")?[attribute: "node"] == "ops")
            #expect(PubSub.itemIDs(try await alice.pubsub("get", to: PubSub.service, PubSub.items("ops"))).isEmpty)

            let delete = Self.owner("delete", node: "ops", children: [Element("redirect", namespace: PubSub.owner, attributes: [("uri", "xmpp:pubsub.localhost?;node=ops2")])])
            #expect(try await alice.pubsub("set", to: PubSub.service, delete).stanzaType == "result")
            let deleted = try await bob.receive { $0.name == "message" && $0.child(named: "event", namespace: PubSub.event)?.child(named: "delete") != nil }
            #expect(deleted.child(named: "event", namespace: PubSub.event)?.child(named: "delete")?.child(named: "redirect")?[attribute: "uri"] == "xmpp:pubsub.localhost?;node=ops2")
            #expect(PubSub.errorCondition(try await alice.pubsub("get", to: PubSub.service, PubSub.items("ops"))) == "item-not-found")
        }
    }

    @Test("affiliations: publishers publish, outcasts are refused and lose their subscription; subscription and affiliation lists for owners")
    func affiliations() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            _ = try await alice.pubsub("set", to: PubSub.service, Self.create("team"))
            let setAffiliations = Self.owner("affiliations", node: "team", children: [
                Element("affiliation", namespace: PubSub.owner, attributes: [("jid", "bob@localhost"), ("affiliation", "publisher")]),
                Element("affiliation", namespace: PubSub.owner, attributes: [("jid", "carol@localhost"), ("affiliation", "outcast")]),
            ])
            #expect(try await alice.pubsub("set", to: PubSub.service, setAffiliations).stanzaType == "result")
            #expect(try await bob.pubsub("set", to: PubSub.service, PubSub.publish("team", payload: Self.entry("from bob"))).stanzaType == "result")
            let outcast = try await carol.pubsub("set", to: PubSub.service, Self.subscribe("team", jid: "carol@localhost"))
            #expect(PubSub.errorCondition(outcast) == "forbidden")
            let list = try await alice.pubsub("get", to: PubSub.service, Self.owner("affiliations", node: "team"))
            let affiliations = Dictionary(uniqueKeysWithValues: list.iqPayload?.child(named: "affiliations")?.children(named: "affiliation").map { ($0[attribute: "jid"] ?? "", $0[attribute: "affiliation"] ?? "") } ?? [])
            #expect(affiliations == ["alice@localhost": "owner", "bob@localhost": "publisher", "carol@localhost": "outcast"])
            let own = try await bob.pubsub("get", to: PubSub.service, Element("pubsub", namespace: PubSub.ns, children: [Element("affiliations", namespace: PubSub.ns)]))
            #expect(own.iqPayload?.child(named: "affiliations")?.children(named: "affiliation").map { $0[attribute: "affiliation"] } == ["publisher"])
            #expect(PubSub.errorCondition(try await bob.pubsub("get", to: PubSub.service, Self.owner("affiliations", node: "team"))) == "forbidden")

            _ = try await bob.pubsub("set", to: PubSub.service, Self.subscribe("team", jid: "bob@localhost"))
            let subscriptions = try await alice.pubsub("get", to: PubSub.service, Self.owner("subscriptions", node: "team"))
            #expect(subscriptions.iqPayload?.child(named: "subscriptions")?.children(named: "subscription").map { $0[attribute: "jid"] } == ["bob@localhost"])
        }
    }

    @Test("authorize: a subscription waits as pending; the owner's approval form lets the subscriber in and it gets notifications")
    func authorize() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            _ = try await alice.pubsub("set", to: PubSub.service, Self.create("private", config: ["pubsub#access_model": "authorize"]))
            let pending = try await bob.pubsub("set", to: PubSub.service, Self.subscribe("private", jid: "bob@localhost"))
            #expect(pending.iqPayload?.child(named: "subscription")?[attribute: "subscription"] == "pending")
            let request = try await alice.receive { $0.name == "message" && $0.from == PubSub.service && $0.child(named: "x", namespace: XMPPNamespace.dataForms) != nil }
            let form = try #require(request.child(named: "x", namespace: XMPPNamespace.dataForms))
            let fields = Dictionary(form.children(named: "field").map { ($0[attribute: "var"] ?? "", $0.child(named: "value")?.text ?? "") }, uniquingKeysWith: { a, _ in a })
            #expect(fields["pubsub#subscriber_jid"] == "bob@localhost" && fields["pubsub#node"] == "private")
            let unread = try await bob.pubsub("get", to: PubSub.service, PubSub.items("private"))
            #expect(PubSub.errorCondition(unread) == "not-authorized" && PubSub.pubsubError(unread) == "not-subscribed")

            var answer = PubSub.form("http://jabber.org/protocol/pubsub#subscribe_authorization", [
                "pubsub#subid": fields["pubsub#subid"] ?? "", "pubsub#node": "private", "pubsub#subscriber_jid": "bob@localhost", "pubsub#allow": "true",
            ])
            answer[attribute: "type"] = "submit"
            try await alice.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", PubSub.service.description)], children: [answer]))
            // Approved: Bob reads and is notified.
            _ = try await alice.pubsub("set", to: PubSub.service, PubSub.publish("private", id: "p1", payload: Self.entry("secret")))
            let event = try await bob.notification(node: "private")
            #expect(PubSub.notified(event)?.ids == ["p1"])
            #expect(PubSub.itemIDs(try await bob.pubsub("get", to: PubSub.service, PubSub.items("private"))) == ["p1"])
        }
    }

    @Test("limits: an oversized payload is not-acceptable with payload-too-big; a publish without payload needs one; nothing is stored")
    func limits() async throws {
        let settings = try ConfigurationLoader.load(yaml: "modules: {pubsub: {max_payload_bytes: 2048}}")
        try await withMUCServer(configure: { $0.modules.sections = settings.modules.sections }) { _, clients in
            let alice = clients[0]
            _ = try await alice.pubsub("set", to: PubSub.service, Self.create("small", config: ["pubsub#max_items": "10"]))
            let big = try await alice.pubsub("set", to: PubSub.service, PubSub.publish("small", id: "big", payload: Self.entry(String(repeating: "x", count: 4000))))
            #expect(PubSub.errorCondition(big) == "not-acceptable" && PubSub.pubsubError(big) == "payload-too-big")
            let empty = Element("pubsub", namespace: PubSub.ns, children: [Element("publish", namespace: PubSub.ns, attributes: [("node", "small")], children: [Element("item", namespace: PubSub.ns)])])
            let missing = try await alice.pubsub("set", to: PubSub.service, empty)
            #expect(PubSub.errorCondition(missing) == "bad-request" && PubSub.pubsubError(missing) == "payload-required")
            #expect(PubSub.itemIDs(try await alice.pubsub("get", to: PubSub.service, PubSub.items("small"))).isEmpty)
        }
    }

    @Test("an account removed in-band leaves no subscription or affiliation behind on the service's nodes")
    func accountRemoval() async throws {
        try await withMUCServer(configure: { $0.modules.registration = true }) { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            _ = try await alice.pubsub("set", to: PubSub.service, Self.create("club"))
            _ = try await alice.pubsub("set", to: PubSub.service, Self.owner("affiliations", node: "club", children: [
                Element("affiliation", namespace: PubSub.owner, attributes: [("jid", "bob@localhost"), ("affiliation", "publisher")])
            ]))
            _ = try await bob.pubsub("set", to: PubSub.service, Self.subscribe("club", jid: "bob@localhost"))
            let removed = try await bob.iq("set", to: nil, payload: Element("query", namespace: "jabber:iq:register", children: [Element(name: "remove", namespace: "jabber:iq:register")]))
            #expect(removed.stanzaType == "result")
            let subscriptions = try await alice.pubsub("get", to: PubSub.service, Self.owner("subscriptions", node: "club"))
            #expect(subscriptions.iqPayload?.child(named: "subscriptions")?.children(named: "subscription").isEmpty == true)
            let affiliations = try await alice.pubsub("get", to: PubSub.service, Self.owner("affiliations", node: "club"))
            #expect(affiliations.iqPayload?.child(named: "affiliations")?.children(named: "affiliation").map { $0[attribute: "jid"] } == ["alice@localhost"])
        }
    }
}
