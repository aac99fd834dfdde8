import Testing
import XMPPClient
import XMPPCore
import XMPPServer

@Suite("Server-to-server streams on the deadline sweep")
struct S2SInboundDeadlineTests {
    @Test("a peer that opens a stream and never authenticates gets connection-timeout")
    func unauthenticatedPeerTimesOut() async throws {
        try await withServer(configure: { configuration in
            configuration.listeners.append(ServerConfiguration.Listener(kind: .s2s, addresses: ["127.0.0.1"], port: 0, tls: .starttls))
            // Long enough for the test to read the server's features on a loaded machine.
            configuration.s2s.negotiationTimeoutSeconds = 3
            configuration.s2s.resolveDNS = false
        }) { server in
            let port = try #require(server.server.port(for: .s2s))
            let peer = try await XMPPConnection.connect(host: "127.0.0.1", port: port)
            try await peer.send(
                raw: "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' from='peer.example' version='1.0'>")
            _ = try await peer.expectStreamHeader()
            let features = try await peer.nextElement()
            #expect(features.child(named: "starttls") != nil)
            #expect(try await expectStreamError(peer) == .connectionTimeout)
        }
    }
}
