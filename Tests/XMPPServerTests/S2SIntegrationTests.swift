import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPStream

/// A TCP relay on 127.0.0.1 that binds port 0 at once and learns where to forward later.
/// Two federating servers each need the other's port before they start; a probed-and-freed
/// port could be taken in between. Instead `b.test`'s route on `a.test` points at this relay,
/// which holds its port from the start, and forwards to `b.test` once that server has bound
/// its own port 0.
final class LoopbackRelay: @unchecked Sendable {
    private let listener: any Channel
    private let target: NIOLockedValueBox<Int?>
    var port: Int { self.listener.localAddress?.port ?? 0 }

    init() async throws {
        let target = NIOLockedValueBox<Int?>(nil)
        self.target = target
        self.listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { inbound in
                guard let port = target.withLockedValue({ $0 }) else { return inbound.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
                let toInbound = RelayHandler(partner: inbound)
                return ClientBootstrap(group: inbound.eventLoop)
                    .channelInitializer { $0.pipeline.addHandler(toInbound) }
                    .connect(host: "127.0.0.1", port: port)
                    .flatMap { outbound in inbound.pipeline.addHandler(RelayHandler(partner: outbound)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func forward(to port: Int) { self.target.withLockedValue { $0 = port } }

    func stop() async { try? await self.listener.close() }

    /// Writes what one side reads to the other, and closes the other when one side closes.
    private final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let partner: any Channel
        init(partner: any Channel) { self.partner = partner }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.partner.writeAndFlush(self.unwrapInboundIn(data), promise: nil)
        }
        func channelInactive(context: ChannelHandlerContext) { self.partner.close(promise: nil) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}

/// Two federating Starling servers, `a.test` and `b.test`, on loopback with static routes.
struct FederatedPair {
    let a: TestServer
    let b: TestServer

    let relay: LoopbackRelay

    /// Each server must know the other's port before it starts: `a.test` binds port 0 and
    /// reaches `b.test` through a relay that holds its port from the start; `b.test` binds port
    /// 0 knowing `a.test`'s port, and then the relay learns `b.test`'s. Every port is bound by
    /// whoever uses it, and read back, never probed and freed.
    static func start(pinned: Bool, directTLS: Bool = false, secondDomainOnA: Bool = false, captureA: CapturedLog? = nil) async throws -> FederatedPair {
        let relay = try await LoopbackRelay()
        let dirA = NSTemporaryDirectory() + "starling-s2s-a-" + UUID().uuidString
        let dirB = NSTemporaryDirectory() + "starling-s2s-b-" + UUID().uuidString
        // Make both certificates first so each server can pin the other's.
        for (dir, hosts) in [(dirA, secondDomainOnA ? ["a.test", "a2.test"] : ["a.test"]), (dirB, ["b.test"])] {
            var configuration = ServerConfiguration()
            configuration.dataDirectory = dir
            _ = try CertificateStore.load(configuration, hosts: hosts, generateIfMissing: true)
        }
        func configure(_ configuration: inout ServerConfiguration, domain: String, dir: String, peer: String, peerPort: Int, peerDir: String) {
            configuration.hosts = domain == "a.test" && secondDomainOnA ? ["a.test", "a2.test"] : [domain]
            configuration.dataDirectory = dir
            configuration.listeners.append(ServerConfiguration.Listener(kind: .s2s, addresses: ["127.0.0.1"], port: 0, tls: directTLS ? .direct : .starttls))
            configuration.s2s.routes = [peer: "\(directTLS ? "xmpps://" : "")127.0.0.1:\(peerPort)", "unreachable.test": "127.0.0.1:1"]
            if peer == "a.test" { configuration.s2s.routes["a2.test"] = "127.0.0.1:\(peerPort)" }
            configuration.s2s.resolveDNS = false
            configuration.s2s.caFile = nil
            if pinned { configuration.s2s.pinned = [peer: peerDir + "/tls/certificate.pem"] }
        }
        let a: TestServer
        do {
            a = try await TestServer(
                configure: {
                    configure(&$0, domain: "a.test", dir: dirA, peer: "b.test", peerPort: relay.port, peerDir: dirB)
                    if captureA != nil { $0.logLevel = .info }
                },
                logger: captureA?.logger)
        } catch {
            await relay.stop()
            try? FileManager.default.removeItem(atPath: dirB)
            throw error
        }
        do {
            let portA = try #require(a.s2sPort)
            let b = try await TestServer(configure: { configure(&$0, domain: "b.test", dir: dirB, peer: "a.test", peerPort: portA, peerDir: dirA) })
            relay.forward(to: try #require(b.s2sPort))
            return FederatedPair(a: a, b: b, relay: relay)
        } catch {
            await a.stop()
            await relay.stop()
            try? FileManager.default.removeItem(atPath: dirB)
            throw error
        }
    }

    func stop() async {
        await self.a.stop()
        await self.b.stop()
        await self.relay.stop()
    }
}

/// Runs `body` against a fresh federated pair and always stops both servers.
func withFederatedPair(pinned: Bool = false, directTLS: Bool = false, secondDomainOnA: Bool = false, captureA: CapturedLog? = nil, _ body: (FederatedPair) async throws -> Void) async throws {
    let pair = try await FederatedPair.start(pinned: pinned, directTLS: directTLS, secondDomainOnA: secondDomainOnA, captureA: captureA)
    do {
        try await body(pair)
    } catch {
        await pair.stop()
        throw error
    }
    await pair.stop()
}

@Suite("Federation over real sockets")
struct S2SIntegrationTests {
    @Test("messages, subscriptions, presence and IQs cross between two servers", arguments: [false, true])
    func federate(pinned: Bool) async throws {
        let log = CapturedLog()
        try await withFederatedPair(pinned: pinned, captureA: log) { pair in
            try await pair.a.addUser("alice", password: "a-password")
            try await pair.b.addUser("bob", password: "b-password")
            let alice = try await pair.a.login("alice", password: "a-password", resource: "home")
            let bob = try await pair.b.login("bob", password: "b-password", resource: "work")
            try await alice.sendPresence()
            try await bob.sendPresence()

            try await alice.sendMessage(to: try JID("bob@b.test"), body: "hello across", id: "x1")
            let message = try await bob.receive(timeout: .seconds(20)) { $0.name == "message" }
            #expect(message.child(named: "body")?.text == "hello across")
            #expect(message[attribute: "from"] == "alice@a.test/home")
            try await bob.sendMessage(to: alice.jid, body: "hello back")
            #expect(try await alice.receive(timeout: .seconds(20)) { $0.name == "message" }.child(named: "body")?.text == "hello back")

            // A subscription handshake each way ends in both, and presence flows.
            for (from, to) in [(alice, bob), (bob, alice)] {
                try await from.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", to.jid.bare.description), ("type", "subscribe")]))
                _ = try await to.receive(timeout: .seconds(20)) { $0.name == "presence" && $0.stanzaType == "subscribe" }
                try await to.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", from.jid.bare.description), ("type", "subscribed")]))
                _ = try await from.receive(timeout: .seconds(20)) { $0.name == "presence" && $0.stanzaType == "subscribed" }
            }
            let roster = try await alice.iq("get", to: nil, payload: Element(name: "query", namespace: "jabber:iq:roster"))
            #expect(roster.child(named: "query")?.child(named: "item")?[attribute: "subscription"] == "both")
            var away = Element(name: "presence", namespace: XMPPNamespace.client)
            away.append(Element("status", namespace: XMPPNamespace.client, text: "across the wire"))
            try await bob.send(away)
            let seen = try await alice.receive(timeout: .seconds(20)) { $0.name == "presence" && $0.child(named: "status")?.text == "across the wire" }
            #expect(seen[attribute: "from"] == "bob@b.test/work")

            // IQs: ping the other server, read a vCard on it.
            let ping = try await alice.iq("get", to: try JID("b.test"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            #expect(ping.stanzaType == "result")
            let vcard = try await alice.iq("get", to: try JID("bob@b.test"), payload: Element(name: "vCard", namespace: "vcard-temp"))
            #expect(vcard.stanzaType == "result")
            await alice.close()
            await bob.close()
        }
        let method = pinned ? "sasl-external" : "dialback"
        #expect(log.text.contains("s2s peer authenticated") && log.text.contains(method))
        #expect(!log.text.contains(pinned ? "dialback" : "sasl-external"))
    }

    @Test("direct TLS between servers (XEP-0368)")
    func directTLS() async throws {
        try await withFederatedPair(pinned: true, directTLS: true) { pair in
            try await pair.a.addUser("alice", password: "a-password")
            try await pair.b.addUser("bob", password: "b-password")
            let alice = try await pair.a.login("alice", password: "a-password")
            let bob = try await pair.b.login("bob", password: "b-password")
            try await bob.sendPresence()
            try await alice.sendMessage(to: try JID("bob@b.test"), body: "over direct TLS")
            #expect(try await bob.receive(timeout: .seconds(20)) { $0.name == "message" }.child(named: "body")?.text == "over direct TLS")
            await alice.close()
            await bob.close()
        }
    }

    @Test("two local domains share one outbound stream (dialback piggybacking)")
    func piggybacking() async throws {
        try await withFederatedPair(pinned: false, secondDomainOnA: true) { pair in
            try await pair.a.addUser("alice", password: "a-password")
            let manager = AccountManager(store: pair.a.server.storage.accounts, hosts: ["a.test", "a2.test"])
            _ = try await manager.create("amy@a2.test", password: "amy-password")
            try await pair.b.addUser("bob", password: "b-password")
            let bob = try await pair.b.login("bob", password: "b-password")
            try await bob.sendPresence()
            let alice = try await pair.a.login("alice", password: "a-password")
            try await alice.sendMessage(to: try JID("bob@b.test"), body: "from a.test")
            #expect(try await bob.receive(timeout: .seconds(20)) { $0.name == "message" }.child(named: "body")?.text == "from a.test")
            var amyConfiguration = pair.a.configuration("amy", password: "amy-password")
            amyConfiguration.account = try JID("amy@a2.test")
            let amy = try await XMPPClient.login(amyConfiguration)
            try await amy.sendMessage(to: try JID("bob@b.test"), body: "from a2.test")
            let second = try await bob.receive(timeout: .seconds(20)) { $0.name == "message" }
            #expect(second.child(named: "body")?.text == "from a2.test")
            #expect(second[attribute: "from"]?.hasPrefix("amy@a2.test") == true)
            #expect(pair.a.server.statistics.outboundStreamsOpened == 1)
            for client in [alice, amy, bob] { await client.close() }
        }
    }

    @Test("an unreachable domain bounces remote-server-not-found")
    func unreachable() async throws {
        try await withFederatedPair(pinned: false) { pair in
            try await pair.a.addUser("alice", password: "a-password")
            let alice = try await pair.a.login("alice", password: "a-password")
            try await alice.sendMessage(to: try JID("someone@unreachable.test"), body: "hello?", id: "lost")
            let bounce = try await alice.receive(timeout: .seconds(20)) { $0.id == "lost" }
            #expect(StanzaError(stanza: bounce)?.condition == .remoteServerNotFound)
            try await alice.sendMessage(to: try JID("someone@nowhere.example"), body: "no route", id: "noroute")
            #expect(StanzaError(stanza: try await alice.receive(timeout: .seconds(20)) { $0.id == "noroute" })?.condition == .remoteServerNotFound)
            await alice.close()
        }
    }

    @Test("a peer that sends from a domain it did not authenticate gets invalid-from")
    func invalidFrom() async throws {
        try await withFederatedPair(pinned: false) { pair in
            // A fake peer authenticates as b.test by dialback (b.test confirms the key), then lies.
            let connection = try await rawS2S(to: pair, as: "b.test")
            try await connection.send(raw: "<message from='mallory@evil.test' to='alice@a.test'><body>hi</body></message>")
            #expect(try await expectStreamError(connection) == .invalidFrom)
        }
    }

    @Test("a dialback key that does not verify closes the stream with not-authorized")
    func badDialbackKey() async throws {
        try await withFederatedPair(pinned: false) { pair in
            let port = try #require(pair.a.s2sPort)
            let connection = try await XMPPConnection.connect(host: "127.0.0.1", port: port)
            try await openS2S(connection, to: "a.test", from: "b.test", tls: XMPPClientTLS(serverName: "a.test", trust: .pinned(certificatePEM: pair.a.server.certificatePEM ?? "")))
            try await connection.send(raw: "<db:result xmlns:db='jabber:server:dialback' from='b.test' to='a.test'>0123456789abcdef</db:result>")
            let result = try await connection.nextElement(timeout: .seconds(20))
            #expect(result[attribute: "type"] == "invalid")
            #expect(try await expectStreamError(connection) == .notAuthorized)
        }
    }
}

/// Opens a server-to-server stream: header, STARTTLS, header again; returns after the features.
private func openS2S(_ connection: XMPPConnection, to: String, from: String, tls: XMPPClientTLS) async throws {
    let header = "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='\(from)' to='\(to)' version='1.0'>"
    try await connection.send(raw: header)
    _ = try await connection.expectStreamHeader()
    _ = try await connection.nextElement()
    try await connection.send(raw: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    _ = try await connection.nextElement()
    try await connection.startTLS(tls)
    try await connection.send(raw: header)
    _ = try await connection.expectStreamHeader()
    _ = try await connection.nextElement()
}

/// A raw stream to a.test that has authenticated as `domain` by dialback: the key is made
/// with b.test's own secret, so when a.test asks b.test (the authoritative server) it is valid.
private func rawS2S(to pair: FederatedPair, as domain: String) async throws -> XMPPConnection {
    let port = try #require(pair.a.s2sPort)
    let connection = try await XMPPConnection.connect(host: "127.0.0.1", port: port)
    try await openS2S(connection, to: "a.test", from: domain, tls: XMPPClientTLS(serverName: "a.test", trust: .pinned(certificatePEM: pair.a.server.certificatePEM ?? "")))
    guard let streamID = try await currentStreamID(connection) else { throw XMPPConnection.Failure.unexpected("no stream id") }
    let secret = try Data(contentsOf: URL(fileURLWithPath: pair.b.dataDirectory + "/s2s-dialback-secret"))
    let key = DialbackKeys(secret: [UInt8](secret)).key(receiving: "a.test", originating: domain, streamID: streamID)
    try await connection.send(raw: "<db:result xmlns:db='jabber:server:dialback' from='\(domain)' to='a.test'>\(key)</db:result>")
    let result = try await connection.nextElement(timeout: .seconds(20))
    guard result[attribute: "type"] == "valid" else { throw XMPPConnection.Failure.unexpected("dialback refused") }
    return connection
}

private func currentStreamID(_ connection: XMPPConnection) async throws -> String? {
    connection.lastStreamHeader?[attribute: "id"]
}
