import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPStream

/// A WebSocket XMPP client driven by a script of frames: what it sends, what it waits for.
actor WebSocketXMPP {
    private var received: [String] = []
    private var waiters: [(predicate: @Sendable (String) -> Bool, continuation: CheckedContinuation<String, any Error>)] = []
    /// The connection is gone: nothing more will come.
    private var closed = false

    func deliver(_ frame: String) {
        if let index = self.waiters.firstIndex(where: { $0.predicate(frame) }) {
            self.waiters.remove(at: index).continuation.resume(returning: frame)
        } else {
            self.received.append(frame)
        }
    }

    func next(_ predicate: @escaping @Sendable (String) -> Bool) async throws -> String {
        if let index = self.received.firstIndex(where: predicate) { return self.received.remove(at: index) }
        if self.closed { throw XMPPConnection.Failure.timedOut }
        return try await withCheckedThrowingContinuation { self.waiters.append((predicate, $0)) }
    }

    func failAll() {
        self.closed = true
        for waiter in self.waiters { waiter.continuation.resume(throwing: XMPPConnection.Failure.timedOut) }
        self.waiters.removeAll()
    }
}

@Suite("WebSocket (RFC 7395) and connection discovery (XEP-0156)")
struct WebSocketIntegrationTests {
    static func webServer(behindProxy: Bool = true) -> (inout ServerConfiguration) -> Void {
        { configuration in
            configuration.listeners.append(ServerConfiguration.Listener(kind: .http, addresses: ["127.0.0.1"], port: 0, tls: .none))
            configuration.http.behindTLSProxy = behindProxy
        }
    }

