import Logging
import NIOCore
import NIOSSL
import NIOTLS
#if canImport(Glibc)
import Glibc
#endif
import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStream

/// One client connection: feeds stream events to `C2SStreamStateMachine` and carries out the
/// actions it returns. All state lives on the channel's event loop.
final class C2SConnectionHandler: ChannelInboundHandler, SweptConnection {
    typealias InboundIn = XMLStreamEvent
    typealias OutboundOut = ByteBuffer

    private var machine: C2SStreamStateMachine
    private let server: ServerCore
    private let decoder: XMLStreamDecoderHandler
    private let tls: TLSMaterial?
    private let baseLogger: Logger
    /// The authenticated account until a resource is bound (then the session's JID says it).
    private var account: String?
    private(set) var context: ChannelHandlerContext?
    private var session: ClientSession?
    /// Stanzas from this client are routed one after another, in the order they arrived
    /// (RFC 6120 §10.1); reading pauses while too many wait.
    private var routing: OrderedRoutingQueue?

    /// Timers are deadlines the registry's once-a-second sweep checks (`checkDeadlines`): a
    /// scheduled task per timer and connection would cost every idle connection several
    /// hundred bytes and the event loop thousands of wake-ups a second. Keepalive runs while a
    /// session is bound.
    private var negotiationDeadline: NIODeadline?
    private var address = "unknown"
    private var countedAsUnauthenticated = false
    private var refused = false
    private var lastHeard = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    private var closing = false
    private let serializer = XMLSerializer.clientStream

    init(server: ServerCore, decoder: XMLStreamDecoderHandler, tls: TLSMaterial?, directTLS: Bool, logger: Logger) {
        self.server = server
        self.decoder = decoder
        self.tls = tls
        self.baseLogger = logger
        self.machine = C2SStreamStateMachine(policy: server.negotiationPolicy(tlsAvailable: tls != nil), directTLS: directTLS)
        server.statistics.increment(\.liveConnectionHandlers)
    }

    deinit {
        self.server.statistics.decrement(\.liveConnectionHandlers)
    }

    // MARK: - Logging

    /// Logs with who this connection is (address, then account or JID) added to the line.
    /// Built only for a line that is logged: metadata kept on each connection's own `Logger`
    /// cost every idle connection about 700 bytes.
    private func log(
        _ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        guard self.baseLogger.logLevel <= level else { return }
        var all = metadata()
        all["ip"] = .string(self.address)
        if let session = self.session {
            all["jid"] = "\(session.jid)"
        } else if let account = self.account {
            all["account"] = .string(account)
        }
        self.baseLogger.log(level: level, message(), metadata: all, file: file, function: function, line: line)
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let decoder = self.decoder
        self.routing = OrderedRoutingQueue(
            router: self.server.router, eventLoop: context.eventLoop, pauseInput: { decoder.pause() }, resumeInput: { decoder.resume() })
        if let remote = context.channel.remoteAddress?.ipAddress {
            self.address = remote
        }
        if self.server.abuse.connectionOpened(address: self.address) {
            self.countedAsUnauthenticated = true
        } else {
            self.refused = true
            self.server.statistics.increment(\.refusedConnections)
            self.log(.notice, "connection refused: too many unauthenticated connections")
        }
        let seconds = Int64(self.server.configuration.limits.negotiationTimeoutSeconds)
        self.negotiationDeadline = .now() + .seconds(seconds)
        self.server.connections.add(self, eventLoop: context.eventLoop)
    }

