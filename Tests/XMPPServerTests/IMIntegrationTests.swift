import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPServerModules

private let rosterNS = "jabber:iq:roster"

private func presence(_ type: String?, to: String) -> Element {
    var presence = Element("presence", namespace: XMPPNamespace.client, attributes: [("to", to)])
    if let type { presence[attribute: "type"] = type }
    return presence
}

private func isPresence(_ type: String?, from: String? = nil) -> (Element) -> Bool {
    { stanza in
        stanza.name == "presence" && stanza.stanzaType == type && (from == nil || stanza.from?.bare.description == from || stanza[attribute: "from"] == from)
    }
}

private func isRosterPush(for contact: String) -> (Element) -> Bool {
    { stanza in
        stanza.name == "iq" && stanza.stanzaType == "set" && stanza.child(named: "query", namespace: rosterNS)?.child(named: "item")?[attribute: "jid"] == contact
    }
}

extension XMPPClient {
    fileprivate func roster(version: String? = nil) async throws -> Element {
        var query = Element(name: "query", namespace: rosterNS)
        query[attribute: "ver"] = version
        return try await self.iq("get", to: nil, payload: query)
    }

    fileprivate func rosterItem(_ contact: String) async throws -> Element? {
        try await self.roster().child(named: "query")?.children(named: "item").first { $0[attribute: "jid"] == contact }
    }
}

@Suite("Instant messaging and presence over real sockets")
struct IMIntegrationTests {
    @Test("the subscription handshake ends in 'both' on both sides and presence flows")
    func subscriptionHandshake() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password", resource: "home")
            let bob = try await server.login("bob", password: "b-password", resource: "work")
            _ = try await alice.roster()
            _ = try await bob.roster()
            try await alice.sendPresence()
            try await bob.sendPresence()

            // Alice asks; her roster shows the pending request.
            try await alice.send(presence("subscribe", to: "bob@localhost"))
            let push = try await alice.receive(where: isRosterPush(for: "bob@localhost"))
            #expect(push.child(named: "query")?.child(named: "item")?[attribute: "ask"] == "subscribe")
            let request = try await bob.receive(where: isPresence("subscribe"))
            #expect(request[attribute: "from"] == "alice@localhost")

            // Bob approves and asks back.
            try await bob.send(presence("subscribed", to: "alice@localhost"))
            _ = try await alice.receive(where: isPresence("subscribed", from: "bob@localhost"))
            _ = try await alice.receive(where: isPresence(nil, from: "bob@localhost"))
            try await bob.send(presence("subscribe", to: "alice@localhost"))
            _ = try await alice.receive(where: isPresence("subscribe", from: "bob@localhost"))
            try await alice.send(presence("subscribed", to: "bob@localhost"))
            _ = try await bob.receive(where: isPresence("subscribed", from: "alice@localhost"))
            _ = try await bob.receive(where: isPresence(nil, from: "alice@localhost"))

            #expect(try await alice.rosterItem("bob@localhost")?[attribute: "subscription"] == "both")
            #expect(try await bob.rosterItem("alice@localhost")?[attribute: "subscription"] == "both")

