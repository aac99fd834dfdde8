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
final class C2SConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = XMLStreamEvent
    typealias OutboundOut = ByteBuffer

    private var machine: C2SStreamStateMachine
    private let server: ServerCore
    private let decoder: XMLStreamDecoderHandler
    private let tls: TLSMaterial?
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private var session: ClientSession?
    /// Stanzas from this client are routed one after another, in the order they arrived
    /// (RFC 6120 §10.1), by one task per session.
    private var outbound: AsyncStream<OutboundWork>.Continuation?
    private var pendingOutbound = 0
    private var pausedForBackpressure = false
    private static let pauseAbove = 64
    private static let resumeBelow = 16

    private enum OutboundWork: Sendable {
        case stanza(Element)
        case ended(ClientSession, SessionPresence)
    }
    private var negotiationTimeout: Scheduled<Void>?
    private var keepAlive: RepeatedTask?
    private var lastHeard = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    private var closing = false
    private let serializer = XMLSerializer.stream(contentNamespace: XMPPNamespace.client)

    init(server: ServerCore, decoder: XMLStreamDecoderHandler, tls: TLSMaterial?, directTLS: Bool, logger: Logger) {
        self.server = server
        self.decoder = decoder
        self.tls = tls
        self.logger = logger
        self.machine = C2SStreamStateMachine(policy: server.negotiationPolicy(tlsAvailable: tls != nil), directTLS: directTLS)
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress?.ipAddress {
            self.logger[metadataKey: "ip"] = "\(remote)"
        }
        let seconds = Int64(self.server.configuration.limits.negotiationTimeoutSeconds)
        self.negotiationTimeout = context.eventLoop.scheduleTask(in: .seconds(seconds)) { [weak self] in
            guard let self, self.machine.boundJID == nil else { return }
            self.logger.info("negotiation timed out")
            self.run(self.machine.shutdown(.connectionTimeout))
        }
        self.server.connections.add(self, eventLoop: context.eventLoop)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.negotiationTimeout?.cancel()
        self.keepAlive?.cancel()
        self.endSession()
        self.server.connections.remove(self)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.closing else { return }
        self.lastHeard = .now()
        self.pingSentAt = nil
        switch self.unwrapInboundIn(data) {
        case .streamOpened(let header):
            self.run(self.machine.streamOpened(header, streamID: Self.newStreamID()))
        case .element(let element):
            self.run(self.machine.elementReceived(element))
        case .streamClosed:
            self.run(self.machine.streamClosed())
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? XMLStreamError {
            self.logger.info("closing stream: \(parseError.condition.rawValue)", metadata: ["detail": "\(parseError.detail)"])
            self.run(self.machine.parseFailed(parseError))
            return
        }
        if error is NIOSSLError || error is BoringSSLError {
            self.logger.info("TLS error", metadata: ["error": "\(error)"])
        } else if let ioError = error as? IOError, [ECONNRESET, EPIPE].contains(ioError.errnoCode) {
            self.logger.debug("connection reset")
        } else {
            self.logger.info("connection error", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            var binding: [ChannelBindingType: [UInt8]] = [:]
            if let tls = self.tls {
                binding[.tlsServerEndPoint] = tls.serverEndPointData
            }
            self.run(self.machine.tlsEstablished(channelBinding: binding))
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Actions

    private func run(_ actions: [C2SStreamStateMachine.Action]) {
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
                self.decoder.limits = self.server.parserLimits(authenticated: true)
                self.logger[metadataKey: "account"] = "\(account)"
                self.logger.info("authenticated")
            case .fetchSCRAMCredentials(let username, let hash):
                self.fetchCredentials(username: username, hash: hash, context: context)
            case .verifyPlainPassword(let username, let password):
                self.verifyPlain(username: username, password: password, context: context)
            case .authenticationFailed(let username, let reason):
                // One line per failure, with the address, for fail2ban; never the password.
                self.logger.warning(
                    "authentication failed", metadata: ["user": "\(username ?? "-")", "reason": "\(reason.rawValue)"])
            case .bindResource(let requested, let account):
                self.bind(requested: requested, account: account, context: context)
            case .route(let stanza):
                self.handleOutgoing(stanza)
            case .register(let request):
                self.register(request, context: context)
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
            self.logger.error("cannot start TLS", metadata: ["error": "\(error)"])
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

    private func fetchCredentials(username: String, hash: SCRAMHash, context: ChannelHandlerContext) {
        self.withAccountStore(context: context) { store, domain in
            guard let jid = try? JID(localpart: username, domainpart: domain) else { return nil }
            return try? await store.credentials(for: jid, hash: hash)
        } then: { handler, credentials in
            handler.machine.credentialsFetched(credentials)
        }
    }

    private func verifyPlain(username: String, password: String, context: ChannelHandlerContext) {
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
                    handler.logger.info("account registered in-band")
                } else if reply.stanzaType == "error" {
                    handler.logger.notice("in-band registration refused", metadata: ["reason": "\(StanzaError(stanza: reply)?.condition.rawValue ?? "-")"])
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
        let outcome = self.server.sessions.bind(account: account, requested: requested) { jid in
            ClientSession(jid: jid, eventLoop: context.eventLoop, connection: self)
        }
        switch outcome {
        case .bound(let session, let replaced):
            replaced?.terminate(.conflict)
            self.session = session
            self.startOutboundQueue(for: session, context: context)
            self.startKeepAlive(context: context)
            self.negotiationTimeout?.cancel()
            self.logger[metadataKey: "jid"] = "\(session.jid)"
            self.logger.info("resource bound")
            self.run(self.machine.resourceBound(session.jid))
        case .failed(let error):
            self.run(self.machine.bindFailed(error))
        }
    }

    private func startOutboundQueue(for session: ClientSession, context: ChannelHandlerContext) {
        let (stream, continuation) = AsyncStream.makeStream(of: OutboundWork.self)
        self.outbound = continuation
        let router = self.server.router
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        Task {
            for await work in stream {
                switch work {
                case .stanza(let stanza):
                    await router.route(stanza, origin: .client(session))
                case .ended(let session, let presence):
                    await router.emit(.sessionEnded(session, presence))
                }
                eventLoop.execute { loopBound.value.outboundCompleted() }
            }
        }
    }

    /// XEP-0199 from the server's side: a quiet client is pinged, and an unanswered ping ends the stream.
    private func startKeepAlive(context: ChannelHandlerContext) {
        let settings = self.server.configuration.c2s
        guard settings.pingIntervalSeconds > 0 else { return }
        let interval = TimeAmount.seconds(Int64(settings.pingIntervalSeconds))
        let timeout = TimeAmount.seconds(Int64(settings.pingTimeoutSeconds))
        let check = min(interval, timeout, .seconds(30))
        self.keepAlive = context.eventLoop.scheduleRepeatedTask(initialDelay: check, delay: check) { [weak self] _ in
            guard let self, let session = self.session, !self.closing else { return }
            let now = NIODeadline.now()
            if let sent = self.pingSentAt {
                if now - sent >= timeout {
                    self.logger.info("ping unanswered; closing")
                    self.run(self.machine.shutdown(.connectionTimeout))
                }
            } else if now - self.lastHeard >= interval {
                self.pingSentAt = now
                var ping = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("id", "s2c-ping-\(UInt32.random(in: 0...UInt32.max))")])
                ping[attribute: "from"] = session.jid.domainpart
                ping[attribute: "to"] = session.jid.description
                ping.append(Element(name: "ping", namespace: XMPPNamespace.ping))
                self.deliver(ping)
            }
        }
    }

    /// A stanza from this client goes to the router, in order; reading pauses while too many wait.
    private func handleOutgoing(_ stanza: Element) {
        guard let outbound = self.outbound else { return }
        self.pendingOutbound += 1
        outbound.yield(.stanza(stanza))
        if self.pendingOutbound > Self.pauseAbove && !self.pausedForBackpressure {
            self.pausedForBackpressure = true
            self.decoder.pause()
        }
    }

    private func outboundCompleted() {
        self.pendingOutbound -= 1
        if self.pausedForBackpressure && self.pendingOutbound < Self.resumeBelow {
            self.pausedForBackpressure = false
            self.decoder.resume()
        }
    }

    /// Delivers a stanza routed to this session.
    func deliver(_ stanza: Element) {
        guard let context = self.context, !self.closing else { return }
        self.write(self.serializer.string(stanza), context: context)
        context.flush()
    }

    func terminate(_ condition: StreamErrorCondition) {
        self.run(self.machine.shutdown(condition))
    }

    private func endSession() {
        guard let session = self.session else { return }
        self.session = nil
        let last = self.server.sessions.unbind(session) ?? SessionPresence()
        self.pendingOutbound += 1
        self.outbound?.yield(.ended(session, last))
        self.outbound?.finish()
        self.outbound = nil
        self.logger.info("session ended")
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
