import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

/// XEP-0163 over real sockets: OMEMO's publish-options, access models, +notify from entity
/// capabilities, last items on presence, and the account's own clients.
@Suite("PEP: personal eventing")
struct PEPIntegrationTests {
    static let deviceList = "eu.siacs.conversations.axolotl.devicelist"
    static let tune = "http://jabber.org/protocol/tune"

    static func deviceListPayload(_ ids: [Int]) -> Element {
        Element("list", namespace: "eu.siacs.conversations.axolotl", children: ids.map { Element("device", namespace: "eu.siacs.conversations.axolotl", attributes: [("id", "\($0)")]) })
    }

    @Test("the account answers disco#info with the pubsub/pep identity and the pubsub features")
    func discovery() async throws {
        try await withMUCServer { _, clients in
            let info = try await clients[0].iq("get", to: try JID("alice@localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            #expect(info.iqPayload?.children(named: "identity").contains { $0[attribute: "category"] == "pubsub" && $0[attribute: "type"] == "pep" } == true)
            let features = Set(info.iqPayload?.children(named: "feature").compactMap { $0[attribute: "var"] } ?? [])
            #expect(features.isSuperset(of: ["http://jabber.org/protocol/pubsub#publish-options", "http://jabber.org/protocol/pubsub#auto-create",
                                             "http://jabber.org/protocol/pubsub#access-open", "http://jabber.org/protocol/pubsub#config-node-max"]))
        }
    }

    @Test("OMEMO: a device list and a bundle published with access_model=open (and max_items=max) are readable by a stranger")
    func omemo() async throws {
        try await withMUCServer { _, clients in
            let (alice, dave) = (clients[0], clients[3])
            // What Conversations and Dino send.
            let published = try await alice.pubsub("set", to: nil, PubSub.publish(Self.deviceList, id: "current", payload: Self.deviceListPayload([1234]), options: ["pubsub#access_model": "open"]))
            #expect(published.stanzaType == "result", "publishing the device list answered \(published)")
            let bundle = Element("bundle", namespace: "eu.siacs.conversations.axolotl", children: [Element("signedPreKeyPublic", namespace: "eu.siacs.conversations.axolotl", attributes: [("signedPreKeyId", "1")], text: "BASE64")])
            let bundlePublished = try await alice.pubsub("set", to: nil, PubSub.publish("eu.siacs.conversations.axolotl.bundles:1234", id: "current", payload: bundle,
                                                                                         options: ["pubsub#access_model": "open", "pubsub#max_items": "max"]))
            #expect(bundlePublished.stanzaType == "result")
            // The same options again match (max is the service's limit): no precondition error.
            let again = try await alice.pubsub("set", to: nil, PubSub.publish("eu.siacs.conversations.axolotl.bundles:1234", id: "current", payload: bundle,
                                                                               options: ["pubsub#access_model": "open", "pubsub#max_items": "max"]))
            #expect(again.stanzaType == "result")

            let list = try await dave.pubsub("get", to: try JID("alice@localhost"), PubSub.items(Self.deviceList))
            #expect(list.stanzaType == "result")
            let device = list.iqPayload?.child(named: "items")?.child(named: "item")?.child(named: "list")?.child(named: "device")
            #expect(device?[attribute: "id"] == "1234")
            let fetched = try await dave.pubsub("get", to: try JID("alice@localhost"), PubSub.items("eu.siacs.conversations.axolotl.bundles:1234", maxItems: 1))
            #expect(PubSub.itemIDs(fetched) == ["current"])
        }
    }

    @Test("publish-options that differ from the node's configuration fail with precondition-not-met; unknown ones are refused")
    func preconditions() async throws {
        try await withMUCServer { _, clients in
            let alice = clients[0]
            _ = try await alice.pubsub("set", to: nil, PubSub.publish("urn:xmpp:bookmarks:1", id: "room@conference.localhost", payload: Element("conference", namespace: "urn:xmpp:bookmarks:1"),
                                                                       options: ["pubsub#access_model": "whitelist", "pubsub#persist_items": "true", "pubsub#max_items": "max"]))
            let mismatch = try await alice.pubsub("set", to: nil, PubSub.publish("urn:xmpp:bookmarks:1", id: "other", payload: Element("conference", namespace: "urn:xmpp:bookmarks:1"),
                                                                                  options: ["pubsub#access_model": "open"]))
            #expect(mismatch.stanzaType == "error" && PubSub.errorCondition(mismatch) == "conflict" && PubSub.pubsubError(mismatch) == "precondition-not-met")
            let unknown = try await alice.pubsub("set", to: nil, PubSub.publish("urn:xmpp:bookmarks:1", id: "other", payload: Element("conference", namespace: "urn:xmpp:bookmarks:1"),
                                                                                 options: ["pubsub#made_up": "1"]))
            #expect(unknown.stanzaType == "error")
            let items = try await alice.pubsub("get", to: nil, PubSub.items("urn:xmpp:bookmarks:1"))
            #expect(PubSub.itemIDs(items) == ["room@conference.localhost"], "a refused publish stores nothing")
        }
    }

    @Test("access: presence is the default (strangers need a subscription); whitelist is the owner's alone (XEP-0223)")
    func access() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, dave) = (clients[0], clients[1], clients[3])
            try await bob.subscribe(to: alice)
            _ = try await alice.pubsub("set", to: nil, PubSub.publish(Self.tune, payload: Element("tune", namespace: Self.tune)))
            let stranger = try await dave.pubsub("get", to: try JID("alice@localhost"), PubSub.items(Self.tune))
            #expect(PubSub.errorCondition(stranger) == "not-authorized" && PubSub.pubsubError(stranger) == "presence-subscription-required")
            let subscriber = try await bob.pubsub("get", to: try JID("alice@localhost"), PubSub.items(Self.tune))
            #expect(subscriber.stanzaType == "result" && PubSub.itemIDs(subscriber).count == 1)

            _ = try await alice.pubsub("set", to: nil, PubSub.publish("storage:bookmarks", id: "current", payload: Element("storage", namespace: "storage:bookmarks"),
                                                                       options: ["pubsub#access_model": "whitelist", "pubsub#persist_items": "true"]))
            let secret = try await bob.pubsub("get", to: try JID("alice@localhost"), PubSub.items("storage:bookmarks"))
            #expect(PubSub.errorCondition(secret) == "not-allowed" && PubSub.pubsubError(secret) == "closed-node")
            let own = try await alice.pubsub("get", to: nil, PubSub.items("storage:bookmarks"))
            #expect(PubSub.itemIDs(own) == ["current"])
            let notOwner = try await bob.pubsub("set", to: try JID("alice@localhost"), PubSub.publish(Self.tune, payload: Element("tune", namespace: Self.tune)))
            #expect(PubSub.errorCondition(notOwner) == "forbidden")
        }
    }

    @Test("+notify: a contact whose capabilities ask for the node gets notifications, the last item on coming online, and others get nothing")
    func notify() async throws {
        try await withServer { server in
            for name in ["alice", "bob", "carol"] { try await server.addUser(name, password: "\(name)-password") }
            let alice = try await server.login("alice", password: "alice-password", resource: "desk")
            let bob = try await server.login("bob", password: "bob-password", resource: "phone")
            let carol = try await server.login("carol", password: "carol-password", resource: "desk")
            for client in [alice, bob, carol] { try await client.sendPresence() }
            // Mutual subscriptions: Alice's account hears Bob's and Carol's presence, with capabilities.
            for contact in [bob, carol] {
                try await contact.subscribe(to: alice)
                try await alice.subscribe(to: contact)
            }
            let wants = [XMPPNamespace.discoInfo, Self.tune, "\(Self.tune)+notify"]
            _ = try await bob.sendPresence(features: wants)
            try await bob.answerCapsQuery(features: wants)
            _ = try await carol.sendPresence(features: [XMPPNamespace.discoInfo, Self.tune])
            try await carol.answerCapsQuery(features: [XMPPNamespace.discoInfo, Self.tune])

            _ = try await alice.pubsub("set", to: nil, PubSub.publish(Self.tune, id: "song-1", payload: Element("tune", namespace: Self.tune, children: [Element("title", namespace: Self.tune, text: "One")])))
            let event = try await bob.notification(node: Self.tune, from: try JID("alice@localhost"))
            #expect(PubSub.notified(event)?.ids == ["song-1"])
            #expect(event.child(named: "event", namespace: PubSub.event)?.child(named: "items")?.child(named: "item")?.child(named: "tune")?.child(named: "title")?.text == "One")
            await #expect(throws: (any Error).self) { _ = try await carol.notification(node: Self.tune) }

            // Another client of Bob with the same capabilities: the server knows the verification
            // string now and sends the last item at once, without asking.
            let bob2 = try await server.login("bob", password: "bob-password", resource: "laptop")
            _ = try await bob2.sendPresence(features: wants)
            let last = try await bob2.notification(node: Self.tune)
            #expect(PubSub.notified(last)?.ids == ["song-1"])
            for client in [alice, bob, bob2, carol] { await client.close() }
        }
    }

    @Test("the owner's other clients that asked for a node are notified; retraction notifies with retract")
    func ownClients() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "alice-password")
            let desk = try await server.login("alice", password: "alice-password", resource: "desk")
            let phone = try await server.login("alice", password: "alice-password", resource: "phone")
            try await desk.sendPresence()
            let wants = [XMPPNamespace.discoInfo, "urn:xmpp:bookmarks:1+notify"]
            _ = try await phone.sendPresence(features: wants)
            try await phone.answerCapsQuery(features: wants)
            _ = try await desk.pubsub("set", to: nil, PubSub.publish("urn:xmpp:bookmarks:1", id: "lobby@conference.localhost", payload: Element("conference", namespace: "urn:xmpp:bookmarks:1", attributes: [("autojoin", "true")])))
            let event = try await phone.notification(node: "urn:xmpp:bookmarks:1")
            #expect(PubSub.notified(event)?.ids == ["lobby@conference.localhost"])
            let retract = Element("pubsub", namespace: PubSub.ns, children: [
                Element("retract", namespace: PubSub.ns, attributes: [("node", "urn:xmpp:bookmarks:1"), ("notify", "true")], children: [Element("item", namespace: PubSub.ns, attributes: [("id", "lobby@conference.localhost")])])
            ])
            #expect(try await desk.pubsub("set", to: nil, retract).stanzaType == "result")
            let retracted = try await phone.receive { $0.name == "message" && $0.child(named: "event", namespace: PubSub.event)?.child(named: "items")?.child(named: "retract") != nil }
            #expect(retracted.child(named: "event", namespace: PubSub.event)?.child(named: "items")?.child(named: "retract")?[attribute: "id"] == "lobby@conference.localhost")
            await desk.close()
            await phone.close()
        }
    }

    @Test("deleting the account deletes its personal nodes")
    func accountDeletion() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password", resource: "desk")
            _ = try await alice.pubsub("set", to: nil, PubSub.publish(Self.deviceList, payload: Self.deviceListPayload([1]), options: ["pubsub#access_model": "open"]))
            await alice.close()
            let manager = AccountManager(backend: server.server.storage, hosts: ["localhost"])
            _ = try await manager.delete("alice@localhost")
            try await server.addUser("alice", password: "new-password")
            let again = try await server.login("alice", password: "new-password", resource: "desk")
            let items = try await again.pubsub("get", to: nil, PubSub.items(Self.deviceList))
            #expect(PubSub.errorCondition(items) == "item-not-found")
            await again.close()
        }
    }
}