            // Presence changes now reach the other side, and so does going offline.
            var away = Element(name: "presence", namespace: XMPPNamespace.client)
            away.append(Element("show", namespace: XMPPNamespace.client, text: "away"))
            try await bob.send(away)
            let seen = try await alice.receive(where: isPresence(nil, from: "bob@localhost"))
            #expect(seen.child(named: "show")?.text == "away")
            await bob.connection.close()
            let gone = try await alice.receive(where: isPresence("unavailable", from: "bob@localhost"))
            #expect(gone[attribute: "from"] == "bob@localhost/work")
            await alice.close()
        }
    }

    @Test("a request sent while the contact is offline is delivered at their next login")
    func requestWhileOffline() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            try await alice.send(presence("subscribe", to: "bob@localhost"))
            // Once the server answers a later ping it has stored the request (it handles a
            // stream's stanzas in order): Bob, who logs in next, can only get it from storage.
            _ = try await alice.stanzasUntilPing()
            let bob = try await server.login("bob", password: "b-password")
            try await bob.sendPresence()
            let request = try await bob.receive(where: isPresence("subscribe"))
            #expect(request[attribute: "from"] == "alice@localhost")
            // Until answered it is not part of Bob's roster.
            #expect(try await bob.rosterItem("alice@localhost") == nil)
            await alice.close()
            await bob.close()
        }
    }

    @Test("roster changes are pushed to every interested resource")
    func rosterPushes() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let phone = try await server.login("alice", password: "a-password", resource: "phone")
            let laptop = try await server.login("alice", password: "a-password", resource: "laptop")
            _ = try await phone.roster()
            _ = try await laptop.roster()
            var item = Element("item", namespace: rosterNS, attributes: [("jid", "carol@example.org"), ("name", "Carol")])
            item.append(Element("group", namespace: rosterNS, text: "Friends"))
            let result = try await phone.iq("set", to: nil, payload: Element("query", namespace: rosterNS, children: [item]))
            #expect(result.stanzaType == "result")
            for client in [phone, laptop] {
                let push = try await client.receive(where: isRosterPush(for: "carol@example.org"))
                let pushed = push.child(named: "query")?.child(named: "item")
                #expect(pushed?[attribute: "name"] == "Carol")
                #expect(pushed?[attribute: "subscription"] == "none")
                #expect(pushed?.child(named: "group")?.text == "Friends")
                #expect(push.child(named: "query")?[attribute: "ver"] != nil)
            }
            // Removal is pushed too.
            _ = try await laptop.iq("set", to: nil, payload: Element("query", namespace: rosterNS, children: [Element("item", namespace: rosterNS, attributes: [("jid", "carol@example.org"), ("subscription", "remove")])]))
            let removal = try await phone.receive(where: isRosterPush(for: "carol@example.org"))
            #expect(removal.child(named: "query")?.child(named: "item")?[attribute: "subscription"] == "remove")
            await phone.close()
            await laptop.close()
        }
    }

    @Test("roster versioning sends only what changed")
    func rosterVersioning() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let first = try await alice.roster()
            let version = try #require(first.child(named: "query")?[attribute: "ver"])
            _ = try await alice.iq("set", to: nil, payload: Element("query", namespace: rosterNS, children: [Element("item", namespace: rosterNS, attributes: [("jid", "dave@example.org")])]))
            _ = try await alice.receive(where: isRosterPush(for: "dave@example.org"))
            let incremental = try await alice.roster(version: version)
            #expect(incremental.stanzaType == "result")
            #expect(incremental.child(named: "query") == nil)
            let push = try await alice.receive(where: isRosterPush(for: "dave@example.org"))
            let latest = push.child(named: "query")?[attribute: "ver"]
            // Up to date: an empty result and nothing more.
            let upToDate = try await alice.roster(version: latest)
            #expect(upToDate.child(named: "query") == nil)
            await alice.close()
        }
    }

    @Test("bad roster items are refused", arguments: [
        (Element("query", namespace: rosterNS), StanzaErrorCondition.badRequest),
        (Element("query", namespace: rosterNS, children: [Element("item", namespace: rosterNS, attributes: [("jid", "a@@b")])]), .badRequest),
        (Element("query", namespace: rosterNS, children: [Element("item", namespace: rosterNS, attributes: [("jid", "a@b"), ("name", String(repeating: "n", count: 2000))])]), .notAcceptable),
        (Element("query", namespace: rosterNS, children: [Element("item", namespace: rosterNS, attributes: [("jid", "a@b")], children: [Element("group", namespace: rosterNS, text: "x"), Element("group", namespace: rosterNS, text: "x")])]), .badRequest),
    ])
    func rosterValidation(_ query: Element, _ condition: StanzaErrorCondition) async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let reply = try await alice.iq("set", to: nil, payload: query)
            #expect(StanzaError(stanza: reply)?.condition == condition)
            await alice.close()
        }
    }

    @Test("a full roster refuses new items")
    func rosterLimit() async throws {
        try await withServer(configure: { $0.limits.maxRosterItems = 1 }) { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            _ = try await alice.iq("set", to: nil, payload: Element("query", namespace: rosterNS, children: [Element("item", namespace: rosterNS, attributes: [("jid", "one@example.org")])]))
            let second = try await alice.iq("set", to: nil, payload: Element("query", namespace: rosterNS, children: [Element("item", namespace: rosterNS, attributes: [("jid", "two@example.org")])]))
            #expect(StanzaError(stanza: second)?.condition == .resourceConstraint)
            await alice.close()
        }
    }

    @Test("offline messages survive a restart and arrive in order with delay stamps")
    func offlineMessagesAcrossRestart() async throws {
        let first = try await TestServer()
        try await first.addUser("alice", password: "a-password")
        try await first.addUser("bob", password: "b-password")
        let alice = try await first.login("alice", password: "a-password")
        for index in 1...5 {
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "message \(index)", id: "m\(index)")
        }
        // A round trip after the messages: the server has processed (and stored) them in order.
        _ = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
        await alice.close()
        let dataDirectory = first.dataDirectory
        await first.server.shutdown()

        try await withServer(configure: { $0.dataDirectory = dataDirectory }) { server in
            // An RFC 6120 bind: a Bind 2 session catches up from the archive instead (XEP-0386 §3.2).
            let bob = try await server.login("bob", password: "b-password", resource: "phone")
            try await bob.sendPresence()
            var bodies: [String] = []
            for _ in 1...5 {
                let message = try await bob.receive { $0.name == "message" }
                bodies.append(message.child(named: "body")?.text ?? "")
                let delay = message.child(named: "delay", namespace: XMPPNamespace.delay)
                #expect(delay?[attribute: "stamp"]?.hasSuffix("Z") == true)
                #expect(delay?[attribute: "from"] == "localhost")
                #expect(message[attribute: "from"]?.hasPrefix("alice@localhost/") == true)
            }
            #expect(bodies == (1...5).map { "message \($0)" })
            await bob.close()
            // Delivered once: a second login finds nothing.
            let again = try await server.login("bob", password: "b-password")
            try await again.sendPresence()
            // Offline messages go out when the initial presence is handled, before the answer to
            // a ping sent after it.
            #expect(try await again.stanzasUntilPing().filter { $0.name == "message" }.isEmpty)
            await again.close()
        }
    }

    @Test("a full offline store refuses with resource-constraint")
    func offlineQuota() async throws {
        try await withServer(configure: { $0.limits.maxOfflineMessages = 2 }) { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            for index in 1...3 {
                try await alice.sendMessage(to: try JID("bob@localhost"), body: "message \(index)", id: "q\(index)")
            }
            let refusal = try await alice.receive { $0.name == "message" && $0.stanzaType == "error" }
            #expect(refusal.id == "q3")
            #expect(StanzaError(stanza: refusal)?.condition == .resourceConstraint)
            await alice.close()
        }
    }

    @Test("a probe from a subscriber after logout gets unavailable with the last-seen time")
    func probeAfterLogout() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            // Make Alice a subscriber to Bob's presence (Alice: to, Bob: from).
            let bob = try await server.login("bob", password: "b-password")
            try await bob.sendPresence()
            let alice = try await server.login("alice", password: "a-password")
            try await alice.sendPresence()
            try await alice.send(presence("subscribe", to: "bob@localhost"))
            _ = try await bob.receive(where: isPresence("subscribe"))
            try await bob.send(presence("subscribed", to: "alice@localhost"))
            _ = try await alice.receive(where: isPresence("subscribed", from: "bob@localhost"))
            await bob.close()
            _ = try await alice.receive(where: isPresence("unavailable", from: "bob@localhost"))
            await alice.close()
            // Alice comes back: her initial presence probes Bob, who is away.
            let returning = try await server.login("alice", password: "a-password")
            try await returning.sendPresence()
            let answer = try await returning.receive(where: isPresence("unavailable", from: "bob@localhost"))
            #expect(answer.child(named: "delay", namespace: XMPPNamespace.delay)?[attribute: "stamp"] != nil)
            let last = try await returning.iq("get", to: try JID("bob@localhost"), payload: Element(name: "query", namespace: "jabber:iq:last"))
            #expect(last.stanzaType == "result")
            #expect(last.child(named: "query")?[attribute: "seconds"] != nil)
            await returning.close()
        }
    }

    @Test("disco lists exactly the features of the loaded modules")
    func discoFeatures() async throws {
        for versionEnabled in [true, false] {
            try await withServer(configure: { $0.modules.version = versionEnabled }) { server in
                try await server.addUser("alice", password: "a-password")
                let alice = try await server.login("alice", password: "a-password")
                let info = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
                let features = Set(info.child(named: "query")?.children(named: "feature").compactMap { $0[attribute: "var"] } ?? [])
                #expect(features == Set(server.server.features(for: .server)))
                #expect(features.isSuperset(of: [XMPPNamespace.discoInfo, XMPPNamespace.discoItems, XMPPNamespace.ping, "urn:xmpp:blocking", "msgoffline"]))
                #expect(features.contains("jabber:iq:version") == versionEnabled)
                #expect(info.child(named: "query")?.child(named: "identity")?[attribute: "category"] == "server")
                let version = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: "jabber:iq:version"))
                #expect((version.stanzaType == "result") == versionEnabled)
                await alice.close()
            }
        }
    }

    /// XEP-0115 §5.1: identities `category/type/lang/name<` sorted, then features `feature<`
    /// sorted, SHA-1, Base64 (no extended forms here).
    private func xep0115Version(identities: [(String, String, String, String)], features: [String]) -> String {
        var text = identities.map { "\($0.0)/\($0.1)/\($0.2)/\($0.3)<" }.sorted().joined()
        text += features.sorted().map { $0 + "<" }.joined()
        return Base64.encode(SCRAMHash.sha1.hash(Array(text.utf8)))
    }

    @Test("the server's caps in the stream features match its disco#info")
    func capsMatchDisco() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let caps = alice.streamFeatures.child(named: "c", namespace: "http://jabber.org/protocol/caps")
            let info = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let query = try #require(info.child(named: "query"))
            // The verification string of XEP-0115 §5.1, computed here from the disco#info answer
            // (not with the server's own function), checked first on the XEP's worked example.
            #expect(xep0115Version(identities: [("client", "pc", "", "Exodus 0.9.1")], features: [
                "http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
                "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc",
            ]) == "QgayPKawpkPSDYmwT/WM94uAlu0=")
            let identities = query.children(named: "identity").map {
                ($0[attribute: "category"] ?? "", $0[attribute: "type"] ?? "", $0.language ?? "", $0[attribute: "name"] ?? "")
            }
            let features = query.children(named: "feature").compactMap { $0[attribute: "var"] }
            #expect(!identities.isEmpty && !features.isEmpty)
            let expected = xep0115Version(identities: identities, features: features)
            #expect(caps?[attribute: "ver"] == expected)
            #expect(caps?[attribute: "hash"] == "sha-1")
            #expect(alice.streamFeatures.child(named: "ver", namespace: "urn:xmpp:features:rosterver") != nil)
            // Ask with the caps node: the same answer.
            var nodeQuery = Element(name: "query", namespace: XMPPNamespace.discoInfo)
            nodeQuery[attribute: "node"] = "\(DiscoModule.capsNode)#\(expected)"
            let byNode = try await alice.iq("get", to: try JID("localhost"), payload: nodeQuery)
            #expect(byNode.stanzaType == "result")
            await alice.close()
        }
    }

    @Test("vCards are stored, read by others, and limited in size")
    func vcards() async throws {
        try await withServer(configure: { $0.limits.maxVCardBytes = 1024 }) { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password")
            let vcard = Element("vCard", namespace: "vcard-temp", children: [Element("FN", namespace: "vcard-temp", text: "Alice Liddell")])
            #expect(try await alice.iq("set", to: nil, payload: vcard).stanzaType == "result")
            let read = try await bob.iq("get", to: try JID("alice@localhost"), payload: Element(name: "vCard", namespace: "vcard-temp"))
            #expect(read.child(named: "vCard")?.child(named: "FN")?.text == "Alice Liddell")
            let forbidden = try await bob.iq("set", to: try JID("alice@localhost"), payload: vcard)
            #expect(StanzaError(stanza: forbidden)?.condition == .forbidden)
            let huge = Element("vCard", namespace: "vcard-temp", children: [Element("NOTE", namespace: "vcard-temp", text: String(repeating: "x", count: 2000))])
            #expect(StanzaError(stanza: try await alice.iq("set", to: nil, payload: huge))?.condition == .notAcceptable)
            await alice.close()
            await bob.close()
        }
    }

    @Test("private XML storage keeps one document per namespace for its owner")
    func privateStorage() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let bookmarks = Element("storage", namespace: "storage:bookmarks", children: [Element("conference", namespace: "storage:bookmarks", attributes: [("jid", "room@muc.example.org")])])
            #expect(try await alice.iq("set", to: nil, payload: Element("query", namespace: "jabber:iq:private", children: [bookmarks])).stanzaType == "result")
            let read = try await alice.iq("get", to: nil, payload: Element("query", namespace: "jabber:iq:private", children: [Element(name: "storage", namespace: "storage:bookmarks")]))
            #expect(read.child(named: "query")?.child(named: "storage") == bookmarks)
            let reserved = try await alice.iq("set", to: nil, payload: Element("query", namespace: "jabber:iq:private", children: [Element(name: "query", namespace: "jabber:iq:roster")]))
            #expect(StanzaError(stanza: reserved)?.condition == .notAcceptable)
            await alice.close()
        }
    }

    @Test("time and version answer; unknown account IQs do not")
    func simpleServices() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let time = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "time", namespace: "urn:xmpp:time"))
            #expect(time.child(named: "time")?.child(named: "utc")?.text.hasSuffix("Z") == true)
            let version = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: "jabber:iq:version"))
            #expect(version.child(named: "query")?.child(named: "name")?.text == "Starling")
            let uptime = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: "jabber:iq:last"))
            #expect(uptime.child(named: "query")?[attribute: "seconds"] != nil)
            let stranger = try await alice.iq("get", to: try JID("nobody@localhost"), payload: Element(name: "query", namespace: "jabber:iq:last"))
            #expect(StanzaError(stanza: stranger)?.condition == .serviceUnavailable)
            await alice.close()
        }
    }
}

