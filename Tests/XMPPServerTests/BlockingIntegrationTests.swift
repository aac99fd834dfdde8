import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

private let blocking = "urn:xmpp:blocking"
private let privacy = "jabber:iq:privacy"

/// Alice, Bob and Carol, each logged in and available; Alice and Bob subscribed both ways.
private func threeFriends(_ server: TestServer) async throws -> (XMPPClient, XMPPClient, XMPPClient) {
    for name in ["alice", "bob", "carol"] { try await server.addUser(name, password: "\(name)-password") }
    let alice = try await server.login("alice", password: "alice-password", resource: "a")
    let bob = try await server.login("bob", password: "bob-password", resource: "b")
    let carol = try await server.login("carol", password: "carol-password", resource: "c")
    for client in [alice, bob, carol] { try await client.sendPresence() }
    for (from, to) in [(alice, bob), (bob, alice)] {
        try await from.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", to.jid.bare.description), ("type", "subscribe")]))
        _ = try await to.receive { $0.name == "presence" && $0.stanzaType == "subscribe" }
        try await to.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", from.jid.bare.description), ("type", "subscribed")]))
        _ = try await from.receive { $0.name == "presence" && $0.stanzaType == "subscribed" }
    }
    return (alice, bob, carol)
}

private func expectNothing(_ client: XMPPClient, _ predicate: @escaping (Element) -> Bool) async {
    await #expect(throws: XMPPConnection.Failure.self) {
        _ = try await client.receive(timeout: .milliseconds(300), where: predicate)
    }
}

