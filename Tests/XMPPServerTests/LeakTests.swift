import Testing
import XMPPClient
import XMPPCore
import XMPPServer

@Suite("Memory")
struct LeakTests {
    @Test("connection handlers are freed after their clients leave")
    func handlersFreed() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            for round in 0..<20 {
                let alice = try await server.login("alice", password: "a-password")
                let bob = try await server.login("bob", password: "b-password")
                try await alice.sendPresence()
                try await alice.sendMessage(to: bob.jid, body: "round \(round)")
                _ = try await bob.receive { $0.name == "message" }
                await alice.close()
                await bob.close()
            }
            for _ in 0..<50 where server.server.statistics.liveConnectionHandlers + server.server.statistics.liveClientStreams + server.server.statistics.liveSessions > 0 {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            #expect(server.server.statistics.liveConnectionHandlers == 0)
            #expect(server.server.statistics.liveClientStreams == 0)
            #expect(server.server.sessionCount == 0)
            #expect(server.server.statistics.liveSessions == 0)
        }
    }
}
