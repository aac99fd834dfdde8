import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import XMPPCore
import XMPPSASL

/// What a scenario hears from its connections. Every call arrives on the generator's one
/// event loop, so scenarios keep plain mutable state.
protocol LoadConnectionObserver: AnyObject {
    func connectionReady(_ connection: LoadConnection)
    func connectionRegistered(_ connection: LoadConnection)
    /// The server issued a FAST token for this connection's account (XEP-0484).
    func connection(_ connection: LoadConnection, issuedToken token: String)
    func connection(_ connection: LoadConnection, failed reason: String)
    func connection(_ connection: LoadConnection, received marker: MarkerScanner.Marker)
    /// A stanza read by the connection's `StanzaScanner`, while it runs one.
    func connection(_ connection: LoadConnection, received stanza: StanzaScanner.Stanza)
    /// After a batch of reads: the moment to flush what the markers caused to be written.
    func connectionReadComplete(_ connection: LoadConnection)
}

/// One simulated client: negotiates with `LoginMachine` over a parsed stream, then drops the
/// parser and only scans delivered bytes for timestamps (`MarkerScanner`).
final class LoadConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let index: Int
    let startedAt: NIODeadline
    private var machine: LoginMachine
    private var parser: XMLStreamParser? = XMLStreamParser(limits: XMLParserLimits(maxStanzaBytes: 1 << 20))
    private var scanner = MarkerScanner()
    /// Reads whole stanzas (MUC joins) as well as markers, while set.
    private var stanzaScanner: StanzaScanner?
    private let tlsContext: NIOSSLContext
    /// Weak: a connection can outlive the scenario that made it (a server that says goodbye,
    /// chat rooms' 332 at shutdown, after the scenario has returned).
    private weak var observer: (any LoadConnectionObserver)?
    private var channel: (any Channel)?
    private(set) var isReady = false
    /// Requests the client waited on before its session was ready, with the TCP connect and
    /// the TLS handshake (TLS 1.3: one each).
    private(set) var roundTrips = 2
    /// XMPP bytes sent and received before the session was ready (TLS records' overhead and
    /// the handshake not counted).
    private(set) var negotiationBytes = 0
    private var isDone = false

    init(index: Int, machine: LoginMachine, tlsContext: NIOSSLContext, observer: any LoadConnectionObserver) {
        self.index = index
        self.machine = machine
        self.tlsContext = tlsContext
        self.observer = observer
        self.startedAt = .now()
    }

    /// Connects from `source` (one of several 127.0.0.x, so ephemeral ports do not run out).
    static func open(
        index: Int, machine: LoginMachine, host: String, port: Int, source: String?, tlsContext: NIOSSLContext,
        observer: any LoadConnectionObserver, on loop: any EventLoop, timeout: TimeAmount
    ) -> LoadConnection {
        let connection = LoadConnection(index: index, machine: machine, tlsContext: tlsContext, observer: observer)
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if machine.security == .directTLS {
                        try channel.pipeline.syncOperations.addHandler(try connection.makeTLSHandler())
                    }
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        if let source, let address = try? SocketAddress(ipAddress: source, port: 0) {
            bootstrap = bootstrap.bind(to: address)
        }
        bootstrap.connect(host: host, port: port).whenFailure { error in
            connection.finish(failure: "connect: \(error)")
        }
        return connection
    }

    private func makeTLSHandler() throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: self.tlsContext, serverHostname: self.machine.domain)
    }

    // MARK: - Writing

    func send(_ text: String, flush: Bool = true) {
        guard let channel = self.channel, self.isReady else { return }
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        if flush {
            channel.writeAndFlush(buffer, promise: nil)
        } else {
            channel.write(buffer, promise: nil)
        }
    }

    func flush() {
        self.channel?.flush()
    }

    /// From now on also report stanzas (`StanzaScanner`). Started when the connection becomes
    /// ready, before its initial presence, so that the scanner begins between two stanzas.
    func startScanningStanzas() {
        if self.stanzaScanner == nil { self.stanzaScanner = StanzaScanner() }
    }

    /// Back to markers only: once a client is in its room.
    func stopScanningStanzas() {
        self.stanzaScanner = nil
    }

    /// Ends the stream politely and closes; a client logging out.
    func close() {
        guard let channel = self.channel else { return }
        self.isDone = true
        var buffer = channel.allocator.buffer(capacity: 16)
        buffer.writeString("</stream:stream>")
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: - ChannelInboundHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.channel = context.channel
        if context.channel.isActive { self.perform(self.machine.connected(), context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.perform(self.machine.connected(), context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.channel = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finish(failure: self.scanner.sawStreamEnd ? "the server ended the stream" : "connection closed")
        self.channel = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.finish(failure: "\(error)")
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            self.perform(self.machine.tlsEstablished(), context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        if self.isReady {
            buffer.withUnsafeReadableBytes { bytes in
                self.scanner.scan(bytes) { self.observer?.connection(self, received: $0) }
                if self.stanzaScanner != nil {
                    // Reported after the scan: the scenario may stop the scanner on what it hears.
                    var stanzas: [StanzaScanner.Stanza] = []
                    self.stanzaScanner?.scan(bytes) { stanzas.append($0) }
                    for stanza in stanzas { self.observer?.connection(self, received: stanza) }
                }
            }
            if self.scanner.sawStreamEnd { self.finish(failure: "the server ended the stream") }
            return
        }
        guard self.parser != nil else { return }
        self.negotiationBytes += buffer.readableBytes
        self.parser?.feed(buffer.readableBytesView)
        while self.parser != nil, !self.isReady, !self.isDone {
            let event: XMLStreamEvent?
            do {
                event = try self.parser?.nextEvent()
            } catch {
                self.finish(failure: "bad XML from the server: \(error.detail)")
                context.close(promise: nil)
                return
            }
            guard let event else { break }
            switch event {
            case .streamOpened: continue
            case .element(let element): self.perform(self.machine.received(element), context: context)
            case .streamClosed: self.perform(self.machine.streamClosed(), context: context)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.isReady { self.observer?.connectionReadComplete(self) }
        context.fireChannelReadComplete()
    }

    // MARK: - Actions

    private func perform(_ actions: [LoginMachine.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let text):
                self.roundTrips += 1
                self.negotiationBytes += text.utf8.count
                var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
                buffer.writeString(text)
                context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
            case .startTLS:
                do {
                    try context.pipeline.syncOperations.addHandler(try self.makeTLSHandler(), position: .first)
                } catch {
                    self.finish(failure: "TLS: \(error)")
                    context.close(promise: nil)
                }
            case .resetParser:
                self.parser?.reset()
            case .ready(let presence):
                self.negotiationBytes += presence.utf8.count
                var buffer = context.channel.allocator.buffer(capacity: presence.utf8.count)
                buffer.writeString(presence)
                context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
                self.parser = nil
                self.isReady = true
                self.observer?.connectionReady(self)
            case .issuedToken(let token):
                self.observer?.connection(self, issuedToken: token)
            case .registered:
                self.isDone = true
                self.observer?.connectionRegistered(self)
                self.close()
            case .failed(let reason):
                self.finish(failure: reason)
                context.close(promise: nil)
            }
        }
    }

    private func finish(failure reason: String) {
        guard !self.isDone else { return }
        self.isDone = true
        self.isReady = false
        self.observer?.connection(self, failed: reason)
    }
}
