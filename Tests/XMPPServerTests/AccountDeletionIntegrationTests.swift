import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPStorage

private typealias S = SubscriptionStanzas
private let register = "jabber:iq:register"

@Suite("Deleting an account ends its subscriptions (RFC 6121 §3.2, §3.3, XEP-0077 §3.2)")
struct AccountDeletionIntegrationTests {
    @Test("in-band removal tells contacts: unavailable, unsubscribed, unsubscribe, and their rosters follow")
    func inBandRemovalEndsSubscriptions() async throws {
        try await withServer(configure: { $0.modules.registration = true }) { server in
            for name in ["alice", "bob", "carol"] { try await server.addUser(name, password: "\(name)-password") }
            let alice = try await server.login("alice", password: "alice-password", resource: "home")
            let bob = try await server.login("bob", password: "bob-password")
            let carol = try await server.login("carol", password: "carol-password")
            for client in [alice, bob, carol] {
                _ = try await client.rosterItems()
                try await client.sendPresence()
            }
            // Alice and Bob: both ways. Alice to Carol: Alice sees Carol, Carol does not see Alice.
            try await bob.subscribe(to: alice)
            try await alice.subscribe(to: bob)
            try await alice.subscribe(to: carol)
            #expect(try await bob.rosterEntry("alice@localhost")?[attribute: "subscription"] == "both")
            #expect(try await carol.rosterEntry("alice@localhost")?[attribute: "subscription"] == "from")

            let remove = Element("query", namespace: register, children: [Element(name: "remove", namespace: register)])
            #expect(try await alice.iq("set", to: try JID("localhost"), payload: remove).stanzaType == "result")
            #expect(try await expectStreamError(alice.connection) == .notAuthorized)

            _ = try await bob.awaitStanza("unavailable presence from alice@localhost/home", where: S.isPresence("unavailable", fromFull: "alice@localhost/home"))
            _ = try await bob.awaitStanza("unsubscribed presence from alice@localhost", where: S.isPresence("unsubscribed", from: "alice@localhost"))
            _ = try await bob.awaitStanza("unsubscribe presence from alice@localhost", where: S.isPresence("unsubscribe", from: "alice@localhost"))
            _ = try await bob.awaitStanza("roster push of alice@localhost with subscription none", where: S.isRosterPush(for: "alice@localhost", subscription: "none"))
            #expect(try await bob.rosterEntry("alice@localhost")?[attribute: "subscription"] == "none")

            _ = try await carol.awaitStanza("unsubscribe presence from alice@localhost", where: S.isPresence("unsubscribe", from: "alice@localhost"))
            _ = try await carol.awaitStanza("roster push of alice@localhost with subscription none", where: S.isRosterPush(for: "alice@localhost", subscription: "none"))
            #expect(try await carol.rosterEntry("alice@localhost")?[attribute: "subscription"] == "none")
            await bob.close()
            await carol.close()
        }
    }

    @Test("deleting through storage (the CLI path) updates local contacts' stored rosters")
    func storageDeletionUpdatesContacts() async throws {
        let storage = InMemoryStorage()
        let manager = AccountManager(backend: storage, hosts: ["localhost"])
        let alice = try await manager.create("alice@localhost", password: "alice-password")
        let bob = try await manager.create("bob@localhost", password: "bob-password")
        let carol = try await manager.create("carol@localhost", password: "carol-password")
        let dave = try await manager.create("dave@localhost", password: "dave-password")
        let rosters = storage.rosters
        try await rosters.setItem(RosterItem(jid: bob, state: SubscriptionState(to: true, from: true)), of: alice)
        try await rosters.setItem(RosterItem(jid: carol, state: SubscriptionState(to: true)), of: alice)
        try await rosters.setItem(RosterItem(jid: dave, state: SubscriptionState(pendingOut: true)), of: alice)
        try await rosters.setItem(RosterItem(jid: alice, name: "Alice", state: SubscriptionState(to: true, from: true)), of: bob)
        try await rosters.setItem(RosterItem(jid: alice, state: SubscriptionState(from: true)), of: carol)
        try await rosters.setItem(RosterItem(jid: alice, state: SubscriptionState(pendingIn: true), inRoster: false, pendingRequest: "<presence/>"), of: dave)
        let bobVersion = try await rosters.roster(of: bob).version

        _ = try await manager.delete("alice@localhost")

        let bobItem = try #require(try await rosters.item(of: bob, contact: alice))
        #expect(bobItem.state == .none)
        #expect(bobItem.inRoster && bobItem.name == "Alice")
        #expect(try await rosters.roster(of: bob).version > bobVersion)
        #expect(try await rosters.item(of: carol, contact: alice)?.state == SubscriptionState.none)
        // A request Dave never answered is withdrawn with it.
        #expect(try await rosters.item(of: dave, contact: alice) == nil)
    }
}
