import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import XMPPCore
import XMPPSASL
import XMPPStream

/// XMPP over BOSH (XEP-0124, XEP-0206) at `/http-bind`: every BOSH session of the server,
/// by `sid`, shared by all HTTP listeners, and the HTTP side of its requests.
final class BOSHSessions: @unchecked Sendable {
    static let path = "/http-bind"

    private let core: ServerCore
    private let sessions = NIOLockedValueBox<[String: BOSHClientTransport]>([:])
    private let sweep = NIOLockedValueBox<RepeatedTask?>(nil)

    init(core: ServerCore) {
        self.core = core
    }

    var count: Int { self.sessions.withLockedValue { $0.count } }

    /// Starts the once-a-second check of every session's timers (wait, inactivity).
    func start(on eventLoop: any EventLoop) {
        self.sweep.withLockedValue { sweep in
            guard sweep == nil else { return }
            sweep = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
                guard let self else { return }
                for session in self.sessions.withLockedValue({ Array($0.values) }) { session.tick() }
            }
        }
    }

    /// Answers whatever requests are still held and forgets every session.
    func stop() {
        self.sweep.withLockedValue { $0?.cancel(); $0 = nil }
        for session in self.sessions.withLockedValue({ Array($0.values) }) { session.shutDown() }
    }

    /// One HTTP request to the BOSH endpoint: its body in, the body to answer with out.
    func handle(_ bytes: ByteBuffer, remoteAddress: String, secure: Bool, eventLoop: any EventLoop) async -> (HTTPResponse.Status, BOSHBody) {
        // The largest body an authenticated session may send; an unauthenticated one is
        // held to its smaller limit below, once its session is known.
        var limits = self.core.parserLimits(authenticated: true)
        limits.maxStanzaBytes += Self.wrapperAllowance
        limits.maxDepth += 1
        let body: BOSHBody
        do {
            body = try BOSHBody.parse(bytes.readableBytesView, limits: limits)
        } catch {
            // XEP-0124 §17.2: a body that cannot be read ends nothing it cannot name.
            return (.badRequest, BOSHTerminalCondition.badRequest.body)
        }
        guard let sid = body.sid else { return (.ok, await self.create(body, remoteAddress: remoteAddress, secure: secure, eventLoop: eventLoop)) }
        guard let session = self.sessions.withLockedValue({ $0[sid] }) else {
            return (.ok, BOSHTerminalCondition.itemNotFound.body)
        }
        let sessionLimit = session.limits.withLockedValue { $0.maxStanzaBytes } + Self.wrapperAllowance
        if bytes.readableBytes > sessionLimit {
            session.receiveUnreadable(.limitExceeded("a body of \(bytes.readableBytes) bytes"))
            return (.ok, BOSHTerminalCondition.policyViolation.body)
        }
        return (.ok, (try? await session.receive(body).get()) ?? BOSHTerminalCondition.internalServerError.body)
    }

    /// Room for the `<body/>` wrapper around a stanza of the largest size allowed.
    static let wrapperAllowance = 2048

    private func create(_ body: BOSHBody, remoteAddress: String, secure: Bool, eventLoop: any EventLoop) async -> BOSHBody {
        let sid = Self.newSID()
        let opened = BOSHClientTransport.open(
            body, server: self.core, sid: sid, limits: self.core.configuration.http.bosh, secure: secure,
            eventLoop: eventLoop, remoteAddress: remoteAddress,
            onFinish: { [weak self] sid in _ = self?.sessions.withLockedValue { $0.removeValue(forKey: sid) } })
        guard let (transport, answer) = try? await opened.get() else { return BOSHTerminalCondition.internalServerError.body }
        if let transport {
            self.sessions.withLockedValue { $0[sid] = transport }
        }
        return (try? await answer.get()) ?? BOSHTerminalCondition.internalServerError.body
    }

    /// 128 random bits (XEP-0124 §7.1: unique and unpredictable).
    static func newSID() -> String {
        Base16.encode(SASLRandom.bytes(16))
    }

    // MARK: - HTTP

    /// Adds the BOSH routes: POST for requests, OPTIONS for browsers' preflight, GET to say
    /// what lives here.
    func addRoutes(to router: Hummingbird.Router<HTTPRequestContext>, secure: Bool, settings: ServerConfiguration.HTTPSettings, bodyTimeout: TimeAmount) {
        let path = RouterPath(stringLiteral: Self.path)
        let maxBody = self.core.configuration.limits.maxStanzaBytes + Self.wrapperAllowance
        router.post(path) { request, context in
            var headers = Self.crossOriginHeaders(request, settings: settings)
            headers[.contentType] = "text/xml; charset=utf-8"
            headers[.cacheControl] = "no-store"
            let bytes: ByteBuffer
            do {
                bytes = try await Self.collect(request, upTo: maxBody, within: bodyTimeout)
            } catch BodyReadError.tooLarge {
                return Response(status: .contentTooLarge, headers: headers, body: .init(byteBuffer: ByteBuffer(string: BOSHTerminalCondition.policyViolation.body.serialized())))
            } catch {
                return Response(status: .requestTimeout, headers: headers, body: .init(byteBuffer: ByteBuffer(string: BOSHTerminalCondition.badRequest.body.serialized())))
            }
            let (status, body) = await self.handle(bytes, remoteAddress: context.remoteAddress, secure: secure, eventLoop: context.eventLoop)
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.serialized())))
        }
        router.on(path, method: .options) { request, _ in
            var headers = Self.crossOriginHeaders(request, settings: settings)
            headers[.accessControlAllowMethods] = "POST, OPTIONS"
            headers[.accessControlAllowHeaders] = "Content-Type"
            headers[.accessControlMaxAge] = "86400"
            return Response(status: .noContent, headers: headers)
        }
        router.get(path) { request, _ in
            var headers = Self.crossOriginHeaders(request, settings: settings)
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "XMPP over BOSH (XEP-0206): POST <body/> requests here.\n")))
        }
    }

    /// Cross-origin requests (CORS): web clients served from the allowed origins (any when
    /// none is configured) may read the answers.
    static func crossOriginHeaders(_ request: Request, settings: ServerConfiguration.HTTPSettings) -> HTTPFields {
        var headers = HTTPFields()
        if settings.allowedOrigins.isEmpty {
            headers[.accessControlAllowOrigin] = "*"
        } else if let origin = request.headers[.origin], settings.allowedOrigins.contains(origin) {
            headers[.accessControlAllowOrigin] = origin
            headers[.vary] = "Origin"
        }
        return headers
    }

    enum BodyReadError: Error {
        case tooLarge
        case tooSlow
    }

    /// The whole body, refused when larger than `limit` or slower than `timeout` to arrive:
    /// a sender trickling a body byte by byte would otherwise hold the request for ever.
    static func collect(_ request: Request, upTo limit: Int, within timeout: TimeAmount) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw BodyReadError.tooLarge }
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                do {
                    return try await request.body.collect(upTo: limit)
                } catch is NIOTooManyBytesError {
                    throw BodyReadError.tooLarge
                }
            }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeout.nanoseconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let bytes = first else { throw BodyReadError.tooSlow }
            return bytes
        }
    }
}
