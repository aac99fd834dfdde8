import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import XMPPCore
import XMPPSASL
import XMPPStream

/// A raw XMPP connection: bytes out, stream events in, TLS on demand. `XMPPClient` builds
/// the protocol on top of it; tests use it directly to send hostile input.
public final class XMPPConnection: @unchecked Sendable {
    public let channel: any Channel
    /// The last stream header the server sent.
    public private(set) var lastStreamHeader: StreamHeader?
    private let decoder: XMLStreamDecoderHandler
    private let inbox: EventInbox
    /// Fed by the key log of this connection's TLS, whenever TLS starts.
    private let exporter: TLSExporterCollector

    private init(channel: any Channel, decoder: XMLStreamDecoderHandler, inbox: EventInbox, exporter: TLSExporterCollector) {
        self.channel = channel
        self.decoder = decoder
        self.inbox = inbox
        self.exporter = exporter
    }

    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case timedOut
        case closed
        case streamError(StreamError)
        case parse(XMLStreamError)
        case tls(String)
        case unexpected(String)

        public var description: String {
            switch self {
            case .timedOut: "timed out waiting for the server"
            case .closed: "the connection was closed"
            case .streamError(let error): "stream error <\(error.condition.rawValue)/>\(error.text.map { ": \($0)" } ?? "")"
            case .parse(let error): "the server sent bad XML: \(error.detail)"
            case .tls(let detail): "TLS failed: \(detail)"
            case .unexpected(let detail): "unexpected answer: \(detail)"
            }
        }
    }

    /// Opens a TCP connection; with `tls` set, TLS starts at once (direct TLS, XEP-0368).
    public static func connect(
        host: String,
        port: Int,
        tls: XMPPClientTLS? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> XMPPConnection {
        let decoder = XMLStreamDecoderHandler(limits: XMLParserLimits(maxStanzaBytes: 16 * 1024 * 1024))
        let confinedDecoder = LoopConfined(decoder)
        let inbox = EventInbox()
        let exporter = TLSExporterCollector()
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try tls.makeHandler(exporter: exporter))
                    }
                    try channel.pipeline.syncOperations.addHandlers([confinedDecoder.value, inbox])
                }
            }
        let channel = try await bootstrap.connect(host: host, port: port).get()
        return XMPPConnection(channel: channel, decoder: decoder, inbox: inbox, exporter: exporter)
    }

    // MARK: - Sending

    public func send(raw text: String) async throws {
        var buffer = self.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try await self.channel.writeAndFlush(buffer).get()
    }

    public func send(bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(self.channel.allocator.buffer(bytes: bytes)).get()
    }

    public func send(_ element: Element) async throws {
        try await self.send(raw: XMLSerializer.clientStream.string(element))
    }

    public func openStream(to domain: String, from: String? = nil) async throws {
        var header = StreamHeader(contentNamespace: XMPPNamespace.client)
        header.attributes = [Attribute(name: "to", value: domain), Attribute(name: "version", value: "1.0")]
        if let from { header.attributes.append(Attribute(name: "from", value: from)) }
        header.attributes.append(Attribute(name: "lang", namespace: XMLNamespace.xml, value: "en"))
        try await self.send(raw: header.openingTag())
    }

    // MARK: - Receiving

    /// The next stream event, waiting at most `timeout`.
    public func nextEvent(timeout: TimeAmount = .seconds(10)) async throws -> XMLStreamEvent {
        let promise = self.channel.eventLoop.makePromise(of: XMLStreamEvent.self)
        let inbox = self.inbox
        self.channel.eventLoop.execute {
            inbox.wait(promise, timeout: timeout)
        }
        return try await promise.futureResult.get()
    }

    /// The next depth-1 element; a stream error or the end of the stream is thrown.
    public func nextElement(timeout: TimeAmount = .seconds(10)) async throws -> Element {
        switch try await self.nextEvent(timeout: timeout) {
        case .element(let element):
            if let streamError = StreamError(element: element) {
                throw Failure.streamError(streamError)
            }
            return element
        case .streamOpened:
            throw Failure.unexpected("a second stream header")
        case .streamClosed:
            throw Failure.closed
        }
    }

    /// Waits for the server's stream header.
    public func expectStreamHeader(timeout: TimeAmount = .seconds(10)) async throws -> StreamHeader {
        switch try await self.nextEvent(timeout: timeout) {
        case .streamOpened(let header):
            self.lastStreamHeader = header
            return header
        case .element(let element):
            if let error = StreamError(element: element) { throw Failure.streamError(error) }
            throw Failure.unexpected(element.name)
        case .streamClosed: throw Failure.closed
        }
    }

    // MARK: - TLS and stream restarts

    /// After `<proceed/>`: adds TLS in front of the parser and starts a fresh parser.
    public func startTLS(_ tls: XMPPClientTLS) async throws {
        let decoder = LoopConfined(self.decoder)
        try await self.channel.eventLoop.submit {
            decoder.value.restartStream(discardingBufferedInput: true)
            try self.channel.pipeline.syncOperations.addHandler(try tls.makeHandler(exporter: self.exporter), position: .first)
        }.get()
    }

    public func restartStream() async throws {
        let decoder = LoopConfined(self.decoder)
        try await self.channel.eventLoop.submit {
            decoder.value.restartStream(discardingBufferedInput: false)
        }.get()
    }

    /// The server's leaf certificate, once TLS is up.
    public func peerCertificateDER() async throws -> [UInt8]? {
        let certificate = try await self.channel.pipeline.handler(type: NIOSSLHandler.self).map { $0.peerCertificate }.get()
        return try certificate?.toDERBytes()
    }

    /// This connection's channel-binding data of the given type, once TLS is up; nil when it
    /// has none of that type.
    public func channelBinding(_ type: ChannelBindingType) async throws -> [UInt8]? {
        switch type {
        case .tlsServerEndPoint:
            return try await self.peerCertificateDER().map { SCRAMHash.sha256.hash($0) }
        case .tlsExporter:
            // RFC 9266 §3: TLS 1.3 only; TLS 1.2 logs no exporter secret either.
            let version = try await self.channel.pipeline.handler(type: NIOSSLHandler.self).map { $0.tlsVersion }.get()
            return version == .tlsv13 ? self.exporter.channelBinding : nil
        case .tlsUnique:
            return nil
        }
    }

    /// Waits until the connection is closed by either side.
    public func waitForClose(timeout: TimeAmount = .seconds(10)) async throws {
        let eventLoop = self.channel.eventLoop
        let promise = eventLoop.makePromise(of: Void.self)
        let closeFuture = self.channel.closeFuture
        eventLoop.execute {
            var finished = false
            let timer = eventLoop.scheduleTask(in: timeout) {
                guard !finished else { return }
                finished = true
                promise.fail(Failure.timedOut)
            }
            closeFuture.whenComplete { _ in
                guard !finished else { return }
                finished = true
                timer.cancel()
                promise.succeed(())
            }
        }
        try await promise.futureResult.get()
    }

    public var isActive: Bool { self.channel.isActive }

    public func close() async {
        try? await self.channel.close()
    }
}

