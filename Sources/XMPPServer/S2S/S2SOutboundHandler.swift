import Logging
import NIOCore
import NIOSSL
import NIOTLS
import XMPPCore
import XMPPStream

/// The channel side of an outbound server-to-server stream: feeds `S2SOutboundStateMachine`
/// and carries out its actions.
final class S2SOutboundHandler: ChannelInboundHandler, SweptConnection {
    typealias InboundIn = XMLStreamEvent
    typealias OutboundOut = ByteBuffer

    private var machine: S2SOutboundStateMachine
    private let link: OutboundLink
    private let manager: S2SManager
    private let decoder: XMLStreamDecoderHandler
    private var context: ChannelHandlerContext?
    private var peerChain: [NIOSSLCertificate] = []
    /// Until the stream is established; then the idle time is checked instead. Both by the
    /// registry's once-a-second sweep, like every stream's deadlines.
    private var negotiationDeadline: NIODeadline?
    private var lastUsed = NIODeadline.now()
    private var streamID: String?
    private var closing = false
    private var metricsState = MetricLabel.ConnectionState.uncounted
    private let writer = StreamWriter(
        serializer: XMLSerializer(defaultNamespace: XMPPNamespace.server, prefixes: [XMPPNamespace.stream: "stream", S2SNamespace.dialback: "db"]))

    init(machine: S2SOutboundStateMachine, link: OutboundLink, manager: S2SManager, decoder: XMLStreamDecoderHandler) {
        self.machine = machine
        self.link = link
        self.manager = manager
        self.decoder = decoder
    }

    /// TLS towards the remote domain; the chain is kept and judged after the handshake.
    func makeTLSHandler() throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: self.manager.clientTLS, serverHostname: self.machine.remote) { [weak self] chain, promise in
            self?.peerChain = chain
            promise.succeed(.certificateVerified)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.negotiationDeadline = .now() + .seconds(Int64(self.manager.settings.negotiationTimeoutSeconds))
        self.manager.connections?.add(self, eventLoop: context.eventLoop)
        self.manager.metrics?.track(.s2sOut, &self.metricsState, .connected)
    }

    func checkDeadlines(now: NIODeadline) {
        if let deadline = self.negotiationDeadline, now >= deadline, !self.machine.isEstablished {
            self.negotiationDeadline = nil
            self.run(self.machine.connectionFailed("negotiation timed out", timedOut: true))
        } else if self.machine.isEstablished, now - self.lastUsed >= .seconds(Int64(self.manager.settings.idleTimeoutSeconds)) {
            self.shutdown()
        }
    }

    func terminate(_ condition: StreamErrorCondition) {
        self.shutdown()
    }

    /// The context refers back to this handler: let go of it, or neither is ever freed.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.manager.metrics?.track(.s2sOut, &self.metricsState, .uncounted)
    }

    func channelActive(context: ChannelHandlerContext) {
        self.run(self.machine.connected())
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.manager.connections?.remove(self, eventLoop: context.eventLoop)
        self.manager.metrics?.track(.s2sOut, &self.metricsState, .uncounted)
        self.run(self.machine.streamClosed())
        self.link.closed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .streamOpened(let header):
            self.streamID = header[attribute: "id"]
            self.run(self.machine.streamOpened(header))
        case .element(let element):
            if self.machine.isEstablished, element.name == "result", element.namespace == S2SNamespace.dialback, let domain = element[attribute: "to"] {
                self.link.piggybackAnswered(domain: domain, valid: element[attribute: "type"] == "valid")
                return
            }
            self.run(self.machine.elementReceived(element))
        case .streamClosed: self.run(self.machine.streamClosed())
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.manager.logger.info("s2s outbound error", metadata: ["remote": "\(self.machine.remote)", "error": "\(error)"])
        self.run(self.machine.connectionFailed("\(error)"))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let remote = self.machine.remote
            let requireValid = self.manager.settings.requireValidCertificates
            self.manager.judgeCertificate(self.peerChain, decoder: self.decoder, eventLoop: context.eventLoop) { [weak self] identity in
                guard let self else { return }
                if !identity.covers(remote) && requireValid {
                    self.run(self.machine.connectionFailed("the certificate of \(remote) does not verify"))
                } else {
                    self.run(self.machine.tlsEstablished())
                }
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Actions

    private func run(_ actions: [S2SOutboundStateMachine.Action]) {
        guard let context = self.context else { return }
        for action in actions {
            switch action {
            case .sendStreamHeader(let header):
                self.writer.write(header.openingTag(), context: context)
            case .send(let element):
                self.writer.write(element, context: context)
            case .startTLS:
                self.decoder.restartStream(discardingBufferedInput: true)
                do {
                    try context.channel.pipeline.syncOperations.addHandler(self.makeTLSHandler(), position: .first)
                } catch {
                    self.run(self.machine.connectionFailed("cannot start TLS: \(error)"))
                    return
                }
            case .restartStream:
                self.decoder.restartStream(discardingBufferedInput: false)
            case .sendDialbackKey(let streamID):
                let key = self.manager.keys.key(receiving: self.machine.remote, originating: self.machine.local, streamID: streamID)
                let result = Element("result", namespace: S2SNamespace.dialback, attributes: [("from", self.machine.local), ("to", self.machine.remote)], text: key)
                self.writer.write(result, context: context)
            case .established:
                self.negotiationDeadline = nil
                self.manager.metrics?.track(.s2sOut, &self.metricsState, .authenticated)
                self.lastUsed = .now()
                self.manager.logger.info("s2s stream established", metadata: ["local": "\(self.machine.local)", "remote": "\(self.machine.remote)"])
                self.link.established(self, eventLoop: context.eventLoop)
            case .verified(let valid):
                self.link.verified(valid)
            case .failed(let condition, let reason):
                self.link.failed(condition, reason: reason)
            case .close(let error):
                self.closing = true
                self.writer.close(with: error, context: context)
                return
            }
        }
        context.flush()
    }

    /// Writes a stanza (in `jabber:client` form) on the established stream.
    func write(_ stanza: Element) {
        guard let context = self.context else { return }
        self.lastUsed = .now()
        self.manager.metrics?.stanzaSent(stanza, stream: .s2s)
        self.writer.write(stanza.relabeling(namespace: XMPPNamespace.client, to: XMPPNamespace.server), context: context)
        context.flush()
    }

    /// Asks the remote server to accept another of our domains on this stream (dialback key).
    func requestDialback(for domain: String) {
        guard let context = self.context, let streamID = self.streamID else {
            self.link.piggybackAnswered(domain: domain, valid: false)
            return
        }
        let key = self.manager.keys.key(receiving: self.machine.remote, originating: domain, streamID: streamID)
        let result = Element("result", namespace: S2SNamespace.dialback, attributes: [("from", domain), ("to", self.machine.remote)], text: key)
        self.writer.write(result, context: context)
        context.flush()
    }

    func shutdown() {
        guard let context = self.context, !self.closing else { return }
        self.closing = true
        self.link.closed()
        self.writer.close(with: nil, context: context)
    }
}
