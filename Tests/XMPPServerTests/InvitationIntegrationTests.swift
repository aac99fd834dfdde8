import Foundation
import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules

private let register = "jabber:iq:register"
private let preauth = "urn:xmpp:pars:0"

private func iq(_ type: String, id: String, _ payload: Element) -> Element {
    Element("iq", namespace: XMPPNamespace.client, attributes: [("type", type), ("id", id)], children: [payload])
}

private func registrationQuery(_ username: String, _ password: String) -> Element {
    Element("query", namespace: register, children: [Element("username", namespace: register, text: username), Element("password", namespace: register, text: password)])
}

private func preauthRequest(_ token: String) -> Element {
    Element("preauth", namespace: preauth, attributes: [("token", token)])
}

/// The web server of the HTTP tests, with alice as an administrator-free user and `admin`.
private func invitingServer(_ extra: @escaping (inout ServerConfiguration) -> Void = { _ in }) -> (inout ServerConfiguration) -> Void {
    { configuration in
        WebSocketIntegrationTests.webServer()(&configuration)
        configuration.admins = ["admin@localhost"]
        extra(&configuration)
    }
}

extension XMPPClient {
    /// Runs a one-step invitation command; returns its result form's fields by name.
    fileprivate func invitation(_ node: String) async throws -> [String: String] {
        let answer = try await self.command(node)
        let form = try #require(answer.child(named: "command", namespace: commandsNamespace)?.child(named: "x", namespace: "jabber:x:data"))
        var fields: [String: String] = [:]
        for field in form.children(named: "field") {
            if let name = field[attribute: "var"] { fields[name] = field.child(named: "value")?.text }
        }
        return fields
    }
}

/// The token in an invitation URI (`…;preauth=TOKEN` or `…;preauth=TOKEN;ibr=y`).
private func token(in uri: String) throws -> String {
    let after = try #require(uri.components(separatedBy: "preauth=").last)
    return String(after.prefix { $0 != ";" })
}