    /// The context refers back to this handler: let go of it, or neither is ever freed.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.leaveUnauthenticated()
        // A connection lost without a clean close keeps a resumable session for a while (XEP-0198).
        if !self.closing, let session = self.session, session.isResumable {
            self.detach(session, context: context)
        } else {
            self.endSession()
        }
        self.server.connections.remove(self, eventLoop: context.eventLoop)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.closing else { return }
        self.lastHeard = .now()
        self.pingSentAt = nil
        switch self.unwrapInboundIn(data) {
        case .streamOpened(let header):
            if self.refused {
                self.run(self.machine.streamRefused(header, streamID: Self.newStreamID(), condition: .policyViolation))
            } else {
                self.run(self.machine.streamOpened(header, streamID: Self.newStreamID()))
            }
        case .element(let element):
            self.run(self.machine.elementReceived(element))
        case .streamClosed:
            self.run(self.machine.streamClosed())
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? XMLStreamError {
            self.log(.info, "closing stream: \(parseError.condition.rawValue)", metadata: ["detail": "\(parseError.detail)"])
            self.run(self.machine.parseFailed(parseError))
            return
        }
        if error is NIOSSLError || error is BoringSSLError {
            self.log(.info, "TLS error", metadata: ["error": "\(error)"])
        } else if let ioError = error as? IOError, [ECONNRESET, EPIPE].contains(ioError.errnoCode) {
            self.log(.debug, "connection reset")
        } else {
            self.log(.info, "connection error", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            self.run(self.machine.tlsEstablished(channelBinding: self.tls?.channelBindings ?? [:]))
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Actions

    private func leaveUnauthenticated() {
        guard self.countedAsUnauthenticated else { return }
        self.countedAsUnauthenticated = false
        self.server.abuse.connectionLeftUnauthenticated(address: self.address)
    }

    /// Carries out actions; a failed login is answered only after a delay that grows with the
    /// recent failures of the address and the account.
    private func run(_ actions: [C2SStreamStateMachine.Action]) {
        for action in actions {
            guard case .authenticationFailed(let username, _) = action else { continue }
            let delay = self.server.abuse.authenticationFailed(address: self.address, account: username)
            guard delay > 0, let context = self.context else { break }
            self.decoder.pause()
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [weak self] in
                self?.perform(actions)
                self?.decoder.resume()
            }
            return
        }
        self.perform(actions)
    }

    private func perform(_ actions: [C2SStreamStateMachine.Action]) {
        guard let context = self.context else { return }
        var wrote = false
        for action in actions {
            switch action {
            case .sendStreamHeader(let header):
                self.write(header.openingTag(), context: context)
                wrote = true
            case .send(let element):
                self.write(self.serializer.string(element), context: context)
                wrote = true
            case .startTLS:
                self.startTLS(context: context)
                wrote = false
            case .restartStream:
                self.decoder.restartStream(discardingBufferedInput: false)
            case .authenticated(let account):
                self.leaveUnauthenticated()
                self.decoder.limits = self.server.parserLimits(authenticated: true)
                self.account = "\(account)"
                self.log(.info, "authenticated")
            case .fetchSCRAMCredentials(let username, let hash):
                self.fetchCredentials(username: username, hash: hash, context: context)
            case .verifyPlainPassword(let username, let password):
                self.verifyPlain(username: username, password: password, context: context)
            case .authenticationFailed(let username, let reason):
                // One line per failure, with the address, for fail2ban; never the password.
                self.log(
                    .warning, "authentication failed", metadata: ["user": "\(username ?? "-")", "reason": "\(reason.rawValue)"])
            case .bindResource(let requested, let account):
                self.bind(requested: requested, account: account, context: context)
            case .route(let stanza):
                self.session?.recordHandled()
                self.handleOutgoing(stanza)
            case .register(let request):
                self.register(request, context: context)
            case .enableStreamManagement(let resume):
                self.enableStreamManagement(resume: resume, context: context)
                wrote = true
            case .acknowledgeHandled:
                if let session = self.session {
                    self.write(self.serializer.string(Element("a", namespace: StreamManagementNamespace.v3, attributes: [("h", String(session.handledCount))])), context: context)
                    wrote = true
                }
            case .acknowledged(let h):
                self.ackOutstanding = false
                do {
                    try self.session?.acknowledged(h)
                } catch {
                    if wrote { context.flush() }
                    self.run(self.machine.acknowledgementRejected(h: h))
                    return
                }
            case .clientState(let active):
                self.clientState(active: active)
            case .resumeSession(let previd, let h, let account):
                self.resume(previd: previd, h: h, account: account, context: context)
                wrote = true
            case .close(let error):
                if wrote { context.flush() }
                self.close(error, context: context)
                return
            }
        }
        if wrote { context.flush() }
    }

    private func write(_ text: String, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.write(self.wrapOutboundOut(buffer), promise: nil)
    }

    private func startTLS(context: ChannelHandlerContext) {
        context.flush()
        guard let tls = self.tls else {
            self.close(StreamError(.internalServerError), context: context)
            return
        }
        // Anything buffered after <starttls/> arrived in plaintext: it is dropped, never parsed.
        self.decoder.restartStream(discardingBufferedInput: true)
        do {
            try context.channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context), position: .first)
        } catch {
            self.log(.error, "cannot start TLS", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    private func close(_ error: StreamError?, context: ChannelHandlerContext) {
        guard !self.closing else { return }
        self.closing = true
        var text = ""
        if let error {
            text += self.serializer.string(error.element)
        }
        text += StreamHeader.closingTag
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(buffer)).whenComplete { _ in
            channel.close(promise: nil)
        }
        self.endSession()
    }

    // MARK: - Storage round trips

    /// Too many recent failures for this address or account: refuse without checking.
    private func refuseIfLockedOut(username: String) -> Bool {
        guard self.server.abuse.isLockedOut(address: self.address, account: username) else { return false }
        self.server.statistics.increment(\.authenticationLockouts)
        self.log(.warning, "authentication refused: too many failures", metadata: ["user": "\(username)"])
        self.run(self.machine.authenticationRefused())
        return true
    }

    private func fetchCredentials(username: String, hash: SCRAMHash, context: ChannelHandlerContext) {
        if self.refuseIfLockedOut(username: username) { return }
        self.withAccountStore(context: context) { store, domain in
            guard let jid = try? JID(localpart: username, domainpart: domain) else { return nil }
            return try? await store.credentials(for: jid, hash: hash)
        } then: { handler, credentials in
            handler.machine.credentialsFetched(credentials)
        }
    }

    private func verifyPlain(username: String, password: String, context: ChannelHandlerContext) {
        if self.refuseIfLockedOut(username: username) { return }
        self.withAccountStore(context: context) { store, domain in
            guard let jid = try? JID(localpart: username, domainpart: domain),
                let credentials = try? await store.credentials(for: jid, hash: .sha256)
            else { return false }
            return credentials.verify(password: password)
        } then: { handler, valid in
            handler.machine.plainPasswordVerified(valid)
        }
    }

    private func register(_ request: Element, context: ChannelHandlerContext) {
        guard let registration = self.server.registration else { return }
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        let domain = self.machine.streamDomain ?? ""
        self.decoder.pause()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        Task {
            let reply = await registration.answer(request, domain: domain, address: address)
            eventLoop.execute {
                let handler = loopBound.value
                if reply.stanzaType == "result", request.stanzaType == "set" {
                    handler.log(.info, "account registered in-band")
                } else if reply.stanzaType == "error" {
                    handler.log(.notice, "in-band registration refused", metadata: ["reason": "\(StanzaError(stanza: reply)?.condition.rawValue ?? "-")"])
                }
                handler.run([.send(reply)])
                handler.decoder.resume()
            }
        }
    }

    /// Runs storage work off the event loop with input paused, then feeds the result back to
    /// the state machine on the loop, so no element overtakes an authentication step.
    private func withAccountStore<Result: Sendable>(
        context: ChannelHandlerContext,
        _ work: @escaping @Sendable (any AccountStore, String) async -> Result,
        then event: @escaping (C2SConnectionHandler, Result) -> [C2SStreamStateMachine.Action]
    ) {
        self.decoder.pause()
        let store = self.server.storage.accounts
        let domain = self.machine.streamDomain ?? ""
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let transfer = UnsafeTransfer(event)
        Task {
            let result = await work(store, domain)
            eventLoop.execute {
                let handler = loopBound.value
                handler.run(transfer.value(handler, result))
                handler.decoder.resume()
            }
        }
    }

    // MARK: - Session

    private func bind(requested: String?, account: JID, context: ChannelHandlerContext) {
        let handlers = self.server.sessions.detachedDeliveryHandlers
        let outcome = self.server.sessions.bind(account: account, requested: requested) { jid in
            let session = ClientSession(jid: jid, eventLoop: context.eventLoop, connection: self, statistics: self.server.statistics)
            session.detachedDelivery = handlers
            return session
        }
        switch outcome {
        case .bound(let session, let replaced):
            replaced?.terminate(.conflict)
            self.session = session
            self.negotiationDeadline = nil
            self.account = nil
            self.log(.info, "resource bound")
            self.run(self.machine.resourceBound(session.jid))
        case .failed(let error):
            self.run(self.machine.bindFailed(error))
        }
    }

    /// Called about once a second on this connection's event loop by `ConnectionRegistry`.
    func checkDeadlines(now: NIODeadline) {
        guard !self.closing else { return }
        if let deadline = self.negotiationDeadline, now >= deadline, self.machine.boundJID == nil {
            self.negotiationDeadline = nil
            self.log(.info, "negotiation timed out")
            self.run(self.machine.shutdown(.connectionTimeout))
            return
        }
        // A slow sender (one byte a second) never finishes an element: drop it.
        let slowInputTimeout = TimeAmount.seconds(Int64(self.server.configuration.limits.stanzaTimeoutSeconds))
        if let since = self.decoder.unfinishedSince, now - since >= slowInputTimeout {
            self.server.statistics.increment(\.slowInputTimeouts)
            self.log(.info, "input left unfinished too long; closing")
            self.run(self.machine.shutdown(.connectionTimeout))
            return
        }
        self.checkKeepAlive(now: now)
    }

    /// XEP-0199 from the server's side: a quiet client is pinged, and an unanswered ping ends the stream.
    private func checkKeepAlive(now: NIODeadline) {
        let settings = self.server.configuration.c2s
        guard settings.pingIntervalSeconds > 0, let session = self.session else { return }
        if let sent = self.pingSentAt {
            if now - sent >= .seconds(Int64(settings.pingTimeoutSeconds)) {
                self.log(.info, "ping unanswered; closing")
                self.run(self.machine.shutdown(.connectionTimeout))
            }
        } else if now - self.lastHeard >= .seconds(Int64(settings.pingIntervalSeconds)) {
            self.pingSentAt = now
            var ping = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("id", "s2c-ping-\(UInt32.random(in: 0...UInt32.max))")])
            ping[attribute: "from"] = session.jid.domainpart
            ping[attribute: "to"] = session.jid.description
            ping.append(Element(name: "ping", namespace: XMPPNamespace.ping))
            session.deliver(ping)
        }
    }

