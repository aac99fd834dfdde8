import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPStream

private let botDomain = "bot.localhost"
private let botSecret = "a long shared secret"

private func withComponentServer(_ body: (TestServer) async throws -> Void) async throws {
    try await withServer(configure: { configuration in
        configuration.listeners.append(ServerConfiguration.Listener(kind: .component, addresses: ["127.0.0.1"], port: 0, tls: .starttls))
        configuration.components[botDomain] = ServerConfiguration.Component(secret: botSecret)
    }) { server in try await body(server) }
}

/// Opens a component stream to `domain` and sends the handshake for `secret`; returns the
/// connection and the server's answer to the handshake (or throws its stream error).
private func componentStream(_ server: TestServer, domain: String = botDomain, secret: String = botSecret) async throws -> (XMPPConnection, Element) {
    let port = try #require(server.server.port(for: .component))
    let connection = try await XMPPConnection.connect(host: "127.0.0.1", port: port)
    try await connection.send(raw: "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='\(domain)'>")
    let header = try await connection.expectStreamHeader()
    #expect(header.contentNamespace == ComponentNamespace.accept)
    #expect(header[attribute: "from"] == domain)
    let streamID = try #require(header[attribute: "id"])
    let digest = ComponentStreamStateMachine.expectedDigest(streamID: streamID, secret: secret)
    try await connection.send(raw: "<handshake>\(digest)</handshake>")
    return (connection, try await connection.nextElement())
}

private func component(_ name: String, _ attributes: [(String, String)], children: [Element] = []) -> Element {
    Element(name, namespace: ComponentNamespace.accept, attributes: attributes, children: children)
}

@Suite("External components (XEP-0114) over real sockets")
struct ComponentIntegrationTests {
    @Test("a component with the right secret is accepted, and stanzas flow both ways with a local user")
    func handshakeAndRouting() async throws {
        try await withComponentServer { server in
            let (bot, answer) = try await componentStream(server)
            #expect(answer.name == "handshake" && answer.elements.isEmpty)
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password", resource: "phone")
            try await alice.sendPresence()

            try await alice.sendMessage(to: JID("echo@\(botDomain)"), body: "ping the bot", id: "to-bot")
            let received = try await bot.nextElement()
            #expect(received.name == "message" && received.namespace == ComponentNamespace.accept)
            #expect(received[attribute: "from"] == "alice@localhost/phone")
            #expect(received.child(named: "body")?.text == "ping the bot")

            let reply = component(
                "message", [("from", "echo@\(botDomain)/r"), ("to", "alice@localhost/phone"), ("type", "chat"), ("id", "from-bot")],
                children: [Element("body", namespace: ComponentNamespace.accept, text: "pong")])
            try await bot.send(reply)
            let delivered = try await alice.receive { $0.id == "from-bot" }
            #expect(delivered[attribute: "from"] == "echo@\(botDomain)/r")
            #expect(delivered.child(named: "body")?.text == "pong")

            // The host lists the component in its items.
            let items = try await alice.iq("get", to: JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoItems))
            #expect(items.child(named: "query")?.children(named: "item").contains { $0[attribute: "jid"] == botDomain } == true)
            await bot.close()
        }
    }

    @Test("a wrong secret is refused with not-authorized, an unknown domain with host-unknown")
    func refusedHandshakes() async throws {
        try await withComponentServer { server in
            await #expect { try await componentStream(server, secret: "not the secret") } throws: { error in
                (error as? XMPPConnection.Failure)?.streamErrorCondition == .notAuthorized
            }
            let port = try #require(server.server.port(for: .component))
            let stranger = try await XMPPConnection.connect(host: "127.0.0.1", port: port)
            try await stranger.send(raw: "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='other.localhost'>")
            _ = try await stranger.expectStreamHeader()
            #expect(try await expectStreamError(stranger) == .hostUnknown)
        }
    }

    @Test("a stanza from outside the component's domain closes the stream with invalid-from")
    func invalidFrom() async throws {
        try await withComponentServer { server in
            let (bot, _) = try await componentStream(server)
            try await bot.send(component("message", [("from", "alice@localhost"), ("to", "bob@localhost")]))
            #expect(try await expectStreamError(bot) == .invalidFrom)
        }
    }

    @Test("a second connection for a connected domain is refused with conflict; the first keeps working")
    func conflict() async throws {
        try await withComponentServer { server in
            let (first, _) = try await componentStream(server)
            await #expect { try await componentStream(server) } throws: { error in
                (error as? XMPPConnection.Failure)?.streamErrorCondition == .conflict
            }
            try await first.send(component("iq", [("from", botDomain), ("to", "localhost"), ("type", "get"), ("id", "still-here")], children: [
                Element(name: "ping", namespace: XMPPNamespace.ping)
            ]))
            let pong = try await first.nextElement()
            #expect(pong.id == "still-here" && pong.stanzaType == "result")
        }
    }

    @Test("stanzas for a component that is gone bounce with service-unavailable")
    func bounceWhenDisconnected() async throws {
        try await withComponentServer { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let (bot, _) = try await componentStream(server)
            try await bot.send(raw: "</stream:stream>")
            try await bot.waitForClose()
            // The server released the domain when it closed the connection, before the client saw it close.
            try await alice.sendMessage(to: JID("echo@\(botDomain)"), body: "anyone?", id: "lost")
            let bounced = try await alice.receive { $0.id == "lost" }
            #expect(StanzaError(stanza: bounced)?.condition == .serviceUnavailable)
            let iq = try await alice.iq("get", to: JID(botDomain), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            #expect(StanzaError(stanza: iq)?.condition == .serviceUnavailable)
        }
    }

    @Test("a component may address a remote domain; without federation it is told remote-server-not-found")
    func remoteDomain() async throws {
        try await withComponentServer { server in
            let (bot, _) = try await componentStream(server)
            try await bot.send(component("message", [("from", "echo@\(botDomain)"), ("to", "someone@remote.example"), ("id", "far")]))
            let answer = try await bot.nextElement()
            #expect(answer.id == "far")
            #expect(StanzaError(stanza: answer.relabeling(namespace: ComponentNamespace.accept, to: XMPPNamespace.client))?.condition == .remoteServerNotFound)
        }
    }
}
