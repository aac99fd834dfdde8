import Logging
import NIOCore
import NIOSSL
import NIOTLS
import XMPPCore
import XMPPSASL
import XMPPStream

/// The channel side of a stream another server opened to us: feeds `S2SInboundStateMachine`,
/// checks the peer's certificate, asks authoritative servers about dialback keys, and routes
/// stanzas in order.
final class S2SInboundHandler: ChannelInboundHandler, SweptConnection {
    typealias InboundIn = XMLStreamEvent
    typealias OutboundOut = ByteBuffer

    private var machine: S2SInboundStateMachine
    private let manager: S2SManager
    private let router: Router
    private let decoder: XMLStreamDecoderHandler
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private var peerChain: [NIOSSLCertificate] = []
    /// Checked by the registry's once-a-second sweep, like every stream's deadlines.
    private var negotiationDeadline: NIODeadline?
    private let connections: ConnectionRegistry
    private var counted = false
    private var metricsState = MetricLabel.ConnectionState.uncounted
    private var closing = false
    /// Stanzas from the peer, routed in order; none is routed before the peer authenticated.
    private var routing: OrderedRoutingQueue?
    private let writer = StreamWriter(
        serializer: XMLSerializer(defaultNamespace: XMPPNamespace.server, prefixes: [XMPPNamespace.stream: "stream", S2SNamespace.dialback: "db"]))

    init(
        manager: S2SManager, router: Router, connections: ConnectionRegistry, decoder: XMLStreamDecoderHandler, tlsAvailable: Bool,
        directTLS: Bool, logger: Logger
    ) {
        self.manager = manager
        self.router = router
        self.connections = connections
        self.decoder = decoder
        self.logger = logger
        let policy = S2SInboundPolicy(
            hostedDomains: manager.hosts, tlsAvailable: tlsAvailable, tlsRequired: manager.settings.requireEncryption,
            dialbackAllowed: manager.settings.dialback && !manager.settings.requireValidCertificates)
        self.machine = S2SInboundStateMachine(policy: policy, directTLS: directTLS)
    }

    /// TLS for this stream; the peer's chain (if it sends one) is kept for SASL EXTERNAL.
    func makeTLSHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: self.manager.serverTLS) { [weak self] chain, promise in
            self?.peerChain = chain
            promise.succeed(.certificateVerified)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let address = context.channel.remoteAddress?.ipAddress { self.logger[metadataKey: "ip"] = "\(address)" }
        self.logger[metadataKey: "s2s"] = "in"
        self.counted = self.manager.inboundOpened()
        self.negotiationDeadline = .now() + .seconds(Int64(self.manager.settings.negotiationTimeoutSeconds))
        self.connections.add(self, eventLoop: context.eventLoop)
        self.router.metrics.track(.s2sIn, &self.metricsState, .connected)
    }

    func checkDeadlines(now: NIODeadline) {
        guard let deadline = self.negotiationDeadline, now >= deadline else { return }
        self.negotiationDeadline = nil
        guard self.machine.authenticatedDomains.isEmpty else { return }
        self.run(self.machine.shutdown(.connectionTimeout))
    }

    func terminate(_ condition: StreamErrorCondition) {
        self.run(self.machine.shutdown(condition))
    }

    /// The context refers back to this handler: let go of it, or neither is ever freed.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.router.metrics.track(.s2sIn, &self.metricsState, .uncounted)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connections.remove(self, eventLoop: context.eventLoop)
        if self.counted { self.manager.inboundClosed() }
        self.counted = false
        self.router.metrics.track(.s2sIn, &self.metricsState, .uncounted)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.closing else { return }
        switch self.unwrapInboundIn(data) {
        case .streamOpened(let header):
            var actions = self.machine.streamOpened(header, streamID: Base64.encode(SASLRandom.bytes(12)))
            if !self.counted && !self.machine.isClosed {
                actions += self.machine.shutdown(.resourceConstraint)
            }
            self.run(actions)
        case .element(let element):
            self.run(self.machine.elementReceived(element))
        case .streamClosed:
            self.run(self.machine.streamClosed())
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? XMLStreamError {
            self.run(self.machine.parseFailed(parseError))
            return
        }
        self.logger.info("s2s inbound error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            self.manager.judgeCertificate(self.peerChain, decoder: self.decoder, eventLoop: context.eventLoop) { [weak self] identity in
                guard let self else { return }
                self.run(self.machine.tlsEstablished(certificate: identity))
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Actions

    private func run(_ actions: [S2SInboundStateMachine.Action]) {
        guard let context = self.context else { return }
        for action in actions {
            switch action {
            case .sendStreamHeader(let header):
                self.writer.write(header.openingTag(), context: context)
            case .send(let element):
                self.writer.write(element, context: context)
            case .startTLS:
                context.flush()
                self.decoder.restartStream(discardingBufferedInput: true)
                do {
                    try context.channel.pipeline.syncOperations.addHandler(self.makeTLSHandler(), position: .first)
                } catch {
                    context.close(promise: nil)
                    return
                }
            case .restartStream:
                self.decoder.restartStream(discardingBufferedInput: false)
            case .verifyDialbackKey(let from, let to, let key, let streamID):
                self.verify(from: from, to: to, key: key, streamID: streamID, context: context)
            case .answerDialbackVerify(let from, let to, let id, let key):
                let valid = self.manager.keys.verify(key, receiving: from, originating: to, streamID: id)
                let answer = Element("verify", namespace: S2SNamespace.dialback, attributes: [("from", to), ("to", from), ("id", id), ("type", valid ? "valid" : "invalid")])
                self.writer.write(answer, context: context)
            case .authenticated(let domain, let method):
                self.negotiationDeadline = nil
                self.router.metrics.track(.s2sIn, &self.metricsState, .authenticated)
                self.logger.info("s2s peer authenticated", metadata: ["domain": "\(domain)", "method": "\(method.rawValue)"])
                self.startRouting(context: context)
            case .route(let stanza):
                self.routing?.enqueue(.stanza(stanza, origin: .remote(stanza.from?.domainpart ?? "")))
            case .close(let error):
                self.closing = true
                self.writer.close(with: error, context: context)
                if let error { self.logger.info("s2s inbound stream closed", metadata: ["condition": "\(error.condition.rawValue)"]) }
                return
            }
        }
        context.flush()
    }

    private func verify(from: String, to: String, key: String, streamID: String, context: ChannelHandlerContext) {
        let manager = self.manager
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        Task {
            let valid = await manager.verifyDialback(originating: from, receiving: to, key: key, streamID: streamID)
            eventLoop.execute {
                let handler = loopBound.value
                if !valid { handler.logger.warning("dialback key did not verify", metadata: ["domain": "\(from)"]) }
                handler.run(handler.machine.dialbackVerified(from: from, to: to, valid: valid))
            }
        }
    }

    private func startRouting(context: ChannelHandlerContext) {
        guard self.routing == nil else { return }
        let decoder = self.decoder
        self.routing = OrderedRoutingQueue(
            router: self.router, eventLoop: context.eventLoop, pauseInput: { decoder.pause() }, resumeInput: { decoder.resume() })
    }

}
