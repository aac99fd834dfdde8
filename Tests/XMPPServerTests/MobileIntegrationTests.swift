import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

private let mam = "urn:xmpp:mam:2"
private let rsm = "http://jabber.org/protocol/rsm"
private let carbons = "urn:xmpp:carbons:2"

extension XMPPClient {
    /// Runs a MAM query and collects its results and the closing `<fin/>`.
    fileprivate func archiveQuery(max: Int, after: String? = nil, before: String? = nil, with: String? = nil, id: String) async throws -> (bodies: [String], ids: [String], fin: Element) {
        var set = Element("set", namespace: rsm, children: [Element("max", namespace: rsm, text: String(max))])
        if let after { set.append(Element("after", namespace: rsm, text: after)) }
        if let before { set.append(Element("before", namespace: rsm, text: before)) }
        var query = Element("query", namespace: mam, attributes: [("queryid", id)])
        if let with {
            var form = Element("x", namespace: "jabber:x:data", attributes: [("type", "submit")])
            form.append(Element("field", namespace: "jabber:x:data", attributes: [("var", "FORM_TYPE"), ("type", "hidden")], children: [Element("value", namespace: "jabber:x:data", text: mam)]))
            form.append(Element("field", namespace: "jabber:x:data", attributes: [("var", "with")], children: [Element("value", namespace: "jabber:x:data", text: with)]))
            query.append(form)
        }
        query.append(set)
        let iqID = self.makeID()
        try await self.send(Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", iqID)], children: [query]))
        var bodies: [String] = []
        var ids: [String] = []
        while true {
            let stanza = try await self.receive { ($0.name == "message" && $0.child(named: "result", namespace: mam)?[attribute: "queryid"] == id) || $0.id == iqID }
            if stanza.name == "iq" {
                guard let fin = stanza.child(named: "fin", namespace: mam) else { throw StanzaError(stanza: stanza) ?? StanzaError(.undefinedCondition) }
                return (bodies, ids, fin)
            }
            let result = stanza.child(named: "result", namespace: mam)
            ids.append(result?[attribute: "id"] ?? "")
            bodies.append(result?.child(named: "forwarded")?.child(named: "message")?.child(named: "body")?.text ?? "")
        }
    }
}

@Suite("Carbons, archives and client state over real sockets")
struct MobileIntegrationTests {
    @Test("carbons copy sent and received messages to the other resources that enabled them")
    func carbonsBetweenResources() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let phone = try await server.login("alice", password: "a-password", resource: "phone")
            let laptop = try await server.login("alice", password: "a-password", resource: "laptop")
            let bob = try await server.login("bob", password: "b-password")
            for client in [phone, laptop] {
                #expect(try await client.iq("set", to: nil, payload: Element(name: "enable", namespace: carbons)).stanzaType == "result")
                try await client.sendPresence(priority: client === phone ? 5 : 1)
            }
            try await bob.sendPresence()
            // Sent from the phone: the laptop gets a <sent/> copy.
            try await phone.sendMessage(to: bob.jid, body: "from my phone")
            _ = try await bob.receive { $0.name == "message" }
            let sent = try await laptop.receive { $0.child(named: "sent", namespace: carbons) != nil }
            #expect(sent.child(named: "sent")?.child(named: "forwarded")?.child(named: "message")?.child(named: "body")?.text == "from my phone")
            #expect(sent[attribute: "from"] == "alice@localhost")
            // To the bare JID: the phone (highest priority) gets it, the laptop a <received/> copy.
            try await bob.sendMessage(to: try JID("alice@localhost"), body: "to alice")
            #expect(try await phone.receive { $0.name == "message" && $0.child(named: "body") != nil }.child(named: "body")?.text == "to alice")
            let received = try await laptop.receive { $0.child(named: "received", namespace: carbons) != nil }
            #expect(received.child(named: "received")?.child(named: "forwarded")?.child(named: "message")?.child(named: "body")?.text == "to alice")
            // <private/> opts out.
            var secret = Element("message", namespace: XMPPNamespace.client, attributes: [("to", bob.jid.description), ("type", "chat")])
            secret.append(Element("body", namespace: XMPPNamespace.client, text: "private"))
            secret.append(Element(name: "private", namespace: carbons))
            try await phone.send(secret)
            #expect(try await bob.receive { $0.name == "message" }.child(named: "private") == nil)
            await #expect(throws: XMPPConnection.Failure.self) {
                _ = try await laptop.receive(timeout: .milliseconds(300)) { $0.child(named: "sent", namespace: carbons) != nil }
            }
            for client in [phone, laptop, bob] { await client.close() }
        }
    }

    @Test("MAM pages through 250 messages in pages of 50, forwards and backwards")
    func archivePaging() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password")
            try await bob.sendPresence()
            for index in 1...250 {
                try await alice.sendMessage(to: bob.jid, body: "m\(index)")
            }
            _ = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            // The delivered copy carries the archive's stanza-id.
            let first = try await bob.receive { $0.name == "message" }
            #expect(first.child(named: "stanza-id", namespace: "urn:xmpp:sid:0")?[attribute: "by"] == "bob@localhost")

            var forward: [String] = []
            var after: String?
            for page in 1...5 {
                let (bodies, _, fin) = try await alice.archiveQuery(max: 50, after: after, id: "f\(page)")
                #expect(bodies.count == 50)
                #expect((fin[attribute: "complete"] == "true") == (page == 5))
                after = fin.child(named: "set")?.child(named: "last")?.text
                #expect(fin.child(named: "set")?.child(named: "first")?.text != nil)
                forward += bodies
            }
            #expect(forward == (1...250).map { "m\($0)" })

            var backward: [String] = []
            var before = ""
            for page in 1...5 {
                let (bodies, _, fin) = try await alice.archiveQuery(max: 50, before: before, id: "b\(page)")
                #expect(bodies.count == 50)
                #expect((fin[attribute: "complete"] == "true") == (page == 5))
                before = fin.child(named: "set")?.child(named: "first")?.text ?? ""
                backward = bodies + backward
            }
            #expect(backward == forward)
            // Bob's archive has the same conversation, filtered by peer.
            let (bobs, _, _) = try await bob.archiveQuery(max: 10, with: "alice@localhost", id: "w")
            #expect(bobs == (1...10).map { "m\($0)" })
            // An unknown ID is item-not-found.
            await #expect(throws: StanzaError.self) { _ = try await alice.archiveQuery(max: 5, after: "nope", id: "x") }
            await alice.close()
            await bob.close()
        }
    }

    @Test("a MAM get with a payload other than <query/> is refused, not answered with the form", arguments: ["fin", "result"])
    func archiveUnknownGet(_ name: String) async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let reply = try await alice.iq("get", to: nil, payload: Element(name: name, namespace: mam))
            #expect(reply.stanzaType == "error", "\(reply)")
            let condition = StanzaError(stanza: reply)?.condition
            #expect(condition == .featureNotImplemented || condition == .serviceUnavailable, "\(reply)")
            // The form itself is still there for <query/>.
            let form = try await alice.iq("get", to: nil, payload: Element(name: "query", namespace: mam))
            #expect(form.child(named: "query")?.child(named: "x", namespace: "jabber:x:data") != nil)
            await alice.close()
        }
    }

    @Test("archiving preferences apply at once: never archives nothing, always again archives")
    func archivePreferences() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password")
            try await bob.sendPresence()
            try await alice.sendMessage(to: bob.jid, body: "kept 1")
            _ = try await bob.receive { $0.name == "message" }
            let never = try await alice.iq("set", to: nil, payload: Element(name: "prefs", namespace: mam, attributes: [Attribute(name: "default", value: "never")]))
            #expect(never.child(named: "prefs")?[attribute: "default"] == "never")
            try await alice.sendMessage(to: bob.jid, body: "not kept")
            _ = try await bob.receive { $0.name == "message" }
            _ = try await alice.iq("set", to: nil, payload: Element(name: "prefs", namespace: mam, attributes: [Attribute(name: "default", value: "always")]))
            try await alice.sendMessage(to: bob.jid, body: "kept 2")
            _ = try await bob.receive { $0.name == "message" }
            let (bodies, _, _) = try await alice.archiveQuery(max: 10, id: "p")
            #expect(bodies == ["kept 1", "kept 2"])
            await alice.close()
            await bob.close()
        }
    }

    @Test("an inactive client gets presence held back and collapsed, flushed by a message")
    func clientStateIndication() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let phone = try await server.login("alice", password: "a-password", resource: "phone")
            let laptop = try await server.login("alice", password: "a-password", resource: "laptop")
            #expect(phone.streamFeatures.child(named: "csi", namespace: "urn:xmpp:csi:0") != nil)
            try await phone.sendPresence()
            _ = try await phone.receive { $0.name == "presence" }
            try await phone.send(Element(name: "inactive", namespace: "urn:xmpp:csi:0"))
            // The server handles a stream's stanzas in order: after this ping it holds the phone inactive.
            _ = try await phone.stanzasUntilPing()
            for status in ["one", "two", "three"] {
                var presence = Element(name: "presence", namespace: XMPPNamespace.client)
                presence.append(Element("status", namespace: XMPPNamespace.client, text: status))
                try await laptop.send(presence)
            }
            // The laptop's stanzas are handled in order: its message reaches the phone after all
            // three presences were routed there. Held and collapsed, the phone sees only the
            // latest presence, and it comes before the message that flushed it (not held, the
            // phone would see all three).
            try await laptop.sendMessage(to: phone.jid, body: "wake up")
            var fromLaptop: [Element] = []
            while fromLaptop.last?.name != "message" {
                fromLaptop.append(try await phone.receive { $0[attribute: "from"] == "alice@localhost/laptop" })
            }
            #expect(fromLaptop.map(\.name) == ["presence", "message"])
            #expect(fromLaptop.first?.child(named: "status")?.text == "three")
            #expect(fromLaptop.last?.child(named: "body")?.text == "wake up")
            await phone.close()
            await laptop.close()
        }
    }
}

