import Logging
import NIOCore
import NIOSSL
import NIOTLS
import XMPPCore
import XMPPStream

/// The channel side of an outbound server-to-server stream: feeds `S2SOutboundStateMachine`
/// and carries out its actions.
final class S2SOutboundHandler: ChannelInboundHandler {
    typealias InboundIn = XMLStreamEvent
    typealias OutboundOut = ByteBuffer

    private var machine: S2SOutboundStateMachine
    private let link: OutboundLink
    private let manager: S2SManager
    private let decoder: XMLStreamDecoderHandler
    private var context: ChannelHandlerContext?
    private var peerChain: [NIOSSLCertificate] = []
    private var timeout: Scheduled<Void>?
    private var idleCheck: RepeatedTask?
    private var lastUsed = NIODeadline.now()
    private var streamID: String?
    private let serializer = XMLSerializer(
        defaultNamespace: XMPPNamespace.server, prefixes: [XMPPNamespace.stream: "stream", S2SNamespace.dialback: "db"])

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
        self.timeout = context.eventLoop.scheduleTask(in: .seconds(Int64(self.manager.settings.negotiationTimeoutSeconds))) { [weak self] in
            guard let self, !self.machine.isEstablished else { return }
            self.run(self.machine.connectionFailed("negotiation timed out", timedOut: true))
        }
    }

    /// The context refers back to this handler: let go of it, or neither is ever freed.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.run(self.machine.connected())
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timeout?.cancel()
        self.idleCheck?.cancel()
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
                self.write(raw: header.openingTag(), context: context)
            case .send(let element):
                self.write(raw: self.serializer.string(element), context: context)
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
                self.write(raw: self.serializer.string(result), context: context)
            case .established:
                self.timeout?.cancel()
                self.manager.logger.info("s2s stream established", metadata: ["local": "\(self.machine.local)", "remote": "\(self.machine.remote)"])
                self.startIdleCheck(context: context)
                self.link.established(self, eventLoop: context.eventLoop)
            case .verified(let valid):
                self.link.verified(valid)
            case .failed(let condition, let reason):
                self.link.failed(condition, reason: reason)
            case .close(let error):
                var text = error.map { self.serializer.string($0.element) } ?? ""
                text += StreamHeader.closingTag
                let channel = context.channel
                self.write(raw: text, context: context, flushThen: { channel.close(promise: nil) })
                return
            }
        }
        context.flush()
    }

    private func write(raw text: String, context: ChannelHandlerContext, flushThen: (() -> Void)? = nil) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        if let flushThen {
            context.writeAndFlush(self.wrapOutboundOut(buffer)).whenComplete { _ in flushThen() }
        } else {
            context.write(self.wrapOutboundOut(buffer), promise: nil)
        }
    }

    private func startIdleCheck(context: ChannelHandlerContext) {
        let idle = TimeAmount.seconds(Int64(self.manager.settings.idleTimeoutSeconds))
        let every = min(idle, .seconds(30))
        self.idleCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { [weak self] _ in
            guard let self, NIODeadline.now() - self.lastUsed >= idle else { return }
            self.shutdown()
        }
    }

    /// Writes a stanza (in `jabber:client` form) on the established stream.
    func write(_ stanza: Element) {
        guard let context = self.context else { return }
        self.lastUsed = .now()
        self.write(raw: self.serializer.string(stanza.relabeling(namespace: XMPPNamespace.client, to: XMPPNamespace.server)), context: context)
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
        self.write(raw: self.serializer.string(result), context: context)
        context.flush()
    }

    func shutdown() {
        guard let context = self.context else { return }
        self.link.closed()
        self.write(raw: StreamHeader.closingTag, context: context, flushThen: { context.channel.close(promise: nil) })
    }
}
