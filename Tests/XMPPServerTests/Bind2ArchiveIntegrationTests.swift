import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

private let mam = "urn:xmpp:mam:2"

/// XEP-0386 §3.2 with XEP-0313: a Bind 2 session catches up from the archive, so `<bound/>`
/// says where the archive stands and offline messages the archive holds are not replayed.
@Suite("Bind 2 and the message archive over real sockets")
struct Bind2ArchiveIntegrationTests {
    /// Sends `count` offline messages from bob to alice and waits until they are stored.
    private func sendOffline(_ server: TestServer, bodies: [String]) async throws {
        let bob = try await server.login("bob", password: "b-password", resource: "desk")
        for body in bodies { try await bob.sendMessage(to: try JID("alice@localhost"), body: body) }
        try await self.waitForOfflineCount(server, bodies.count)
        await bob.close()
    }

    private func waitForOfflineCount(_ server: TestServer, _ expected: Int) async throws {
        let alice = try JID("alice@localhost")
        for _ in 0..<200 {
            if try await server.server.storage.offline.count(for: alice) == expected { return }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        Issue.record("alice's offline queue never held \(expected) messages")
    }

    /// After initial presence: waits until the offline queue is handled (emptied), then has
    /// bob send a marker; what alice receives before the marker is what was replayed to her.
    private func messagesBeforeMarker(_ server: TestServer, alice: XMPPClient) async throws -> [String] {
        try await alice.sendPresence()
        try await self.waitForOfflineCount(server, 0)
        let bob = try await server.login("bob", password: "b-password", resource: "marker")
        try await bob.sendMessage(to: alice.jid, body: "marker")
        var bodies: [String] = []
        while true {
            let body = try await alice.receive { $0.name == "message" }.child(named: "body")?.text ?? ""
            if body == "marker" { break }
            bodies.append(body)
        }
        await bob.close()
        return bodies
    }

    @Test("<bound/> carries the archive's first and last message; archived offline messages are not replayed to a Bind 2 session")
    func boundMetadataAndNoReplay() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            try await self.sendOffline(server, bodies: ["while away 1", "while away 2"])

            let alice = try await server.login("alice", password: "a-password")
            let metadata = try #require(alice.bound?.child(named: "metadata", namespace: mam))
            let page = try await server.server.storage.archive.query(.init(limit: 10), for: try JID("alice@localhost"))
            #expect(page.items.count == 2)
            #expect(metadata.child(named: "start")?[attribute: "id"] == page.items.first?.id)
            #expect(metadata.child(named: "end")?[attribute: "id"] == page.items.last?.id)
            #expect(metadata.child(named: "end")?[attribute: "timestamp"] != nil)
            #expect(try await self.messagesBeforeMarker(server, alice: alice).isEmpty)

            // The messages are where the client looks for them: in the archive, and the
            // metadata query answers the same as <bound/> did.
            let answer = try await alice.iq("get", to: nil, payload: Element(name: "metadata", namespace: mam))
            #expect(answer.child(named: "metadata")?.child(named: "start")?[attribute: "id"] == page.items.first?.id)
            await alice.close()
        }
    }

    @Test("an empty archive gives an empty <metadata/>; an RFC 6120 bind still gets offline messages replayed")
    func legacyBindStillReplays() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let first = try await server.login("alice", password: "a-password")
            let empty = try #require(first.bound?.child(named: "metadata", namespace: mam))
            #expect(empty.elements.isEmpty)
            await first.close()

            try await self.sendOffline(server, bodies: ["for the desk"])
            let desk = try await server.login("alice", password: "a-password", resource: "desk")
            #expect(desk.bound == nil)
            #expect(try await self.messagesBeforeMarker(server, alice: desk) == ["for the desk"])
            await desk.close()
        }
    }

    @Test("offline messages the archive does not hold (prefs say never) are still delivered to a Bind 2 session")
    func unarchivedStillDelivered() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let setup = try await server.login("alice", password: "a-password")
            _ = try await setup.iq("set", to: nil, payload: Element("prefs", namespace: mam, attributes: [("default", "never")]))
            await setup.close()

            try await self.sendOffline(server, bodies: ["not archived"])
            let alice = try await server.login("alice", password: "a-password")
            #expect(try await self.messagesBeforeMarker(server, alice: alice) == ["not archived"])
            await alice.close()
        }
    }

    @Test("with the archive module off, Bind 2 has no <metadata/> and offline messages are delivered")
    func archiveOff() async throws {
        try await withServer(configure: { $0.modules.archive = false }) { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            try await self.sendOffline(server, bodies: ["no archive here"])
            let alice = try await server.login("alice", password: "a-password")
            #expect(alice.bound != nil)
            #expect(alice.bound?.child(named: "metadata", namespace: mam) == nil)
            #expect(try await self.messagesBeforeMarker(server, alice: alice) == ["no archive here"])
            await alice.close()
        }
    }
}