/// Collects stream events and hands them to whoever waits for the next one.
final class EventInbox: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = XMLStreamEvent

    private var events: [Result<XMLStreamEvent, any Error>] = []
    private var waiter: (EventLoopPromise<XMLStreamEvent>, Scheduled<Void>)?
    private var terminal: (any Error)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.push(.success(self.unwrapInboundIn(data)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? XMLStreamError {
            self.push(.failure(XMPPConnection.Failure.parse(parseError)))
        } else if error is NIOSSLError || error is BoringSSLError {
            self.push(.failure(XMPPConnection.Failure.tls("\(error)")))
            context.close(promise: nil)
        } else {
            self.push(.failure(error))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.terminal = XMPPConnection.Failure.closed
        if let (promise, timer) = self.waiter, self.events.isEmpty {
            self.waiter = nil
            timer.cancel()
            promise.fail(XMPPConnection.Failure.closed)
        }
        context.fireChannelInactive()
    }

    private func push(_ event: Result<XMLStreamEvent, any Error>) {
        if let (promise, timer) = self.waiter {
            self.waiter = nil
            timer.cancel()
            promise.completeWith(event)
        } else {
            self.events.append(event)
        }
    }

    func wait(_ promise: EventLoopPromise<XMLStreamEvent>, timeout: TimeAmount) {
        if !self.events.isEmpty {
            promise.completeWith(self.events.removeFirst())
            return
        }
        if let terminal = self.terminal {
            promise.fail(terminal)
            return
        }
        let timer = promise.futureResult.eventLoop.scheduleTask(in: timeout) { [weak self] in
            guard let self, let (waiting, _) = self.waiter else { return }
            self.waiter = nil
            waiting.fail(XMPPConnection.Failure.timedOut)
        }
        self.waiter = (promise, timer)
    }
}
