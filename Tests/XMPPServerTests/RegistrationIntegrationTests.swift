import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer

private let register = "jabber:iq:register"

/// An encrypted, unauthenticated stream: the state in which XEP-0077 registration happens.
private func encryptedStream(_ server: TestServer) async throws -> (XMPPConnection, Element) {
    let (connection, _) = try await server.rawStream()
    try await connection.send(raw: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    _ = try await connection.nextElement()
    try await connection.startTLS(server.tls)
    try await connection.openStream(to: "localhost")
    _ = try await connection.expectStreamHeader()
    return (connection, try await connection.nextElement())
}

private func registration(_ username: String, _ password: String, id: String) -> Element {
    Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", id)], children: [
        Element("query", namespace: register, children: [Element("username", namespace: register, text: username), Element("password", namespace: register, text: password)])
    ])
}

@Suite("In-band registration (XEP-0077) and server pings (XEP-0199)")
struct RegistrationIntegrationTests {
    @Test("open registration is off by default: only an invitation's holder registers, and with invitations off nothing is offered")
    func offByDefault() async throws {
        try await withServer { server in
            let (connection, features) = try await encryptedStream(server)
            #expect(features.child(named: "register", namespace: "urn:xmpp:ibr-token:0") != nil)
            try await connection.send(registration("newbie", "pw", id: "r1"))
            #expect(StanzaError(stanza: try await connection.nextElement())?.condition == .notAllowed)
        }
        try await withServer(configure: { $0.invites.enabled = false }) { server in
            let (connection, features) = try await encryptedStream(server)
            #expect(features.child(named: "register") == nil)
            try await connection.send(registration("newbie", "pw", id: "r1"))
            #expect(try await expectStreamError(connection) == .notAuthorized)
        }
    }

    @Test("register, log in, change the password, cancel")
    func lifecycle() async throws {
        try await withServer(configure: { $0.modules.registration = true }) { server in
            let (connection, features) = try await encryptedStream(server)
            #expect(features.child(named: "register", namespace: "http://jabber.org/features/iq-register") != nil)
            try await connection.send(Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("id", "form")], children: [Element(name: "query", namespace: register)]))
            let form = try await connection.nextElement()
            #expect(form.child(named: "query")?.child(named: "username") != nil)
            try await connection.send(registration("Newbie", "first-password", id: "r1"))
            #expect(try await connection.nextElement().stanzaType == "result")
            // Taken, and a name that means something else under nodeprep.
            try await connection.send(registration("newbie", "x", id: "r2"))
            #expect(StanzaError(stanza: try await connection.nextElement())?.condition == .conflict)
            try await connection.send(registration("straße", "x", id: "r3"))
            #expect(StanzaError(stanza: try await connection.nextElement())?.condition == .notAcceptable)
            await connection.close()

            let client = try await server.login("newbie", password: "first-password")
            let change = Element("query", namespace: register, children: [Element("username", namespace: register, text: "newbie"), Element("password", namespace: register, text: "second-password")])
            #expect(try await client.iq("set", to: try JID("localhost"), payload: change).stanzaType == "result")
            await client.close()
            await #expect(throws: (any Error).self) { _ = try await server.login("newbie", password: "first-password") }
            let again = try await server.login("newbie", password: "second-password")
            let remove = Element("query", namespace: register, children: [Element(name: "remove", namespace: register)])
            #expect(try await again.iq("set", to: try JID("localhost"), payload: remove).stanzaType == "result")
            #expect(try await expectStreamError(again.connection) == .notAuthorized)
            await #expect(throws: (any Error).self) { _ = try await server.login("newbie", password: "second-password") }
        }
    }

    @Test("a <remove/> without 'to' cancels the session's own account (XEP-0077 §3.2)")
    func removeWithoutTo() async throws {
        try await withServer(configure: { $0.modules.registration = true }) { server in
            try await server.addUser("leaving", password: "l-password")
            let client = try await server.login("leaving", password: "l-password")
            let remove = Element("query", namespace: register, children: [Element(name: "remove", namespace: register)])
            let reply = try await client.iq("set", to: nil, payload: remove)
            #expect(reply.stanzaType == "result", "\(reply)")
            #expect(try await expectStreamError(client.connection) == .notAuthorized)
            await #expect(throws: (any Error).self) { _ = try await server.login("leaving", password: "l-password") }
        }
    }

    @Test("registrations are limited per IP address")
    func rateLimit() async throws {
        try await withServer(configure: {
            $0.modules.registration = true
            $0.modules.registrationsPerIPPerHour = 2
        }) { server in
            let (connection, _) = try await encryptedStream(server)
            for (index, name) in ["one", "two", "three"].enumerated() {
                try await connection.send(registration(name, "pw-\(name)", id: "r\(index)"))
                let reply = try await connection.nextElement()
                if index < 2 {
                    #expect(reply.stanzaType == "result")
                } else {
                    #expect(StanzaError(stanza: reply)?.condition == .resourceConstraint)
                }
            }
            await connection.close()
        }
    }

    @Test("the server pings a quiet client and drops one that does not answer")
    func serverPings() async throws {
        try await withServer(configure: {
            // A timeout of 3 s leaves a loaded machine time to carry the answer to the first ping
            // (1 s dropped the answering client while the whole suite ran on 2 cores).
            $0.c2s.pingIntervalSeconds = 1
            $0.c2s.pingTimeoutSeconds = 3
        }) { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let ping = try await alice.receive(timeout: .seconds(5)) { $0.child(named: "ping", namespace: XMPPNamespace.ping) != nil }
            #expect(ping[attribute: "from"] == "localhost")
            // Answer once: the session stays.
            try await alice.send(ping.iqResult())
            let second = try await alice.receive(timeout: .seconds(5)) { $0.child(named: "ping", namespace: XMPPNamespace.ping) != nil }
            #expect(second.id != ping.id)
            // Then stay silent.
            #expect(try await expectStreamError(alice.connection, timeout: .seconds(10)) == .connectionTimeout)
        }
    }
}