    /// A stanza from this client goes to the router, in order; reading pauses while too many wait.
    private func handleOutgoing(_ stanza: Element) {
        guard let session = self.session else { return }
        self.routing?.enqueue(.stanza(stanza, origin: .client(session)))
    }

    /// Writes a stanza routed to `session`, counting it for stream management. While the
    /// client is inactive (XEP-0352) presence waits, the latest per sender; anything else
    /// first flushes what waits, so order is kept and nothing is lost.
    func deliver(_ stanza: Element, for session: ClientSession) {
        guard let context = self.context, !self.closing else {
            _ = session.recordSent(stanza, by: self)
            return
        }
        if self.inactive {
            if stanza.stanzaKind == .presence, let from = stanza[attribute: "from"] {
                if let index = self.heldPresence.firstIndex(where: { $0[attribute: "from"] == from }) {
                    self.heldPresence.remove(at: index)
                }
                self.heldPresence.append(stanza)
                return
            }
            self.flushHeldPresence(session: session, context: context)
        }
        guard session.recordSent(stanza, by: self) else { return }
        self.write(self.serializer.string(stanza), context: context)
        context.flush()
        self.requestAckSoon(session: session, context: context)
    }

    // MARK: - Client state indication (XEP-0352)

    private var inactive = false
    private var heldPresence: [Element] = []