@Suite("Invitations (XEP-0401, XEP-0379, XEP-0445) over real sockets")
struct InvitationIntegrationTests {
    @Test("an invite link is redeemed by a new client: token, registration, and a mutual subscription with the inviter")
    func redeemedByNewClient() async throws {
        try await withServer(configure: invitingServer({ $0.invites.userInvites = .accounts })) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            _ = try await alice.rosterItems()
            #expect(try await alice.commandNodes().contains("urn:xmpp:invite#invite"))
            let fields = try await alice.invitation("urn:xmpp:invite#invite")
            let uri = try #require(fields["uri"])
            #expect(uri.hasPrefix("xmpp:alice@localhost?roster;preauth=") && uri.hasSuffix(";ibr=y"), "\(uri)")
            let token = try token(in: uri)
            let port = try #require(server.server.port(for: .http))
            #expect(fields["landing-url"] == "http://localhost:\(port)/invite/\(token)")
            #expect(fields["expire"].flatMap { ISO8601DateFormatter().date(from: $0) }.map { $0 > Date() } == true)

            let (stream, features) = try await server.encryptedRawStream()
            #expect(features.child(named: "register", namespace: "urn:xmpp:ibr-token:0") != nil)
            #expect(features.child(named: "register", namespace: "http://jabber.org/features/iq-register") != nil)
            // Without an invitation, registration is closed; a made-up token is not found.
            try await stream.send(iq("set", id: "early", registrationQuery("juliet", "juliet-password")))
            #expect(StanzaError(stanza: try await stream.nextElement())?.condition == .notAllowed)
            try await stream.send(iq("set", id: "bogus", preauthRequest(String(repeating: "0", count: 48))))
            #expect(StanzaError(stanza: try await stream.nextElement())?.condition == .itemNotFound)
            try await stream.send(iq("set", id: "token", preauthRequest(token)))
            #expect(try await stream.nextElement().stanzaType == "result")
            try await stream.send(iq("set", id: "register", registrationQuery("juliet", "juliet-password")))
            #expect(try await stream.nextElement().stanzaType == "result")

            // The inviter's roster gets the new contact, subscribed both ways, pushed.
            let push = try await alice.awaitStanza("a roster push for juliet", where: SubscriptionStanzas.isRosterPush(for: "juliet@localhost", subscription: "both"))
            #expect(SubscriptionStanzas.pushedItem(push)?[attribute: "ask"] == nil)
            let juliet = try await server.login("juliet", password: "juliet-password")
            #expect(try await juliet.rosterEntry("alice@localhost")?[attribute: "subscription"] == "both")
            // Presence flows both ways from the first login.
            try await alice.sendPresence()
            try await juliet.sendPresence()
            _ = try await juliet.awaitStanza("alice's presence", where: SubscriptionStanzas.isPresence(nil, from: "alice@localhost"))
            _ = try await alice.awaitStanza("juliet's presence", where: SubscriptionStanzas.isPresence(nil, from: "juliet@localhost"))

            // Used once, it is gone: for a second stream and for the landing page.
            let (second, _) = try await server.encryptedRawStream()
            try await second.send(iq("set", id: "again", preauthRequest(token)))
            #expect(StanzaError(stanza: try await second.nextElement())?.condition == .itemNotFound)
            #expect(try await httpRequest(port: port, method: "GET", path: "/invite/\(token)").status == 404)
            await juliet.close()
            await alice.close()
        }
    }

    @Test("the landing page of a live invitation says whose it is and links its URI; wrong methods and tokens are refused")
    func landingPage() async throws {
        try await withServer(configure: invitingServer()) { server in
            try await server.addUser("admin", password: "admin-password")
            let admin = try await server.login("admin", password: "admin-password")
            let fields = try await admin.invitation("urn:xmpp:invite#create-account")
            let uri = try #require(fields["uri"])
            #expect(uri.hasPrefix("xmpp:localhost?register;preauth="), "\(uri)")
            let port = try #require(server.server.port(for: .http))
            let path = "/invite/\(try token(in: uri))"
            let page = try await httpRequest(port: port, method: "GET", path: path)
            #expect(page.status == 200)
            #expect(page.body.contains("href=\"\(uri)\""))
            #expect(page.body.contains("Conversations"))
            #expect(page.headers["referrer-policy"] == "no-referrer")
            #expect(page.headers["cache-control"] == "no-store")
            #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)
            #expect(try await httpRequest(port: port, method: "HEAD", path: path).status == 200)
            #expect(try await httpRequest(port: port, method: "POST", path: path).status == 405)
            for wrong in ["/invite/", "/invite/zz", "/invite/..%2f..%2fetc", path + "0"] {
                #expect(try await httpRequest(port: port, method: "GET", path: wrong).status == 404, "\(wrong)")
            }
            await admin.close()
        }
    }

    @Test("XEP-0379: an existing user presenting a contact invitation is approved and asked back, without a prompt; once only")
    func preauthenticatedSubscription() async throws {
        try await withServer(configure: invitingServer()) { server in
            for name in ["alice", "bob", "carol"] { try await server.addUser(name, password: "\(name)-password") }
            let alice = try await server.login("alice", password: "alice-password")
            _ = try await alice.rosterItems()
            try await alice.sendPresence()
            // Ordinary users' invitations make contacts, not accounts (user_invites: contacts).
            let uri = try #require(try await alice.invitation("urn:xmpp:invite#invite")["uri"])
            #expect(!uri.contains("ibr=y"))
            let token = try token(in: uri)
            let (stream, _) = try await server.encryptedRawStream()
            try await stream.send(iq("set", id: "token", preauthRequest(token)))
            #expect(StanzaError(stanza: try await stream.nextElement())?.condition == .notAllowed)

            let bob = try await server.login("bob", password: "bob-password")
            _ = try await bob.rosterItems()
            // Subscription answers go to available resources (RFC 6121 §3.1.6).
            try await bob.sendPresence()
            var request = SubscriptionStanzas.presence("subscribe", to: "alice@localhost")
            request.append(preauthRequest(token))
            try await bob.send(request)
            _ = try await bob.awaitStanza("alice's approval", where: SubscriptionStanzas.isPresence("subscribed", from: "alice@localhost"))
            _ = try await bob.awaitStanza("alice's request back", where: SubscriptionStanzas.isPresence("subscribe", from: "alice@localhost"))
            try await bob.send(SubscriptionStanzas.presence("subscribed", to: "alice@localhost"))
            _ = try await alice.awaitStanza("bob subscribed both ways", where: SubscriptionStanzas.isRosterPush(for: "bob@localhost", subscription: "both"))
            #expect(alice.takeHeld(where: SubscriptionStanzas.isPresence("subscribe", from: "bob@localhost")) == nil, "alice was asked about bob")

            // The token is used up: carol's request with it is an ordinary one, which alice sees.
            let carol = try await server.login("carol", password: "carol-password")
            var again = SubscriptionStanzas.presence("subscribe", to: "alice@localhost")
            again.append(preauthRequest(token))
            try await carol.send(again)
            let carolsRequest = try await alice.awaitStanza("carol's request", where: SubscriptionStanzas.isPresence("subscribe", from: "carol@localhost"))
            // The token it carried is neither passed on nor stored.
            #expect(carolsRequest.child(named: "preauth") == nil, "\(carolsRequest)")
            // Not approved: carol is not in alice's roster.
            #expect(try await alice.rosterEntry("carol@localhost") == nil)
            await carol.close()
            await bob.close()
            await alice.close()
        }
    }

    @Test("a stream that tries token after token is closed with policy-violation")
    func guessingTokens() async throws {
        try await withServer { server in
            let (stream, _) = try await server.encryptedRawStream()
            for attempt in 1..<5 {
                try await stream.send(iq("set", id: "guess-\(attempt)", preauthRequest(String(repeating: "\(attempt)", count: 48))))
                #expect(StanzaError(stanza: try await stream.nextElement())?.condition == .itemNotFound)
            }
            try await stream.send(iq("set", id: "guess-5", preauthRequest(String(repeating: "5", count: 48))))
            #expect(StanzaError(stanza: try await stream.nextElement())?.condition == .itemNotFound)
            #expect(try await expectStreamError(stream) == .policyViolation)
        }
    }

    @Test("only administrators see and run create-account; with invitations off, nothing is offered")
    func permissionsAndSwitch() async throws {
        try await withServer(configure: invitingServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            #expect(try await alice.commandNodes().contains("urn:xmpp:invite#create-account") == false)
            let refused = try await alice.command("urn:xmpp:invite#create-account")
            #expect(StanzaError(stanza: refused)?.condition == .forbidden)
            await alice.close()
        }
        try await withServer(configure: invitingServer({ $0.invites.enabled = false })) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            #expect(try await alice.commandNodes().contains { $0.hasPrefix("urn:xmpp:invite#") } == false)
            let (stream, features) = try await server.encryptedRawStream()
            #expect(features.child(named: "register") == nil)
            try await stream.send(iq("set", id: "token", preauthRequest(String(repeating: "a", count: 48))))
            #expect(try await expectStreamError(stream) == .notAuthorized)
            await alice.close()
        }
    }
}
