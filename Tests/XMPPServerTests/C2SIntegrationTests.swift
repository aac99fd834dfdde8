import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPStream
import XMPPSASL
import XMPPServer

@Suite("Client-to-server over real sockets")
struct C2SIntegrationTests {
    // MARK: - Login

    @Test("log in over STARTTLS with each mechanism", arguments: [
        SASLMechanismName.scramSHA1, .scramSHA256, .scramSHA512, .scramSHA1Plus, .scramSHA256Plus, .scramSHA512Plus, .plain,
    ])
    func loginWithEachMechanism(_ mechanism: SASLMechanismName) async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "wonderland")
            let client = try await server.login("alice", password: "wonderland", mechanisms: [mechanism])
            #expect(client.mechanism == mechanism)
            #expect(client.jid.bare.description == "alice@localhost")
            #expect(client.jid.resourcepart != nil)
            await client.close()
        }
    }

    @Test("log in with direct TLS (XEP-0368) and a requested resource")
    func directTLSLogin() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "wonderland")
            let client = try await XMPPClient.login(server.configuration("alice", password: "wonderland", resource: "phone", direct: true))
            #expect(client.jid.description == "alice@localhost/phone")
            await client.close()
        }
    }

    @Test("a wrong password gets not-authorized and the server keeps serving")
    func wrongPassword() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "wonderland")
            await #expect {
                _ = try await server.login("alice", password: "looking-glass")
            } throws: { error in
                guard case XMPPClient.LoginError.authenticationFailed(let failure) = error else { return false }
                return failure == .notAuthorized
            }
            // An unknown user is answered exactly like a wrong password.
            await #expect {
                _ = try await server.login("mallory", password: "whatever")
            } throws: { error in
                guard case XMPPClient.LoginError.authenticationFailed(let failure) = error else { return false }
                return failure == .notAuthorized
            }
            let client = try await server.login("alice", password: "wonderland")
            #expect(client.jid.bare.localpart == "alice")
            await client.close()
        }
    }

    @Test("too many failed attempts close the stream with policy-violation")
    func tooManyFailures() async throws {
        try await withServer(configure: { $0.limits.maxAuthenticationFailures = 2 }) { server in
            let (connection, _) = try await server.rawStream()
            try await connection.send(raw: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            #expect(try await connection.nextElement().name == "proceed")
            try await connection.startTLS(server.tls)
            try await connection.openStream(to: "localhost")
            _ = try await connection.expectStreamHeader()
            _ = try await connection.nextElement()
            let wrong = Base64.encode(PLAINMessage(username: "alice", password: "nope").bytes)
            for attempt in 1...2 {
                try await connection.send(raw: "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(wrong)</auth>")
                let failure = try await connection.nextElement()
                #expect(failure.name == "failure", "attempt \(attempt)")
                #expect(failure.child(named: "not-authorized") != nil)
            }
            #expect(try await expectStreamError(connection) == .policyViolation)
        }
    }

    // MARK: - Messages and IQs

    @Test("stream features advertise the limits enforced (XEP-0478): the smaller stanza limit before login, the larger after, and the ping interval")
    func streamLimits() async throws {
        try await withServer(configure: { configuration in
            configuration.limits.maxStanzaBytesBeforeAuthentication = 4096
            configuration.limits.maxStanzaBytes = 65536
            configuration.c2s.pingIntervalSeconds = 120
        }) { server in
            func limits(_ features: Element) -> (Int?, Int?) {
                let limits = features.child(named: "limits", namespace: StreamLimits.namespace)
                return ((limits?.child(named: "max-bytes")?.text).flatMap { Int($0) }, (limits?.child(named: "idle-seconds")?.text).flatMap { Int($0) })
            }
            let (plain, plainFeatures) = try await server.rawStream()
            #expect(limits(plainFeatures) == (4096, 120))
            await plain.close()
            let (encrypted, encryptedFeatures) = try await server.encryptedRawStream()
            #expect(limits(encryptedFeatures) == (4096, 120))
            await encrypted.close()
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            #expect(limits(alice.streamFeatures) == (65536, 120))
            await alice.close()
            // What is advertised is what is enforced: one byte over the limit ends the stream.
            let (raw, _) = try await server.rawStream()
            try await raw.send(bytes: Array(("<iq type='get' id='x'><query xmlns='jabber:iq:version'>" + String(repeating: "a", count: 4096) + "</query></iq>").utf8))
            #expect(try await expectStreamError(raw) == .policyViolation)
        }
    }

    @Test("a message to a full JID reaches that resource")
    func messageToFullJID() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password", resource: "laptop")
            try await alice.sendMessage(to: bob.jid, body: "Hello <Bob> & \"friends\"", id: "m1")
            let message = try await bob.receive { $0.name == "message" }
            #expect(message[attribute: "from"] == alice.jid.description)
            #expect(message[attribute: "to"] == "bob@localhost/laptop")
            #expect(message.id == "m1")
            #expect(message.child(named: "body")?.text == "Hello <Bob> & \"friends\"")
            await alice.close()
            await bob.close()
        }
    }

    @Test("a message to a bare JID reaches the available resources with the highest priority")
    func messageToBareJID() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bobLow = try await server.login("bob", password: "b-password", resource: "low")
            let bobHigh = try await server.login("bob", password: "b-password", resource: "high")
            try await bobLow.sendPresence(priority: 1)
            try await bobHigh.sendPresence(priority: 5)
            // Each resource sees the presence of both (RFC 6121 §4.2.2); wait until the high one is known.
            _ = try await bobLow.receive { $0.name == "presence" && $0[attribute: "from"] == bobHigh.jid.description }
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "to the bare JID")
            let message = try await bobHigh.receive { $0.name == "message" }
            #expect(message.child(named: "body")?.text == "to the bare JID")
            await #expect(throws: XMPPConnection.Failure.self) {
                _ = try await bobLow.receive(timeout: .milliseconds(300)) { $0.name == "message" }
            }
            for client in [alice, bobLow, bobHigh] { await client.close() }
        }
    }

    @Test("a message to an account that does not exist bounces service-unavailable")
    func messageToUnavailableAccount() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            try await alice.sendMessage(to: try JID("nobody@localhost"), body: "anyone?", id: "lost")
            let bounce = try await alice.receive { $0.name == "message" }
            #expect(bounce.stanzaType == "error")
            #expect(bounce.id == "lost")
            #expect(StanzaError(stanza: bounce)?.condition == .serviceUnavailable)
            await alice.close()
        }
    }

    @Test("an IQ in an unknown namespace gets service-unavailable; ping gets a result")
    func iqHandling() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let unknown = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: "urn:example:unknown"))
            #expect(unknown.stanzaType == "error")
            #expect(StanzaError(stanza: unknown)?.condition == .serviceUnavailable)
            let toAccount = try await alice.iq("get", to: nil, payload: Element(name: "query", namespace: "urn:example:unknown"))
            #expect(StanzaError(stanza: toAccount)?.condition == .serviceUnavailable)
            let ping = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            #expect(ping.stanzaType == "result")
            #expect(ping[attribute: "from"] == "localhost")
            let twoChildren = Element(
                "iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("id", "two")],
                children: [Element(name: "a", namespace: "urn:a"), Element(name: "b", namespace: "urn:b")])
            try await alice.send(twoChildren)
            let badRequest = try await alice.receive { $0.id == "two" }
            #expect(StanzaError(stanza: badRequest)?.condition == .badRequest)
            await alice.close()
        }
    }

    @Test("an IQ to an offline full JID gets service-unavailable; an error is never answered")
    func iqToOfflineResource() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            let answer = try await alice.iq("get", to: try JID("alice@localhost/gone"), payload: Element(name: "query", namespace: "urn:x"))
            #expect(StanzaError(stanza: answer)?.condition == .serviceUnavailable)
            var error = Element("message", namespace: XMPPNamespace.client, attributes: [("to", "nobody@localhost"), ("type", "error"), ("id", "e1")])
            error.append(StanzaError(.itemNotFound).element(namespace: XMPPNamespace.client))
            try await alice.send(error)
            // Whatever the server answers to the error comes before the answer to a later ping.
            #expect(try await alice.stanzasUntilPing().filter { $0.id == "e1" }.isEmpty)
            await alice.close()
        }
    }

    // MARK: - Hostile and malformed input

    @Test("an over-size stanza closes the stream with policy-violation and the server stays up")
    func oversizeStanza() async throws {
        try await withServer(configure: { $0.limits.maxStanzaBytes = 4096 }) { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            let bob = try await server.login("bob", password: "b-password")
            let big = String(repeating: "x", count: 8192)
            try await alice.connection.send(raw: "<message to='bob@localhost'><body>\(big)</body></message>")
            #expect(try await expectStreamError(alice.connection) == .policyViolation)
            try await alice.connection.waitForClose()
            // Others are unaffected.
            let carol = try await server.login("bob", password: "b-password", resource: "second")
            try await carol.sendMessage(to: bob.jid, body: "still here")
            #expect(try await bob.receive { $0.name == "message" }.child(named: "body")?.text == "still here")
            await bob.close()
            await carol.close()
        }
    }

    @Test("a stanza over the pre-authentication limit is refused before login")
    func preAuthenticationLimit() async throws {
        try await withServer { server in
            let (connection, _) = try await server.rawStream()
            try await connection.send(raw: "<x xmlns='urn:x'>" + String(repeating: "a", count: 20_000) + "</x>")
            #expect(try await expectStreamError(connection) == .policyViolation)
        }
    }

    @Test("a DOCTYPE gets restricted-xml", arguments: [
        "<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY lol 'lol'>]><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>",
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><!ENTITY x SYSTEM 'file:///etc/passwd'>",
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><!-- comment -->",
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><?php evil ?>",
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><message>&xxe;</message>",
    ])
    func restrictedXML(_ input: String) async throws {
        try await withServer { server in
            let connection = try await XMPPConnection.connect(host: "127.0.0.1", port: server.starttlsPort)
            try await connection.send(raw: input)
            var condition: StreamErrorCondition?
            for _ in 0..<4 {
                if case .element(let element) = try await connection.nextEvent(), let error = StreamError(element: element) {
                    condition = error.condition
                    break
                }
            }
            #expect(condition == .restrictedXML)
            try await connection.waitForClose()
        }
    }

    @Test("malformed XML gets not-well-formed")
    func notWellFormed() async throws {
        try await withServer { server in
            let (connection, _) = try await server.rawStream()
            try await connection.send(bytes: Array("<message><body>".utf8) + [0xC0, 0xAF] + Array("</body></message>".utf8))
            #expect(try await expectStreamError(connection) == .notWellFormed)
        }
    }

    @Test("PLAIN before TLS is refused with encryption-required")
    func plainBeforeTLS() async throws {
        try await withServer { server in
            let (connection, features) = try await server.rawStream()
            #expect(features.child(named: "starttls")?.child(named: "required") != nil)
            #expect(features.child(named: "mechanisms") == nil)
            let credentials = Base64.encode(PLAINMessage(username: "alice", password: "secret").bytes)
            try await connection.send(raw: "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(credentials)</auth>")
            let failure = try await connection.nextElement()
            #expect(failure.name == "failure")
            #expect(failure.child(named: "encryption-required") != nil)
            await connection.close()
        }
        // With TLS optional, SCRAM may be offered in plaintext but PLAIN never is.
        try await withServer(configure: { $0.tls.required = false }) { server in
            let (connection, features) = try await server.rawStream()
            let offered = features.child(named: "mechanisms")?.children(named: "mechanism").map(\.text) ?? []
            #expect(!offered.isEmpty)
            #expect(!offered.contains("PLAIN"))
            #expect(!offered.contains { $0.hasSuffix("-PLUS") })
            let credentials = Base64.encode(PLAINMessage(username: "alice", password: "secret").bytes)
            try await connection.send(raw: "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(credentials)</auth>")
            #expect(try await connection.nextElement().child(named: "encryption-required") != nil)
            await connection.close()
        }
    }

    @Test("bytes pipelined after <starttls/> are discarded, never parsed or answered")
    func starttlsInjection() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let (connection, _) = try await server.rawStream()
            let injected = "<iq type='get' id='injected' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
            try await connection.send(raw: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + injected)
            #expect(try await connection.nextElement().name == "proceed")
            try await connection.startTLS(server.tls)
            try await connection.openStream(to: "localhost")
            _ = try await connection.expectStreamHeader()
            let features = try await connection.nextElement()
            #expect(features.child(named: "mechanisms") != nil)
            // Nothing answers the injected IQ on the encrypted stream either.
            await #expect(throws: XMPPConnection.Failure.self) {
                _ = try await connection.nextElement(timeout: .milliseconds(300))
            }
            await connection.close()
        }
    }

    @Test("stanzas before authentication get not-authorized")
    func stanzaBeforeAuthentication() async throws {
        try await withServer { server in
            let (connection, _) = try await server.rawStream()
            try await connection.send(raw: "<message to='bob@localhost'><body>hi</body></message>")
            #expect(try await expectStreamError(connection) == .notAuthorized)
        }
    }

    @Test("a stream to a domain the server does not host gets host-unknown")
    func hostUnknown() async throws {
        try await withServer { server in
            let connection = try await XMPPConnection.connect(host: "127.0.0.1", port: server.starttlsPort)
            try await connection.openStream(to: "example.net")
            _ = try await connection.expectStreamHeader()
            #expect(try await expectStreamError(connection) == .hostUnknown)
        }
    }

    @Test("a stream in the wrong namespace gets invalid-namespace")
    func invalidNamespace() async throws {
        try await withServer { server in
            let connection = try await XMPPConnection.connect(host: "127.0.0.1", port: server.starttlsPort)
            try await connection.send(raw: "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
            _ = try await connection.expectStreamHeader()
            #expect(try await expectStreamError(connection) == .invalidNamespace)
        }
    }

    @Test("a stanza with someone else's from gets invalid-from")
    func spoofedFrom() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            try await alice.connection.send(raw: "<message from='bob@localhost/x' to='alice@localhost'><body>spoof</body></message>")
            #expect(try await expectStreamError(alice.connection) == .invalidFrom)
        }
    }

    @Test("a malformed 'to' gets jid-malformed")
    func malformedTo() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            try await alice.connection.send(raw: "<message to='a@b@c' id='bad'><body>x</body></message>")
            let reply = try await alice.receive { $0.id == "bad" }
            #expect(StanzaError(stanza: reply)?.condition == .jidMalformed)
            await alice.close()
        }
    }

    // MARK: - Sessions

    @Test("binding a resource in use replaces the old session with a conflict error (kick_old)")
    func resourceConflictKicksOld() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let first = try await server.login("alice", password: "a-password", resource: "desk")
            let second = try await server.login("alice", password: "a-password", resource: "desk")
            #expect(second.jid.description == "alice@localhost/desk")
            #expect(try await expectStreamError(first.connection) == .conflict)
            await second.close()
        }
    }

    @Test("binding a resource in use gives the new session another resource (new_resource)")
    func resourceConflictNewResource() async throws {
        try await withServer(configure: { $0.c2s.resourceConflict = .newResource }) { server in
            try await server.addUser("alice", password: "a-password")
            let first = try await server.login("alice", password: "a-password", resource: "desk")
            let second = try await server.login("alice", password: "a-password", resource: "desk")
            #expect(first.jid.description == "alice@localhost/desk")
            #expect(second.jid != first.jid)
            #expect(second.jid.resourcepart?.hasPrefix("desk") == true)
            await first.close()
            await second.close()
        }
    }

    @Test("</stream:stream> is answered with a clean close")
    func cleanClose() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            try await alice.connection.send(raw: "</stream:stream>")
            await #expect(throws: XMPPConnection.Failure.closed) {
                _ = try await alice.receive()
            }
            try await alice.connection.waitForClose()
        }
    }

    @Test("shutdown sends system-shutdown to every stream")
    func systemShutdown() async throws {
        let server = try await TestServer()
        try await server.addUser("alice", password: "a-password")
        let alice = try await server.login("alice", password: "a-password")
        let (raw, _) = try await server.rawStream()
        await server.stop()
        #expect(try await expectStreamError(alice.connection) == .systemShutdown)
        #expect(try await expectStreamError(raw) == .systemShutdown)
    }

    @Test("accounts persist in SQLite across a restart")
    func accountsPersist() async throws {
        let first = try await TestServer()
        try await first.addUser("alice", password: "a-password")
        let dataDirectory = first.dataDirectory
        await first.server.shutdown()
        try await withServer(configure: { $0.dataDirectory = dataDirectory }) { server in
            let alice = try await server.login("alice", password: "a-password")
            #expect(alice.jid.bare.description == "alice@localhost")
            await alice.close()
        }
    }
}

@Suite("Client certificate pinning")
struct ClientPinningTests {
    @Test("a client pinned to another certificate refuses the server")
    func wrongPin() async throws {
        let other = try await TestServer()
        let otherPEM = other.server.certificatePEM ?? ""
        await other.stop()
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            var configuration = server.configuration("alice", password: "a-password")
            configuration.security = .starttls(XMPPClientTLS(serverName: "localhost", trust: .pinned(certificatePEM: otherPEM)))
            await #expect(throws: (any Error).self) { _ = try await XMPPClient.login(configuration) }
            // The right pin works.
            let client = try await XMPPClient.login(server.configuration("alice", password: "a-password"))
            await client.close()
        }
    }
}