@Suite("Push notifications (XEP-0357) with a fake app server")
struct PushIntegrationTests {
    @Test("a message for an offline or detached account notifies the app server with its publish options")
    func push() async throws {
        let log = CapturedLog()
        try await withServer(configure: { $0.logLevel = .info }, logger: log.logger) { server in
            for name in ["alice", "bob", "appserver"] { try await server.addUser(name, password: "\(name)-password") }
            // The "app server" is a client that receives the pubsub publish IQs.
            let appServer = try await server.login("appserver", password: "appserver-password", resource: "push")
            let alice = try await server.login("alice", password: "alice-password", resource: "phone")
            var options = Element("x", namespace: "jabber:x:data", attributes: [("type", "submit")])
            options.append(Element("field", namespace: "jabber:x:data", attributes: [("var", "secret")], children: [Element("value", namespace: "jabber:x:data", text: "s3cr3t")]))
            let enable = Element("enable", namespace: "urn:xmpp:push:0", attributes: [("jid", appServer.jid.description), ("node", "device-1")], children: [options])
            #expect(try await alice.iq("set", to: nil, payload: enable).stanzaType == "result")
            await alice.close()

            let bob = try await server.login("bob", password: "bob-password")
            try await bob.sendMessage(to: try JID("alice@localhost"), body: "are you there?")
            let notification = try await appServer.receive { $0.name == "iq" && $0.child(named: "pubsub") != nil }
            #expect(notification[attribute: "from"] == "alice@localhost")
            let publish = notification.child(named: "pubsub")?.child(named: "publish")
            #expect(publish?[attribute: "node"] == "device-1")
            #expect(publish?.child(named: "item")?.child(named: "notification", namespace: "urn:xmpp:push:0") != nil)
            #expect(notification.child(named: "pubsub")?.child(named: "publish-options")?.child(named: "x")?.child(named: "field")?.child(named: "value")?.text == "s3cr3t")
            try await appServer.send(notification.iqResult())

            // A session waiting for resumption triggers a notification too.
            let phone = try await server.login("alice", password: "alice-password", resource: "phone")
            try await phone.send(Element("enable", namespace: "urn:xmpp:sm:3", attributes: [("resume", "true")]))
            _ = try await phone.receive { $0.name == "enabled" }
            try await phone.sendPresence()
            _ = try await phone.receive { $0.name == "message" }
            await phone.connection.close()
            try await waitUntil("the server has seen the connection drop") { log.text.contains("connection lost; session kept for resumption") }
            try await bob.sendMessage(to: try JID("alice@localhost/phone"), body: "wake up")
            _ = try await appServer.receive { $0.name == "iq" && $0.child(named: "pubsub") != nil }
            // Disabled: no more notifications.
            let again = try await server.login("alice", password: "alice-password", resource: "tablet")
            #expect(try await again.iq("set", to: nil, payload: Element("disable", namespace: "urn:xmpp:push:0", attributes: [("jid", appServer.jid.description)])).stanzaType == "result")
            await again.close()
            try await bob.sendMessage(to: try JID("alice@localhost"), body: "quiet now")
            await #expect(throws: XMPPConnection.Failure.self) {
                _ = try await appServer.receive(timeout: .milliseconds(400)) { $0.name == "iq" && $0.child(named: "pubsub") != nil }
            }
            await appServer.close()
            await bob.close()
        }
    }
}
