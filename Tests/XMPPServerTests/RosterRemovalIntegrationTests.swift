import NIOCore
import Testing
import XMPPClient
import XMPPCore

private typealias S = SubscriptionStanzas

@Suite("Roster removal (RFC 6121 §2.5.2) over real sockets")
struct RosterRemovalIntegrationTests {
    @Test("removing a subscriber sends 'unsubscribed' and 'unavailable' from each available resource")
    func removalTellsSubscriberUnavailable() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let home = try await server.login("alice", password: "a-password", resource: "home")
            let phone = try await server.login("alice", password: "a-password", resource: "phone")
            let bob = try await server.login("bob", password: "b-password", resource: "desk")
            _ = try await home.rosterItems()
            // Bob in Alice's roster first, so the approval below leaves him there.
            let bobItem = Element("item", namespace: S.rosterNamespace, attributes: [("jid", "bob@localhost")])
            #expect(try await home.iq("set", to: nil, payload: S.rosterSet(bobItem)).stanzaType == "result")
            try await home.sendPresence()
            try await phone.sendPresence()
            try await bob.sendPresence()
            _ = try await home.awaitStanza("available presence from alice@localhost/phone", where: S.isPresence(nil, fromFull: "alice@localhost/phone"))

            // Bob subscribes to Alice and sees both her resources.
            try await bob.subscribe(to: home)
            _ = try await bob.awaitStanza("available presence from alice@localhost/home", where: S.isPresence(nil, fromFull: "alice@localhost/home"))
            _ = try await bob.awaitStanza("available presence from alice@localhost/phone", where: S.isPresence(nil, fromFull: "alice@localhost/phone"))

            // Alice removes Bob: he loses the subscription and hears both resources go.
            let removal = Element("item", namespace: S.rosterNamespace, attributes: [("jid", "bob@localhost"), ("subscription", "remove")])
            #expect(try await home.iq("set", to: nil, payload: S.rosterSet(removal)).stanzaType == "result")
            _ = try await bob.awaitStanza("unsubscribed presence from alice@localhost", where: S.isPresence("unsubscribed", from: "alice@localhost"))
            _ = try await bob.awaitStanza("unavailable presence from alice@localhost/home", where: S.isPresence("unavailable", fromFull: "alice@localhost/home"))
            _ = try await bob.awaitStanza("unavailable presence from alice@localhost/phone", where: S.isPresence("unavailable", fromFull: "alice@localhost/phone"))
            for client in [home, phone, bob] { await client.close() }
        }
    }
}
