import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPStream

private let sm = "urn:xmpp:sm:3"
private let carbons = "urn:xmpp:carbons:2"

private func plainAuthenticate(_ username: String, _ password: String, children: [Element] = []) -> Element {
    var element = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", "PLAIN")])
    element.append(Element("initial-response", namespace: SASL2.namespace, text: Base64.encode(PLAINMessage(username: username, password: password).bytes)))
    for child in children { element.append(child) }
    return element
}

@Suite("SASL2 (XEP-0388) and Bind 2 (XEP-0386) over real sockets")
struct SASL2IntegrationTests {
    @Test("SASL2 with SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (tls-exporter) logs in and binds with Bind 2")
    func scramLogin() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let client = try await server.login("alice", password: "a-password")
            #expect(client.usedSASL2)
            #expect(client.bound != nil)
            #expect(client.jid.resourcepart?.hasPrefix("Starling/") == true)
            #expect(client.streamFeatures.child(named: "bind", namespace: XMPPNamespace.bind) == nil)
            var plus = server.configuration("alice", password: "a-password", mechanisms: [.scramSHA256Plus])
            plus.requireDowngradeProtection = true
            let bound = try await XMPPClient.login(plus)
            #expect(bound.usedSASL2 && bound.mechanism == .scramSHA256Plus && bound.channelBinding == .tlsExporter)
            // Both sessions work: a message from one reaches the other.
            try await client.sendMessage(to: bound.jid, body: "hello over SASL2")
            #expect(try await bound.receive { $0.name == "message" }.child(named: "body")?.text == "hello over SASL2")
            await client.close()
            await bound.close()
        }
    }

    @Test("Bind 2 enables carbons and stream management inline: a carbon arrives and <r/> is answered")
    func inlineCarbonsAndStreamManagement() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            var configuration = server.configuration("alice", password: "a-password")
            configuration.bindTag = "Phone"
            configuration.inlineCarbons = true
            configuration.inlineStreamManagement = true
            let phone = try await XMPPClient.login(configuration)
            #expect(phone.jid.resourcepart?.hasPrefix("Phone/") == true)
            let enabled = try #require(phone.bound?.child(named: "enabled", namespace: sm))
            #expect(enabled[attribute: "resume"] == "true" && phone.streamManagementID != nil)
            // SM is on already: the features do not offer it again.
            #expect(phone.streamFeatures.child(named: "sm", namespace: sm) == nil)
            let desk = try await server.login("alice", password: "a-password", resource: "desk")
            let bob = try await server.login("bob", password: "b-password")
            try await bob.sendMessage(to: desk.jid, body: "to the desk")
            #expect(try await desk.receive { $0.name == "message" }.child(named: "body")?.text == "to the desk")
            let carbon = try await phone.receive { $0.name == "message" && $0.child(named: "received", namespace: carbons) != nil }
            #expect(carbon.child(named: "received")?.child(named: "forwarded")?.child(named: "message")?.child(named: "body")?.text == "to the desk")
            // The carbon was counted for SM: the server asks us to acknowledge it.
            _ = try await phone.receive { $0.namespace == sm && $0.name == "r" }
            // Our <r/> is answered with what the server handled from us: nothing yet.
            try await phone.send(StreamManagementNamespace.request)
            let answer = try await phone.receive { $0.namespace == sm && $0.name == "a" }
            #expect(answer[attribute: "h"] == "0")
            await phone.close()
            await desk.close()
            await bob.close()
        }
    }

    @Test("a SASL2 + Bind 2 login takes fewer round trips than RFC 6120 SASL and binding")
    func roundTrips() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            var legacy = server.configuration("alice", password: "a-password")
            legacy.useSASL2 = false
            let old = try await XMPPClient.login(legacy)
            let new = try await server.login("alice", password: "a-password")
            #expect(!old.usedSASL2 && new.usedSASL2)
            // RFC 6120: header, STARTTLS, header, client-first, client-final, restart, bind = 7.
            // SASL2 + Bind 2: header, STARTTLS, header, client-first, client-final (bound) = 5.
            #expect(old.loginRoundTrips == 7)
            #expect(new.loginRoundTrips == 5)
            // With SM and carbons enabled inline, SASL2 still takes 5; the old way needs 9.
            var everything = server.configuration("alice", password: "a-password")
            everything.inlineCarbons = true
            everything.inlineStreamManagement = true
            let full = try await XMPPClient.login(everything)
            #expect(full.loginRoundTrips == 5 && full.streamManagementID != nil)
            await full.close()
            await old.close()
            await new.close()
        }
    }

    @Test("wrong SASL2 passwords go through the failed-login delay and lockout")
    func wrongPasswordLockout() async throws {
        try await withServer(configure: { $0.limits.authenticationLockoutFailures = 2 }) { server in
            try await server.addUser("alice", password: "a-password")
            for _ in 1...2 {
                await #expect {
                    _ = try await server.login("alice", password: "guess")
                } throws: { error in
                    guard case XMPPClient.LoginError.authenticationFailed(let failure) = error else { return false }
                    return failure == .notAuthorized
                }
            }
            await #expect {
                _ = try await server.login("alice", password: "a-password")
            } throws: { error in
                guard case XMPPClient.LoginError.authenticationFailed(let failure) = error else { return false }
                return failure == .temporaryAuthFailure
            }
            #expect(server.server.statistics.authenticationLockouts >= 1)
        }
    }

    @Test("bad input: malformed <authenticate/> is a SASL2 failure; <authenticate/> after success is a stream error")
    func badInput() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let (connection, features) = try await server.encryptedRawStream()
            #expect(features.child(named: "authentication", namespace: SASL2.namespace) != nil)
            try await connection.send(Element(name: "authenticate", namespace: SASL2.namespace))
            let failure = try await connection.nextElement()
            #expect(failure.name == "failure" && failure.namespace == SASL2.namespace)
            #expect(failure.child(named: "invalid-mechanism", namespace: XMPPNamespace.sasl) != nil)
            // Still open: a proper request succeeds, without a stream restart.
            try await connection.send(plainAuthenticate("alice", "a-password"))
            let success = try await connection.nextElement()
            #expect(success.name == "success" && success.child(named: "authorization-identifier")?.text == "alice@localhost")
            #expect(try await connection.nextElement().child(named: "bind", namespace: XMPPNamespace.bind) != nil)
            try await connection.send(plainAuthenticate("alice", "a-password"))
            #expect(try await expectStreamError(connection) == .policyViolation)
            await connection.close()
        }
    }

    @Test("the same user-agent gets the same Bind 2 resource and replaces its earlier session")
    func sameUserAgentReplaces() async throws {
        try await withServer(configure: { $0.c2s.resourceConflict = .newResource }) { server in
            try await server.addUser("alice", password: "a-password")
            var configuration = server.configuration("alice", password: "a-password")
            configuration.userAgent = SASL2.UserAgent(id: "9f1c0a4e-install", software: "Starling tests", device: "CI")
            let first = try await XMPPClient.login(configuration)
            let second = try await XMPPClient.login(configuration)
            #expect(first.jid == second.jid)
            #expect(first.jid.resourcepart?.contains("9f1c0a4e") == false)
            // The earlier session of the same client ends with <conflict/>, whatever resource_conflict says.
            #expect(try await expectStreamError(first.connection) == .conflict)
            await second.close()
            // A session that announces itself and is at once replaced (a phone reconnecting): its
            // presence goes to the account's available resources and back to itself, never to
            // the session that took its full JID, which has not announced itself.
            var replacement = try await XMPPClient.login(configuration)
            for round in 0..<20 {
                var announced = Element(name: "presence", namespace: XMPPNamespace.client)
                announced.append(Element("status", namespace: XMPPNamespace.client, text: "round \(round)"))
                try await replacement.send(announced)
                let next = try await XMPPClient.login(configuration)
                try await next.sendPresence()
                let own = try await next.receive { $0.name == "presence" && $0[attribute: "from"] == next.jid.description }
                #expect(own.child(named: "status") == nil, "round \(round): the new session got its predecessor's \(own.child(named: "status")?.text ?? "")")
                replacement = next
            }
            configuration.userAgent = SASL2.UserAgent(id: "another-install")
            let other = try await XMPPClient.login(configuration)
            #expect(other.jid != replacement.jid)
            #expect(server.server.sessionCount == 2)
            await replacement.close()
            await other.close()
        }
    }

    @Test("RFC 6120 SASL still works beside SASL2, and a server can switch SASL2 off")
    func legacyBeside() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            var legacy = server.configuration("bob", password: "b-password", resource: "old")
            legacy.useSASL2 = false
            let bob = try await XMPPClient.login(legacy)
            let alice = try await server.login("alice", password: "a-password")
            #expect(!bob.usedSASL2 && alice.usedSASL2 && bob.jid.resourcepart == "old")
            try await alice.sendMessage(to: bob.jid, body: "from SASL2 to SASL1")
            #expect(try await bob.receive { $0.name == "message" }.child(named: "body")?.text == "from SASL2 to SASL1")
            await alice.close()
            await bob.close()
        }
        try await withServer(configure: { $0.c2s.sasl2 = false }) { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password")
            #expect(!alice.usedSASL2 && alice.loginRoundTrips == 7)
            await alice.close()
        }
    }
}
