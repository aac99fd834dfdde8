import NIOCore
import Testing
import XMPPClient
import XMPPCore

private typealias S = SubscriptionStanzas

@Suite("Subscription pre-approval (RFC 6121 §3.4) over real sockets")
struct PreApprovalIntegrationTests {
    @Test("a pre-approval creates a visible item with approved='true', then 'from' once the contact subscribes")
    func preApprovalOfUnknownContact() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password")
            #expect(alice.streamFeatures.child(named: "sub", namespace: "urn:xmpp:features:pre-approval") != nil)
            #expect(try await alice.rosterItems().isEmpty)
            try await alice.sendPresence()

            // Bob is not in Alice's roster: the pre-approval adds him, pushed and listed.
            try await alice.send(S.presence("subscribed", to: "bob@localhost"))
            let push = try await alice.awaitStanza("roster push of bob@localhost", where: S.isRosterPush(for: "bob@localhost"))
            #expect(S.pushedItem(push)?[attribute: "subscription"] == "none")
            #expect(S.pushedItem(push)?[attribute: "approved"] == "true")
            let listed = try #require(try await alice.rosterEntry("bob@localhost"))
            #expect(listed[attribute: "subscription"] == "none")
            #expect(listed[attribute: "approved"] == "true")

            // Bob subscribes: approved at once, and Alice sees the item become 'from'.
            let bob = try await server.login("bob", password: "b-password")
            try await bob.sendPresence()
            try await bob.send(S.presence("subscribe", to: "alice@localhost"))
            _ = try await bob.awaitStanza("subscribed presence from alice@localhost", where: S.isPresence("subscribed", from: "alice@localhost"))
            _ = try await bob.awaitStanza("available presence from alice@localhost", where: S.isPresence(nil, from: "alice@localhost"))
            let fromPush = try await alice.awaitStanza("roster push of bob@localhost with subscription from", where: S.isRosterPush(for: "bob@localhost", subscription: "from"))
            #expect(S.pushedItem(fromPush)?[attribute: "approved"] == nil)
            #expect(try await alice.rosterEntry("bob@localhost")?[attribute: "subscription"] == "from")

            // A pre-approved item can be removed like any other.
            try await alice.send(S.presence("subscribed", to: "carol@example.org"))
            _ = try await alice.awaitStanza("roster push of carol@example.org", where: S.isRosterPush(for: "carol@example.org"))
            let removal = Element("item", namespace: S.rosterNamespace, attributes: [("jid", "carol@example.org"), ("subscription", "remove")])
            #expect(try await alice.iq("set", to: nil, payload: S.rosterSet(removal)).stanzaType == "result")
            #expect(try await alice.rosterEntry("carol@example.org") == nil)
            await alice.close()
            await bob.close()
        }
    }
}