    private func clientState(active: Bool) {
        self.inactive = !active
        if active, let session = self.session, let context = self.context {
            self.flushHeldPresence(session: session, context: context)
        }
    }

    private func flushHeldPresence(session: ClientSession, context: ChannelHandlerContext) {
        guard !self.heldPresence.isEmpty else { return }
        let held = self.heldPresence
        self.heldPresence.removeAll()
        for presence in held where session.recordSent(presence, by: self) {
            self.write(self.serializer.string(presence), context: context)
        }
        context.flush()
    }

    // MARK: - Stream management (XEP-0198)

    private var ackOutstanding = false

    private func enableStreamManagement(resume: Bool, context: ChannelHandlerContext) {
        guard let session = self.session else { return }
        let id = Base64.encode(SASLRandom.bytes(16))
        session.enableStreamManagement(id: id, resumable: resume)
        var enabled = Element("enabled", namespace: StreamManagementNamespace.v3, attributes: [("id", id)])
        if resume {
            self.server.sessions.registerResumable(session, id: id)
            enabled[attribute: "resume"] = "true"
            enabled[attribute: "max"] = String(self.server.configuration.c2s.resumeTimeoutSeconds)
        }
        self.write(self.serializer.string(enabled), context: context)
    }

    /// Asks for an acknowledgement shortly after stanzas go out, once per batch.
    private func requestAckSoon(session: ClientSession, context: ChannelHandlerContext) {
        guard !self.ackOutstanding, session.streamManagementID != nil else { return }
        self.ackOutstanding = true
        context.eventLoop.scheduleTask(in: .milliseconds(100)) { [weak self] in
            guard let self, let context = self.context, !self.closing, session.unackedCount > 0 else {
                self?.ackOutstanding = false
                return
            }
            self.write(self.serializer.string(Element(name: "r", namespace: StreamManagementNamespace.v3)), context: context)
            context.flush()
        }
    }