@Suite("Blocking and privacy lists over real sockets")
struct BlockingIntegrationTests {
    @Test("a blocked contact's messages, presence and IQs do not get through, both ways")
    func blockingEnforced() async throws {
        try await withServer { server in
            let (alice, bob, carol) = try await threeFriends(server)
            let list = try await alice.iq("get", to: nil, payload: Element(name: "blocklist", namespace: blocking))
            #expect(list.child(named: "blocklist")?.elements.isEmpty == true)
            let block = Element("block", namespace: blocking, children: [Element("item", namespace: blocking, attributes: [("jid", "bob@localhost")])])
            #expect(try await alice.iq("set", to: nil, payload: block).stanzaType == "result")
            // The push reaches the resource that asked for the list.
            _ = try await alice.receive { $0.name == "iq" && $0.child(named: "block") != nil }
            // Bob, a subscriber, sees Alice go offline.
            _ = try await bob.receive { $0.name == "presence" && $0.stanzaType == "unavailable" && $0[attribute: "from"] == "alice@localhost/a" }

            // Inbound: Bob's message bounces, his IQ gets an error, his presence vanishes.
            try await bob.sendMessage(to: alice.jid, body: "let me in", id: "knock")
            let bounce = try await bob.receive { $0.id == "knock" }
            #expect(StanzaError(stanza: bounce)?.condition == .serviceUnavailable)
            let ping = try await bob.iq("get", to: alice.jid, payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            #expect(StanzaError(stanza: ping)?.condition == .serviceUnavailable)
            try await bob.sendPresence(priority: 3)
            await expectNothing(alice) { $0.name == "presence" && $0.child(named: "priority")?.text == "3" }

            // Outbound: Alice is told Bob is blocked.
            try await alice.sendMessage(to: bob.jid, body: "oops", id: "out")
            let refused = try await alice.receive { $0.id == "out" }
            let error = StanzaError(stanza: refused)
            #expect(error?.condition == .notAcceptable)
            #expect(error?.applicationCondition?.name == "blocked")
            #expect(error?.applicationCondition?.namespace == "urn:xmpp:blocking:errors")

            // Carol is not affected.
            try await carol.sendMessage(to: alice.jid, body: "hi from carol")
            #expect(try await alice.receive { $0.name == "message" }.child(named: "body")?.text == "hi from carol")

            // Unblock all: Bob gets through again.
            #expect(try await alice.iq("set", to: nil, payload: Element(name: "unblock", namespace: blocking)).stanzaType == "result")
            try await bob.sendMessage(to: alice.jid, body: "back again")
            #expect(try await alice.receive { $0.name == "message" }.child(named: "body")?.text == "back again")
            for client in [alice, bob, carol] { await client.close() }
        }
    }

    @Test("the block list survives a restart")
    func blockListPersists() async throws {
        let first = try await TestServer()
        try await first.addUser("alice", password: "alice-password")
        let alice = try await first.login("alice", password: "alice-password")
        let block = Element("block", namespace: blocking, children: [Element("item", namespace: blocking, attributes: [("jid", "spam.example")])])
        _ = try await alice.iq("set", to: nil, payload: block)
        await alice.close()
        let dataDirectory = first.dataDirectory
        await first.server.shutdown()
        try await withServer(configure: { $0.dataDirectory = dataDirectory }) { server in
            let again = try await server.login("alice", password: "alice-password")
            let list = try await again.iq("get", to: nil, payload: Element(name: "blocklist", namespace: blocking))
            #expect(list.child(named: "blocklist")?.child(named: "item")?[attribute: "jid"] == "spam.example")
            await again.close()
        }
    }

    @Test("privacy lists are announced in the server's disco#info, where clients look (XEP-0016 §3)")
    func privacyInServerDisco() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let info = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let features = info.child(named: "query")?.children(named: "feature").compactMap { $0[attribute: "var"] } ?? []
            #expect(features.contains(privacy), "\(features)")
            await alice.close()
        }
    }

    @Test("a default privacy list denies messages from a group and is managed by the protocol")
    func privacyLists() async throws {
        try await withServer { server in
            let (alice, bob, carol) = try await threeFriends(server)
            // Put Carol in Alice's "Noisy" group, then deny messages from that group.
            var item = Element("item", namespace: "jabber:iq:roster", attributes: [("jid", "carol@localhost")])
            item.append(Element("group", namespace: "jabber:iq:roster", text: "Noisy"))
            _ = try await alice.iq("set", to: nil, payload: Element("query", namespace: "jabber:iq:roster", children: [item]))
            let list = Element("list", namespace: privacy, attributes: [("name", "quiet")], children: [
                Element("item", namespace: privacy, attributes: [("type", "group"), ("value", "Noisy"), ("action", "deny"), ("order", "1")], children: [Element(name: "message", namespace: privacy)])
            ])
            #expect(try await alice.iq("set", to: nil, payload: Element("query", namespace: privacy, children: [list])).stanzaType == "result")
            _ = try await alice.receive { $0.name == "iq" && $0.stanzaType == "set" && $0.child(named: "query", namespace: privacy) != nil }
            #expect(try await alice.iq("set", to: nil, payload: Element("query", namespace: privacy, children: [Element("default", namespace: privacy, attributes: [("name", "quiet")])])).stanzaType == "result")

            let names = try await alice.iq("get", to: nil, payload: Element(name: "query", namespace: privacy))
            #expect(names.child(named: "query")?.child(named: "default")?[attribute: "name"] == "quiet")
            #expect(names.child(named: "query")?.child(named: "list")?[attribute: "name"] == "quiet")

            try await carol.sendMessage(to: alice.jid, body: "noise", id: "n1")
            #expect(StanzaError(stanza: try await carol.receive { $0.id == "n1" })?.condition == .serviceUnavailable)
            try await bob.sendMessage(to: alice.jid, body: "signal")
            #expect(try await alice.receive { $0.name == "message" }.child(named: "body")?.text == "signal")

            // The default list cannot be removed while it is the default.
            let removal = try await alice.iq("set", to: nil, payload: Element("query", namespace: privacy, children: [Element("list", namespace: privacy, attributes: [("name", "quiet")])]))
            #expect(StanzaError(stanza: removal)?.condition == .conflict)
            // Activating a list that does not exist is item-not-found.
            let missing = try await alice.iq("set", to: nil, payload: Element("query", namespace: privacy, children: [Element("active", namespace: privacy, attributes: [("name", "nope")])]))
            #expect(StanzaError(stanza: missing)?.condition == .itemNotFound)
            for client in [alice, bob, carol] { await client.close() }
        }
    }
}
