import Logging
import NIOCore
import NIOSSL
import NIOTLS
#if canImport(Glibc)
import Glibc
#endif
import XMPPCore
import XMPPStream

/// A client stream over TCP, with STARTTLS or direct TLS (RFC 6120, XEP-0368): the channel
/// handler that turns channel events into `ClientStream` events and carries out what the
/// stream asks of its transport. Nothing a XEP defines lives here.
final class TCPClientTransport: ChannelInboundHandler, ClientTransport {
    typealias InboundIn = XMLStreamEvent
    typealias OutboundOut = ByteBuffer

    private let server: ServerCore
    private let decoder: XMLStreamDecoderHandler
    private let tls: TLSMaterial?
    let eventLoop: any EventLoop
    private let directTLS: Bool
    private var context: ChannelHandlerContext?
    private var stream: ClientStream?
    private(set) var remoteAddress = "unknown"
    private let writer = StreamWriter(serializer: .clientStream)
    /// The ClientHello random from ClientHello to handshake completion, to claim the
    /// connection's `tls-exporter` binding by (`TLSExporterTable`); nil otherwise.
    private var clientRandom: [UInt8]?

    init(server: ServerCore, eventLoop: any EventLoop, decoder: XMLStreamDecoderHandler, tls: TLSMaterial?, directTLS: Bool) {
        self.server = server
        self.decoder = decoder
        self.tls = tls
        self.directTLS = directTLS
        self.eventLoop = eventLoop
        server.statistics.increment(\.liveConnectionHandlers)
    }

    deinit {
        self.server.statistics.decrement(\.liveConnectionHandlers)
    }

    var canStartTLS: Bool { self.tls != nil }
    var metricsKind: MetricLabel.ConnectionKind { .c2sTCP }
    var unfinishedInputSince: NIODeadline? { self.decoder.unfinishedSince }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress?.ipAddress {
            self.remoteAddress = remote
        }
        let stream = ClientStream(server: self.server, transport: self, tls: self.tls, directTLS: self.directTLS)
        self.stream = stream
        stream.opened()
    }

    /// The context refers back to this handler: let go of it, or neither is ever freed.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let random = self.clientRandom {
            self.clientRandom = nil
            self.tls?.exporters.cancel(clientRandom: random)
        }
        self.stream?.closed()
        // The stream refers back to its transport; the session may keep the stream a while.
        self.stream = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.stream?.received(self.unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? XMLStreamError {
            self.stream?.parseFailed(parseError)
            return
        }
        if let sslError = error as? NIOSSLError, case .uncleanShutdown = sslError {
            // Mobile clients drop TLS without close_notify all the time.
            self.stream?.log(.debug, "TLS closed without close_notify")
        } else if error is NIOSSLError || error is BoringSSLError {
            self.stream?.log(.info, "TLS error", metadata: ["error": "\(error)"])
        } else if let ioError = error as? IOError, [ECONNRESET, EPIPE].contains(ioError.errnoCode) {
            self.stream?.log(.debug, "connection reset")
        } else {
            self.stream?.log(.info, "connection error", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSClientRandomEvent {
            if let tls = self.tls, tls.exporters.register(clientRandom: event.clientRandom) {
                self.clientRandom = event.clientRandom
            }
            return
        }
        if case TLSUserEvent.handshakeCompleted = event {
            self.stream?.tlsEstablished(exporter: self.takeExporterBinding(context: context))
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// RFC 9266 §3: `tls-exporter` only on TLS 1.3 (TLS 1.2 would need extended master
    /// secret, which swift-nio-ssl does not report, and logs no exporter secret anyway).
    private func takeExporterBinding(context: ChannelHandlerContext) -> [UInt8]? {
        guard let random = self.clientRandom, let tls = self.tls else { return nil }
        self.clientRandom = nil
        let binding = tls.exporters.take(clientRandom: random)
        guard let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self), handler.tlsVersion == .tlsv13 else {
            return nil
        }
        return binding
    }

    // MARK: - What the stream asks of its transport

    func sendHeader(_ header: StreamHeader) {
        guard let context = self.context else { return }
        self.writer.write(header.openingTag(), context: context)
    }

    func send(_ element: Element) {
        guard let context = self.context else { return }
        self.writer.write(element, context: context)
    }

    func flush() {
        self.context?.flush()
    }

    func close(with error: StreamError?) {
        guard let context = self.context else { return }
        self.writer.close(with: error, context: context)
    }

    func abandon() {
        self.context?.close(promise: nil)
    }

    func pauseInput() {
        self.decoder.pause()
    }

    func resumeInput() {
        self.decoder.resume()
    }

    func startTLS() throws {
        guard let context = self.context, let tls = self.tls else { throw ChannelError.ioOnClosedChannel }
        // Anything buffered after <starttls/> arrived in plaintext: it is dropped, never parsed.
        self.decoder.restartStream(discardingBufferedInput: true)
        try context.channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context), position: .first)
        // In front of TLS, to learn the ClientHello random before the handshake logs secrets.
        try context.channel.pipeline.syncOperations.addHandler(TLSClientRandomHandler(), position: .first)
    }

    func restartStream() {
        self.decoder.restartStream(discardingBufferedInput: false)
    }

    func setParserLimits(_ limits: XMLParserLimits) {
        self.decoder.limits = limits
    }
}