    /// Runs `body` with a connected WebSocket: `send` writes a frame, the actor holds what came.
    static func withWebSocket(
        port: Int, protocols: String = "xmpp", tls: TLSConfiguration? = nil, _ body: @escaping @Sendable (_ send: @escaping @Sendable (String) async throws -> Void, WebSocketXMPP) async throws -> Void
    ) async throws {
        let inbox = WebSocketXMPP()
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders[.secWebSocketProtocol] = protocols
        let failure = LockedFailure()
        let url = "\(tls == nil ? "ws" : "wss")://\(tls == nil ? "127.0.0.1" : "localhost"):\(port)/xmpp-websocket"
        try await WebSocketClient.connect(url: url, configuration: configuration, tlsConfiguration: tls, logger: Logger(label: "ws-test")) { inbound, outbound, _ in
            let reader = Task {
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    if case .text(let text) = message { await inbox.deliver(text) }
                }
                await inbox.failAll()
            }
            do {
                try await body({ try await outbound.write(.text($0)) }, inbox)
            } catch {
                failure.set(error)
            }
            try await outbound.close(.normalClosure, reason: nil)
            _ = try? await reader.value
        }
        if let error = failure.error { throw error }
    }

    @Test("host-meta and host-meta.json list the WebSocket URL; a GET without upgrade is refused")
    func discovery() async throws {
        try await withServer(configure: Self.webServer()) { server in
            let port = try #require(server.server.port(for: .http))
            let xrd = try await httpGet(port: port, path: "/.well-known/host-meta")
            #expect(xrd.status == 200 && xrd.headers["content-type"] == "application/xrd+xml")
            #expect(xrd.body.contains("rel='urn:xmpp:alt-connections:websocket' href='wss://localhost:\(port)/xmpp-websocket'"))
            #expect(xrd.headers["access-control-allow-origin"] == "*")
            let json = try await httpGet(port: port, path: "/.well-known/host-meta.json")
            #expect(json.body.contains("\"href\":\"wss://localhost:\(port)/xmpp-websocket\""))
            let plain = try await httpGet(port: port, path: "/xmpp-websocket")
            #expect(plain.status == 400)
            let missing = try await httpGet(port: port, path: "/nothing-here")
            #expect(missing.status == 404)
        }
    }

    @Test("a WebSocket client opens a stream, authenticates, binds and chats with a TCP client, then closes with <close/>")
    func login() async throws {
        try await withServer(configure: Self.webServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            try await server.addUser("bob", password: "bob-password")
            let bob = try await server.login("bob", password: "bob-password", resource: "tcp")
            try await bob.sendPresence()
            let port = try #require(server.server.port(for: .http))
            try await Self.withWebSocket(port: port) { send, inbox in
                try await send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
                let open = try await inbox.next { $0.hasPrefix("<open") }
                #expect(open.contains("xmlns='urn:ietf:params:xml:ns:xmpp-framing'") && open.contains("from='localhost'") && open.contains("version='1.0'"))
                let features = try await inbox.next { $0.contains("features") }
                #expect(features.hasPrefix("<stream:features xmlns:stream='http://etherx.jabber.org/streams'"))
                #expect(features.contains("<mechanism>PLAIN</mechanism>"))
                #expect(!features.contains("starttls"), "no STARTTLS over WebSocket")
                let credentials = Base64.encode(Array("\u{0}alice\u{0}alice-password".utf8))
                try await send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(credentials)</auth>")
                let authAnswer = try await inbox.next { $0.contains("success") || $0.contains("failure") }
                #expect(authAnswer.contains("<success"))
                try await send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
                _ = try await inbox.next { $0.hasPrefix("<open") }
                _ = try await inbox.next { $0.contains("features") && $0.contains("bind") }
                try await send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>browser</resource></bind></iq>")
                let bound = try await inbox.next { $0.contains("id='b1'") }
                #expect(bound.contains("<jid>alice@localhost/browser</jid>") && bound.hasPrefix("<iq xmlns='jabber:client'"))
                try await send("<message xmlns='jabber:client' to='bob@localhost' type='chat' id='ws-1'><body>from the browser</body></message>")
                let arrived = try await bob.receive { $0.name == "message" && $0.id == "ws-1" }
                #expect(arrived.from?.description == "alice@localhost/browser" && arrived.child(named: "body")?.text == "from the browser")
                try await bob.sendMessage(to: try JID("alice@localhost/browser"), body: "from TCP", id: "tcp-1")
                let reply = try await inbox.next { $0.contains("id='tcp-1'") }
                #expect(reply.contains("<body>from TCP</body>") && reply.contains("from='bob@localhost/tcp'"))
                try await send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
                let closeFrame = try await inbox.next { $0.hasPrefix("<close") }
                #expect(closeFrame.contains("urn:ietf:params:xml:ns:xmpp-framing"))
            }
            await bob.close()
        }
    }

    @Test("over plain HTTP not marked as behind a TLS proxy, no mechanism is offered (TLS is required before authentication)")
    func plainHTTPWithoutProxy() async throws {
        try await withServer(configure: Self.webServer(behindProxy: false)) { server in
            let port = try #require(server.server.port(for: .http))
            try await Self.withWebSocket(port: port) { send, inbox in
                try await send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
                let features = try await inbox.next { $0.contains("features") }
                #expect(!features.contains("<mechanism>"), "features over plain HTTP: \(features)")
            }
        }
    }

    @Test("a frame that is not one element ends the stream with not-well-formed; without the xmpp subprotocol there is no upgrade")
    func badInput() async throws {
        try await withServer(configure: Self.webServer()) { server in
            let port = try #require(server.server.port(for: .http))
            try await Self.withWebSocket(port: port) { send, inbox in
                try await send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
                _ = try await inbox.next { $0.contains("features") }
                try await send("<message xmlns='jabber:client'><body>one</body></message><message xmlns='jabber:client'/>")
                let error = try await inbox.next { $0.contains("error") }
                #expect(error.contains("not-well-formed"))
                _ = try await inbox.next { $0.hasPrefix("<close") }
            }
            // The same upgrade request is switched (101) with the xmpp subprotocol and answered as
            // a plain GET (400) with another one.
            func upgrade(_ subprotocol: String) -> String {
                "GET /xmpp-websocket HTTP/1.1\r\nHost: localhost:\(port)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: \(subprotocol)\r\n\r\n"
            }
            #expect(statusCode(try await rawHTTP(port: port, upgrade("xmpp"), firstLineOnly: true)) == 101)
            #expect(statusCode(try await rawHTTP(port: port, upgrade("chat"), firstLineOnly: true)) == 400)
            await #expect(throws: (any Error).self) {
                try await Self.withWebSocket(port: port, protocols: "chat") { _, _ in }
            }
            // The server is still up for others.
            #expect(try await httpGet(port: port, path: "/.well-known/host-meta").status == 200)
        }
    }

    @Test("with allowed_origins set, an upgrade from another Origin is refused and one from an allowed Origin is switched")
    func originCheck() async throws {
        try await withServer(configure: { Self.webServer()(&$0); $0.http.allowedOrigins = ["https://chat.example"] }) { server in
            let port = try #require(server.server.port(for: .http))
            func upgrade(origin: String) -> String {
                "GET /xmpp-websocket HTTP/1.1\r\nHost: localhost:\(port)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nOrigin: \(origin)\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
            }
            #expect(statusCode(try await rawHTTP(port: port, upgrade(origin: "https://chat.example"), firstLineOnly: true)) == 101)
            #expect(statusCode(try await rawHTTP(port: port, upgrade(origin: "https://evil.example"), firstLineOnly: true)) == 400)
        }
    }

    @Test("oversized frames: over the unauthenticated stanza limit a policy-violation stream error, over the frame limit the WebSocket closes")
    func oversizedFrames() async throws {
        try await withServer(configure: Self.webServer()) { server in
            let port = try #require(server.server.port(for: .http))
            try await Self.withWebSocket(port: port) { send, inbox in
                try await send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
                _ = try await inbox.next { $0.contains("features") }
                // 20 KB: within a frame, over what a client may send before authenticating.
                try await send("<message xmlns='jabber:client' to='a@localhost'><body>\(String(repeating: "x", count: 20_000))</body></message>")
                let streamError = try await inbox.next { $0.contains("error") }
                #expect(streamError.contains("policy-violation"))
                _ = try await inbox.next { $0.hasPrefix("<close") }
            }
            let closed = LockedText()
            try await Self.withWebSocket(port: port) { send, inbox in
                try await send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
                _ = try await inbox.next { $0.contains("features") }
                // Larger than any stanza may be: the WebSocket layer refuses the frame itself.
                try? await send(String(repeating: "y", count: 300_000))
                do {
                    let after = try await inbox.next { !$0.hasPrefix("<open") && !$0.contains("features") }
                    closed.set("frame: \(after.prefix(80))")
                } catch {
                    closed.set("closed")
                }
            }
            #expect(closed.text == "closed")
            #expect(try await httpGet(port: port, path: "/.well-known/host-meta").status == 200)
        }
    }
}