    private func resume(previd: String, h: UInt32, account: JID, context: ChannelHandlerContext) {
        guard let session = self.server.sessions.resumableSession(id: previd), session.jid.bare == account.bare else {
            self.run(self.machine.resumeFailed())
            return
        }
        let previous = session.previousConnection
        let resend: [Element]
        do {
            resend = try session.attach(to: self, eventLoop: context.eventLoop, clientHandled: h)
        } catch {
            self.run(self.machine.resumeFailed())
            return
        }
        // The old connection (if the server had not noticed it died) lets go without ending the session.
        if let previous, previous !== self {
            let transfer = UnsafeTransfer(previous)
            previous.context?.eventLoop.execute { transfer.value.abandon() }
        }
        self.session = session
        self.server.sessions.cancelExpiry(of: session)
        self.negotiationDeadline = nil
        self.account = nil
        self.log(.info, "session resumed", metadata: ["resent": "\(resend.count)"])
        self.run(self.machine.resumed(session.jid))
        let resumed = Element("resumed", namespace: StreamManagementNamespace.v3, attributes: [("previd", previd), ("h", String(session.handledCount))])
        self.write(self.serializer.string(resumed), context: context)
        for stanza in resend {
            session.deliver(stanza)
        }
    }

    /// Another connection resumed this one's session: close quietly, the session lives on.
    func abandon() {
        self.session = nil
        if let context = self.context {
            self.closing = true
            context.close(promise: nil)
        }
    }

    private func detach(_ session: ClientSession, context: ChannelHandlerContext) {
        self.log(.info, "connection lost; session kept for resumption")
        self.session = nil
        session.detach(from: self)
        let seconds = Int64(self.server.configuration.c2s.resumeTimeoutSeconds)
        let core = self.server
        let expiry = context.eventLoop.scheduleTask(in: .seconds(seconds)) {
            guard session.isDetached else { return }
            Task { await core.endDetachedSession(session) }
        }
        self.server.sessions.setExpiry(expiry, for: session)
    }

    func terminate(_ condition: StreamErrorCondition) {
        self.run(self.machine.shutdown(condition))
    }

    private func endSession() {
        guard let session = self.session else { return }
        self.log(.info, "session ended")
        self.session = nil
        session.detach(from: self)
        let last = self.server.sessions.unbind(session) ?? SessionPresence()
        self.routing?.enqueue(.sessionEnded(session, last))
    }

    private static func newStreamID() -> String {
        Base64.encode(SASLRandom.bytes(12))
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
