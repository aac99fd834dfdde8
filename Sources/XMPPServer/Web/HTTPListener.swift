import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import XMPPCore
import XMPPStream

/// One `kind: http` listener on one address: WebSocket streams (RFC 7395) at
/// `/xmpp-websocket`, BOSH (XEP-0206) at `/http-bind` and connection discovery (XEP-0156) at
/// `/.well-known/host-meta`, served by Hummingbird on the server's event loops.
struct HTTPListener {
    static let webSocketPath = "/xmpp-websocket"

    let core: ServerCore
    let bosh: BOSHSessions
    /// HTTPS with the server's certificate (the current one at each handshake); nil for plain HTTP.
    let certificate: ServerCertificate?
    let secure: Bool
    let shuttingDown: NIOLockedValueBox<Bool>
    let logger: Logger
    /// Set on a `kind: admin` listener, which serves the admin API and the admin web UI and
    /// nothing else.
    var adminAPI: AdminAPIMiddleware? = nil
    var adminWebUI: AdminWebUI? = nil

    /// Starts serving; returns the listening channel once it is bound, and the task that runs
    /// the server until cancelled.
    func start(host: String, port: Int, group: any EventLoopGroup) async throws -> (channel: any Channel, task: Task<Void, Never>) {
        if let adminAPI { return try await self.startAdmin(adminAPI, host: host, port: port, group: group) }
        let router = Hummingbird.Router(context: HTTPRequestContext.self)
        // First, so that module routes (XEP-0363 upload) see every request under their prefix.
        ModuleRouteMiddleware.install(on: router, core: self.core)
        let secure = self.secure
        router.get("/.well-known/host-meta") { request, _ in
            Self.response(HostMeta.xrd(Self.connectionURLs(request, secure: secure)), type: "application/xrd+xml")
        }
        router.get("/.well-known/host-meta.json") { request, _ in
            Self.response(HostMeta.json(Self.connectionURLs(request, secure: secure)), type: "application/json")
        }
        router.get(RouterPath(stringLiteral: Self.webSocketPath)) { _, _ in
            // Only an upgrade with the xmpp subprotocol reaches a stream (RFC 7395 §3.1).
            Self.response("Open a WebSocket with the subprotocol xmpp here.\n", type: "text/plain; charset=utf-8", status: .badRequest)
        }

        let core = self.core
        let settings = core.configuration.http
        let negotiationTimeout = TimeAmount.seconds(Int64(core.configuration.limits.negotiationTimeoutSeconds))
        // Shorter than the idle timeout, so that a stalled body is answered 408 before the
        // connection is simply closed.
        let bodyTimeout = TimeAmount.nanoseconds(max(1_000_000_000, negotiationTimeout.nanoseconds / 2))
        self.bosh.addRoutes(to: router, secure: secure, settings: settings, bodyTimeout: bodyTimeout)
        let webSocket = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: negotiationTimeout),
            ws: WebSocketServerConfiguration(maxFrameSize: core.configuration.limits.maxStanzaBytes + 1024, autoPing: .enabled(timePeriod: .seconds(60))))
        let shouldUpgrade: @Sendable (HTTPRequest, any Channel, Logger) throws -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> = {
            request, channel, _ in
            guard request.path == Self.webSocketPath else { return .dontUpgrade }
            let protocols = request.headerFields[values: .secWebSocketProtocol].flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            guard protocols.contains(WebSocketFraming.subprotocol) else { return .dontUpgrade }
            if !settings.allowedOrigins.isEmpty, let origin = request.headerFields[.origin], !settings.allowedOrigins.contains(origin) {
                return .dontUpgrade
            }
            let eventLoop = channel.eventLoop
            let address = channel.remoteAddress?.ipAddress ?? "unknown"
            var headers = HTTPFields()
            headers[.secWebSocketProtocol] = WebSocketFraming.subprotocol
            return .upgrade(headers) { inbound, outbound, _ in
                let transport = WebSocketClientTransport(server: core, eventLoop: eventLoop, remoteAddress: address, secure: secure, seeOtherURI: settings.seeOtherURI)
                await transport.run(inbound: inbound, outbound: outbound)
            }
        }
        let base = HTTPServerBuilder { responder in
            FirstRequestDeadlineChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: webSocket, shouldUpgrade: shouldUpgrade),
                timeout: negotiationTimeout)
        }
        return try await self.run(router: router, base: base, host: host, port: port, group: group)
    }

    /// The admin listener: the admin API's and the web UI's middleware in front of a router
    /// with no routes, so everything outside their prefixes is 404.
    private func startAdmin(_ adminAPI: AdminAPIMiddleware, host: String, port: Int, group: any EventLoopGroup) async throws -> (channel: any Channel, task: Task<Void, Never>) {
        let router = Hummingbird.Router(context: HTTPRequestContext.self)
        router.add(middleware: adminAPI)
        if let adminWebUI {
            router.add(middleware: AdminWebUIMiddleware(ui: adminWebUI, guardian: adminAPI.guardian, secure: self.secure, logger: self.logger))
        }
        let timeout = TimeAmount.seconds(Int64(self.core.configuration.limits.negotiationTimeoutSeconds))
        let base = HTTPServerBuilder { responder in
            FirstRequestDeadlineChannel(inner: HTTP1Channel(responder: responder, configuration: .init(idleTimeout: timeout)), timeout: timeout)
        }
        return try await self.run(router: router, base: base, host: host, port: port, group: group)
    }

    private func run(router: Hummingbird.Router<HTTPRequestContext>, base: HTTPServerBuilder, host: String, port: Int, group: any EventLoopGroup) async throws -> (channel: any Channel, task: Task<Void, Never>) {
        let logger = self.logger
        let server: HTTPServerBuilder
        if let certificate {
            server = try .tls(base, tlsConfiguration: certificate.httpsConfiguration())
        } else {
            server = base
        }
        let (bound, boundContinuation) = AsyncStream.makeStream(of: (any Channel).self)
        let application = Application(
            router: router, server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "Starling", backlog: 256, reuseAddress: true),
            onServerRunning: { channel in
                boundContinuation.yield(channel)
                boundContinuation.finish()
            },
            eventLoopGroupProvider: .shared(group), logger: logger)
        let shuttingDown = self.shuttingDown
        let task = Task {
            do {
                try await application.run()
            } catch {
                // Shutdown closes the listening channel, which the service group reports as a
                // service that finished unexpectedly.
                let expected = Task.isCancelled || shuttingDown.withLockedValue { $0 }
                logger.log(level: expected ? .debug : .error, "HTTP listener stopped", metadata: ["address": "\(host)", "error": "\(error)"])
            }
            boundContinuation.finish()
        }
        for await channel in bound { return (channel, task) }
        task.cancel()
        throw ServerStartError(message: "cannot listen for HTTP on \(host) port \(port)")
    }

    /// The WebSocket and BOSH URLs clients should use, from the Host they asked for.
    static func connectionURLs(_ request: Request, secure: Bool) -> HostMeta.URLs {
        let authority = request.head.authority ?? "localhost"
        return HostMeta.URLs(
            webSocket: "\(secure ? "wss" : "ws")://\(authority)\(Self.webSocketPath)",
            bosh: "\(secure ? "https" : "http")://\(authority)\(BOSHSessions.path)")
    }

    static func response(_ body: String, type: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        // XEP-0156 §3: browsers on other origins read these documents.
        headers[.accessControlAllowOrigin] = "*"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// XEP-0156 connection discovery documents.
enum HostMeta {
    static let webSocketRelation = "urn:xmpp:alt-connections:websocket"
    static let boshRelation = "urn:xmpp:alt-connections:xbosh"

    struct URLs {
        var webSocket: String
        var bosh: String

        var links: [(relation: String, href: String)] {
            [(HostMeta.webSocketRelation, self.webSocket), (HostMeta.boshRelation, self.bosh)]
        }
    }

    static func xrd(_ urls: URLs) -> String {
        var output = "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
        for link in urls.links {
            output += "  <Link rel='\(link.relation)' href='"
            XMLSerializer.escape(link.href, attribute: true, into: &output)
            output += "'/>\n"
        }
        return output + "</XRD>\n"
    }

    static func json(_ urls: URLs) -> String {
        let links = urls.links.map { link in
            let escaped = link.href.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "{\"rel\":\"\(link.relation)\",\"href\":\"\(escaped)\"}"
        }
        return "{\"links\":[\(links.joined(separator: ","))]}\n"
    }
}