extension WebSocketIntegrationTests {
    /// Opens, authenticates with PLAIN and binds `resource`; returns after the bind result.
    static func logIn(_ send: @escaping @Sendable (String) async throws -> Void, _ inbox: WebSocketXMPP, user: String, password: String, resource: String) async throws {
        let open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
        try await send(open)
        _ = try await inbox.next { $0.contains("features") }
        try await send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(Base64.encode(Array("\u{0}\(user)\u{0}\(password)".utf8)))</auth>")
        let authAnswer = try await inbox.next { $0.contains("success") || $0.contains("failure") }
        #expect(authAnswer.contains("<success"))
        try await send(open)
        _ = try await inbox.next { $0.contains("features") && $0.contains("bind") }
        try await send("<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>\(resource)</resource></bind></iq>")
        _ = try await inbox.next { $0.contains("id='bind'") }
    }

    @Test("over HTTPS (wss) authentication is offered and works without any proxy setting")
    func https() async throws {
        try await withServer(configure: { configuration in
            configuration.listeners.append(ServerConfiguration.Listener(kind: .http, addresses: ["127.0.0.1"], port: 0, tls: .direct))
        }) { server in
            try await server.addUser("alice", password: "alice-password")
            let port = try #require(server.server.boundListeners.first { $0.listener.kind == .http }?.address.port)
            // The generated certificate is self-signed for the XMPP domain (not a CA BoringSSL
            // accepts as a root): the TLS itself is what this test is about.
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            try await Self.withWebSocket(port: port, tls: tls) { send, inbox in
                try await Self.logIn(send, inbox, user: "alice", password: "alice-password", resource: "secure")
                try await send("<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
                let pong = try await inbox.next { $0.contains("id='p1'") }
                #expect(pong.contains("type='result'"))
            }
        }
    }

    @Test("a session started over WebSocket is resumed over TCP (XEP-0198) with what it had not acknowledged")
    func resumeAcrossTransports() async throws {
        try await withServer(configure: Self.webServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            try await server.addUser("bob", password: "bob-password")
            let bob = try await server.login("bob", password: "bob-password", resource: "tcp")
            let port = try #require(server.server.port(for: .http))
            let previous = LockedText()
            try await Self.withWebSocket(port: port) { send, inbox in
                try await Self.logIn(send, inbox, user: "alice", password: "alice-password", resource: "web")
                try await send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
                let enabled = try await inbox.next { $0.contains("enabled") }
                let id = enabled.components(separatedBy: "id='").dropFirst().first?.components(separatedBy: "'").first ?? ""
                previous.set(id)
                try await send("<presence xmlns='jabber:client'/>")
                // The socket goes away without <close/>: the session waits for a resume.
            }
            try await bob.sendMessage(to: try JID("alice@localhost/web"), body: "while you were away", id: "away-1")
            _ = try await bob.iq("get", to: try JID("localhost"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            var configuration = server.configuration("alice", password: "alice-password", resource: "web")
            configuration.resume = (previous.text, 0)
            let resumed = try await XMPPClient.login(configuration)
            #expect(resumed.resumedWith?[attribute: "previd"] == previous.text)
            let message = try await resumed.receive { $0.name == "message" && $0.id == "away-1" }
            #expect(message.child(named: "body")?.text == "while you were away")
            await resumed.close()
            await bob.close()
        }
    }
}

extension WebSocketIntegrationTests {
    @Test("and back: a session started over TCP is resumed over WebSocket with what it had not acknowledged")
    func resumeFromTCP() async throws {
        try await withServer(configure: Self.webServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            try await server.addUser("bob", password: "bob-password")
            let bob = try await server.login("bob", password: "bob-password", resource: "tcp")
            let phone = try await server.login("alice", password: "alice-password", resource: "phone")
            try await phone.send(Element("enable", namespace: "urn:xmpp:sm:3", attributes: [("resume", "true")]))
            let enabled = try await phone.receive { $0.name == "enabled" }
            let previous = try #require(enabled[attribute: "id"])
            try await phone.sendPresence()
            // The TCP connection drops without a closing tag: the session waits for a resume.
            await phone.connection.close()
            try await bob.sendMessage(to: try JID("alice@localhost/phone"), body: "for the browser", id: "to-web")
            _ = try await bob.iq("get", to: try JID("localhost"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            let port = try #require(server.server.port(for: .http))
            try await Self.withWebSocket(port: port) { send, inbox in
                let open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
                try await send(open)
                _ = try await inbox.next { $0.contains("features") }
                try await send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(Base64.encode(Array("\u{0}alice\u{0}alice-password".utf8)))</auth>")
                let authAnswer = try await inbox.next { $0.contains("success") || $0.contains("failure") }
                #expect(authAnswer.contains("<success"))
                try await send(open)
                _ = try await inbox.next { $0.contains("features") && $0.contains("urn:xmpp:sm:3") }
                // Whether the server has seen the TCP connection go yet is a race: ask again
                // until it has (a resume of a session still attached is refused).
                var resumed = ""
                for _ in 0..<20 {
                    try await send("<resume xmlns='urn:xmpp:sm:3' previd='\(previous)' h='0'/>")
                    resumed = try await inbox.next { $0.contains("resumed") || $0.contains("failed") }
                    if resumed.contains("<resumed") { break }
                    try await Task.sleep(nanoseconds: 100_000_000)
                }
                #expect(resumed.contains("<resumed") && resumed.contains("previd='\(previous)'"))
                let message = try await inbox.next { $0.contains("id='to-web'") }
                #expect(message.contains("<body>for the browser</body>"))
            }
            await bob.close()
        }
    }
}

final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = ""
    func set(_ text: String) { self.lock.lock(); self.stored = text; self.lock.unlock() }
    var text: String { self.lock.lock(); defer { self.lock.unlock() }; return self.stored }
}

final class LockedFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    func set(_ error: any Error) { self.lock.lock(); self.stored = error; self.lock.unlock() }
    var error: (any Error)? { self.lock.lock(); defer { self.lock.unlock() }; return self.stored }
}