@Suite("Message and presence delivery rules (RFC 6121 §8)")
struct DeliveryRulesTests {
    @Test("negative priority resources get no bare-JID messages; then the message is kept offline")
    func negativePriority() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password", resource: "shy")
            try await bob.sendPresence(priority: -1)
            _ = try await bob.receive { $0.name == "presence" }
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "to the bare JID", id: "neg")
            await #expect(throws: XMPPConnection.Failure.self) {
                _ = try await bob.receive(timeout: .milliseconds(300)) { $0.name == "message" }
            }
            // Addressed to the full JID it is delivered regardless of priority.
            try await alice.sendMessage(to: bob.jid, body: "to the full JID")
            #expect(try await bob.receive { $0.name == "message" }.child(named: "body")?.text == "to the full JID")
            await bob.close()
            let later = try await server.login("bob", password: "b-password", resource: "later")
            try await later.sendPresence()
            #expect(try await later.receive { $0.name == "message" }.child(named: "body")?.text == "to the bare JID")
            await later.close()
            await alice.close()
        }
    }

    @Test("groupchat to an account bounces, headlines go to every resource, errors are never answered")
    func messageTypes() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob1 = try await server.login("bob", password: "b-password", resource: "one")
            let bob2 = try await server.login("bob", password: "b-password", resource: "two")
            try await bob1.sendPresence(priority: 1)
            try await bob2.sendPresence(priority: 0)
            _ = try await bob1.receive { $0.name == "presence" && $0[attribute: "from"] == "bob@localhost/two" }
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "news", type: "headline")
            #expect(try await bob1.receive { $0.name == "message" }.stanzaType == "headline")
            #expect(try await bob2.receive { $0.name == "message" }.stanzaType == "headline")
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "room?", type: "groupchat", id: "gc")
            #expect(StanzaError(stanza: try await alice.receive { $0.id == "gc" })?.condition == .serviceUnavailable)
            // The same stanzas of type error, which would bounce as above (an account that does
            // not exist, a groupchat to an account), are dropped without an answer (RFC 6120
            // §8.3.1); an answer would come before the answer to a later ping.
            for (index, (to, type)) in [("nobody@localhost", "chat"), ("bob@localhost", "groupchat")].enumerated() {
                var bounce = Element("message", namespace: XMPPNamespace.client, attributes: [("to", to), ("type", type), ("id", "again\(index)")])
                bounce.append(Element("body", namespace: XMPPNamespace.client, text: "x"))
                try await alice.send(bounce)
                #expect(StanzaError(stanza: try await alice.receive { $0.id == "again\(index)" }) != nil, "\(to) \(type) bounces")
                var error = Element("message", namespace: XMPPNamespace.client, attributes: [("to", to), ("type", "error"), ("id", "error\(index)")])
                error.append(StanzaError(.serviceUnavailable).element(namespace: XMPPNamespace.client))
                try await alice.send(error)
            }
            let answers = try await alice.stanzasUntilPing().filter { $0.id?.hasPrefix("error") == true }
            #expect(answers.isEmpty, "errors were answered: \(answers)")
            for client in [alice, bob1, bob2] { await client.close() }
        }
    }

    @Test("directed presence is withdrawn when the session ends")
    func directedPresence() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password")
            try await alice.sendPresence()
            try await bob.sendPresence()
            // Not contacts: Alice tells Bob directly that she is here.
            try await alice.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", bob.jid.description)]))
            _ = try await bob.receive { $0.name == "presence" && $0[attribute: "from"] == alice.jid.description && $0.stanzaType == nil }
            await alice.connection.close()
            let gone = try await bob.receive { $0.name == "presence" && $0[attribute: "from"] == alice.jid.description }
            #expect(gone.stanzaType == "unavailable")
            await bob.close()
        }
    }
}
