import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer

private let sm = "urn:xmpp:sm:3"

extension XMPPClient {
    /// Enables XEP-0198 and returns the session's ID.
    fileprivate func enableStreamManagement() async throws -> String {
        try await self.send(Element("enable", namespace: sm, attributes: [("resume", "true")]))
        let enabled = try await self.receive { $0.namespace == sm && ($0.name == "enabled" || $0.name == "failed") }
        guard enabled.name == "enabled", let id = enabled[attribute: "id"] else { throw XMPPConnection.Failure.unexpected(enabled.name) }
        return id
    }
}

@Suite("Stream management (XEP-0198) over real sockets")
struct StreamManagementIntegrationTests {
    @Test("a cut connection resumes and gets exactly the unacknowledged messages")
    func resume() async throws {
        let log = CapturedLog()
        try await withServer(configure: { $0.logLevel = .info }, logger: log.logger) { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password", resource: "phone")
            let desk = try await server.login("bob", password: "b-password", resource: "desk")
            try await desk.sendPresence()
            #expect(bob.streamFeatures.child(named: "sm", namespace: sm) != nil)
            let id = try await bob.enableStreamManagement()
            try await bob.sendPresence()
            // The phone gets its own presence back and the desk's: two stanzas.
            _ = try await bob.receive { $0.name == "presence" && $0[attribute: "from"] == "bob@localhost/phone" }
            _ = try await bob.receive { $0.name == "presence" && $0[attribute: "from"] == "bob@localhost/desk" }
            _ = try await desk.receive { $0.name == "presence" && $0[attribute: "from"] == "bob@localhost/phone" }
            for index in 1...3 {
                try await alice.sendMessage(to: bob.jid, body: "message \(index)")
            }
            var received: [String] = []
            for _ in 1...3 { received.append(try await bob.receive { $0.name == "message" }.child(named: "body")?.text ?? "") }
            #expect(received == ["message 1", "message 2", "message 3"])
            // Bob had handled the two presences and the first message when the line went dead.
            await bob.connection.close()
            try await waitUntil("the server has seen the connection drop") { log.text.contains("connection lost; session kept for resumption") }
            var configuration = server.configuration("bob", password: "b-password")
            configuration.resume = (id, 3)
            let resumed = try await XMPPClient.login(configuration)
            #expect(resumed.resumedWith?[attribute: "previd"] == id)
            // The client resumed inside SASL2 (<resume/> in <authenticate/>, <resumed/> in <success/>).
            #expect(resumed.usedSASL2 && resumed.loginRoundTrips == 5)
            var again: [String] = []
            for _ in 1...2 { again.append(try await resumed.receive { $0.name == "message" }.child(named: "body")?.text ?? "") }
            #expect(again == ["message 2", "message 3"])
            // The session never went offline for Bob's other resource (no presence flap).
            await #expect(throws: XMPPConnection.Failure.self) {
                _ = try await desk.receive(timeout: .milliseconds(300)) { $0.name == "presence" && $0.stanzaType == "unavailable" }
            }
            try await alice.sendMessage(to: try JID("bob@localhost/phone"), body: "after resume")
            #expect(try await resumed.receive { $0.name == "message" }.child(named: "body")?.text == "after resume")
            await alice.close()
            await resumed.close()
            await desk.close()
        }
    }

    @Test("a session that is not resumed in time sends its unacknowledged messages offline, once")
    func expiry() async throws {
        try await withServer(configure: { $0.c2s.resumeTimeoutSeconds = 1 }) { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password")
            _ = try await bob.enableStreamManagement()
            try await bob.sendPresence()
            _ = try await bob.receive { $0.name == "presence" }
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "one")
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "two")
            _ = try await bob.receive { $0.name == "message" }
            _ = try await bob.receive { $0.name == "message" }
            await bob.connection.close()
            // Until the resumption window closes the session is kept; then it ends.
            #expect(server.server.sessionCount == 2)
            try await waitUntil("the detached session ends") { server.server.sessionCount == 1 }
            // An RFC 6120 bind, so offline messages are replayed (Bind 2 would fetch them from the archive).
            let back = try await server.login("bob", password: "b-password", resource: "back")
            try await back.sendPresence()
            var bodies: [String] = []
            for _ in 1...2 { bodies.append(try await back.receive { $0.name == "message" }.child(named: "body")?.text ?? "") }
            #expect(bodies == ["one", "two"])
            // Once: nothing more before the answer to a later ping.
            #expect(try await back.stanzasUntilPing().filter { $0.name == "message" }.isEmpty)
            await alice.close()
            await back.close()
        }
    }

    @Test("resuming an unknown session fails with item-not-found and binding still works")
    func unknownSession() async throws {
        try await withServer { server in
            try await server.addUser("bob", password: "b-password")
            // By hand, to stay on the same stream after <failed/> (XMPPClient.login gives up).
            let connection = try await XMPPConnection.connect(host: "127.0.0.1", port: server.starttlsPort)
            try await connection.openStream(to: server.domain)
            _ = try await connection.expectStreamHeader()
            _ = try await connection.nextElement()
            try await connection.send(Element(name: "starttls", namespace: XMPPNamespace.tls))
            #expect(try await connection.nextElement().name == "proceed")
            try await connection.startTLS(server.tls)
            try await connection.openStream(to: server.domain)
            _ = try await connection.expectStreamHeader()
            _ = try await connection.nextElement()
            let plain = Base64.encode(PLAINMessage(username: "bob", password: "b-password").bytes)
            try await connection.send(Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", "PLAIN")], text: plain))
            #expect(try await connection.nextElement().name == "success")
            try await connection.restartStream()
            try await connection.openStream(to: server.domain)
            _ = try await connection.expectStreamHeader()
            _ = try await connection.nextElement()

            try await connection.send(Element("resume", namespace: sm, attributes: [("previd", "no-such-session"), ("h", "0")]))
            let failed = try await connection.nextElement()
            #expect(failed.name == "failed" && failed.namespace == sm)
            // The condition, in the stanza-error namespace, and nothing else (XEP-0198 §5).
            #expect(failed.elements.map(\.name) == ["item-not-found"])
            #expect(failed.child(named: "item-not-found", namespace: "urn:ietf:params:xml:ns:xmpp-stanzas") != nil)

            // The stream is still usable: the client binds a resource on it instead.
            let bind = Element("bind", namespace: XMPPNamespace.bind, children: [Element("resource", namespace: XMPPNamespace.bind, text: "again")])
            try await connection.send(Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "b1")], children: [bind]))
            let bound = try await connection.nextElement()
            #expect(bound.stanzaType == "result")
            #expect(bound.child(named: "bind", namespace: XMPPNamespace.bind)?.child(named: "jid")?.text == "bob@localhost/again")
            await connection.close()
        }
    }

    @Test("<r/> is answered with the number of stanzas handled; the server asks for acks too")
    func acknowledgements() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            _ = try await alice.enableStreamManagement()
            try await alice.sendPresence()
            _ = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            try await alice.send(Element(name: "r", namespace: sm))
            let answer = try await alice.receive { $0.name == "a" && $0.namespace == sm }
            #expect(answer[attribute: "h"] == "2")
            // The server wants to know what Alice received (presence echo and the ping result).
            _ = try await alice.receive { $0.name == "r" && $0.namespace == sm }
            try await alice.send(Element("a", namespace: sm, attributes: [("h", "2")]))
            // Acknowledging more than was sent is an error.
            try await alice.send(Element("a", namespace: sm, attributes: [("h", "99")]))
            do {
                while true { _ = try await alice.receive() }
            } catch let failure as XMPPConnection.Failure {
                guard case .streamError(let error) = failure else {
                    Issue.record("expected a stream error, got \(failure)")
                    return
                }
                #expect(error.condition == .undefinedCondition)
                #expect(error.applicationCondition?.name == "handled-count-too-high")
            }
        }
    }
}
