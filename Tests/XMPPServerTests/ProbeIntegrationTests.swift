import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPStorage

private typealias S = SubscriptionStanzas

@Suite("Presence probes (RFC 6121 §4.3) over real sockets")
struct ProbeIntegrationTests {
    @Test("a probe to a local account that does not exist is answered with 'unsubscribed'")
    func probeToMissingAccount() async throws {
        try await withServer { server in
            let alice = try await server.addUser("alice", password: "a-password")
            // A subscription left over from an account that no longer exists.
            let ghost = try JID("ghost@localhost")
            try await server.server.storage.rosters.setItem(RosterItem(jid: ghost, state: SubscriptionState(to: true)), of: alice)
            let client = try await server.login("alice", password: "a-password")
            #expect(try await client.rosterEntry("ghost@localhost")?[attribute: "subscription"] == "to")
            // Initial presence probes every contact Alice is subscribed to, the ghost included.
            try await client.sendPresence()
            let answer = try await client.awaitStanza("unsubscribed presence from ghost@localhost", where: S.isPresence("unsubscribed", from: "ghost@localhost"))
            #expect(answer[attribute: "from"] == "ghost@localhost")
            _ = try await client.awaitStanza("roster push of ghost@localhost with subscription none", where: S.isRosterPush(for: "ghost@localhost", subscription: "none"))
            await client.close()
        }
    }
}
