import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore
import XMPPCore
import XMPPStream

/// A client stream over WebSocket (RFC 7395): each text frame is one element, `<open/>` and
/// `<close/>` frame the stream. The WebSocket itself runs in async code (Hummingbird); this
/// transport hands each frame to its `ClientStream` on the connection's event loop, in order,
/// and writes what the stream sends as frames from one writer task.
final class WebSocketClientTransport: ClientTransport, @unchecked Sendable {
    enum Outgoing: Sendable {
        case frames([String])
        case close
    }

    let eventLoop: any EventLoop
    let remoteAddress: String
    var canStartTLS: Bool { false }
    var metricsKind: MetricLabel.ConnectionKind { .c2sWebSocket }
    var unfinishedInputSince: NIODeadline? { nil }

    private let server: ServerCore
    private let secure: Bool
    private let seeOtherURI: String?
    /// Touched on the event loop only.
    private var stream: ClientStream?
    private var pending: [String] = []
    private var closed = false
    private let outgoing: AsyncStream<Outgoing>
    private let outgoingContinuation: AsyncStream<Outgoing>.Continuation
    /// Read by the frame reader, set by the stream.
    private let limits: NIOLockedValueBox<XMLParserLimits>
    private let input = NIOLockedValueBox<(paused: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    init(server: ServerCore, eventLoop: any EventLoop, remoteAddress: String, secure: Bool, seeOtherURI: String?) {
        self.server = server
        self.eventLoop = eventLoop
        self.remoteAddress = remoteAddress
        self.secure = secure
        self.seeOtherURI = seeOtherURI
        self.limits = NIOLockedValueBox(server.parserLimits(authenticated: false))
        (self.outgoing, self.outgoingContinuation) = AsyncStream.makeStream(of: Outgoing.self)
    }

    /// Runs the connection: frames in, frames out, until either side closes.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        if let uri = self.seeOtherURI {
            // §3.6.1: this server sends the client elsewhere before any stream starts.
            try? await outbound.write(.text(WebSocketFraming.closeFrame(seeOtherURI: uri)))
            try? await outbound.close(.normalClosure, reason: nil)
            return
        }
        let started = self.eventLoop.submit {
            let stream = ClientStream(server: self.server, transport: self, tls: nil, directTLS: self.secure)
            self.stream = stream
            stream.opened()
        }
        guard (try? await started.get()) != nil else { return }
        let frames = self.outgoing
        async let written: Void = {
            for await item in frames {
                switch item {
                case .frames(let texts):
                    for text in texts { try? await outbound.write(.text(text)) }
                case .close:
                    try? await outbound.close(.normalClosure, reason: nil)
                    return
                }
            }
        }()
        do {
            for try await message in inbound.messages(maxSize: self.server.configuration.limits.maxStanzaBytes + 1024) {
                await self.waitWhilePaused()
                switch message {
                case .text(let text):
                    let limits = self.limits.withLockedValue { $0 }
                    let event = Result { () throws(XMLStreamError) in try WebSocketFraming.event(fromFrame: text, limits: limits) }
                    self.eventLoop.execute {
                        switch event {
                        case .success(let event): self.stream?.received(event)
                        case .failure(let error): self.stream?.parseFailed(error)
                        }
                    }
                case .binary:
                    // §3.2: XMPP travels in text frames only.
                    self.eventLoop.execute { self.stream?.parseFailed(.notWellFormed("binary frames carry no XMPP")) }
                }
            }
        } catch {
            self.eventLoop.execute { self.stream?.log(.debug, "WebSocket closed", metadata: ["error": "\(error)"]) }
        }
        self.eventLoop.execute {
            self.stream?.closed()
            self.stream = nil
            self.outgoingContinuation.yield(.close)
            self.outgoingContinuation.finish()
        }
        await written
    }

    private func waitWhilePaused() async {
        await withCheckedContinuation { continuation in
            let resumeNow = self.input.withLockedValue { state -> Bool in
                guard state.paused else { return true }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    // MARK: - What the stream asks of its transport (on the event loop)

    func sendHeader(_ header: StreamHeader) {
        self.pending.append(WebSocketFraming.openFrame(header))
    }

    func send(_ element: Element) {
        self.pending.append(WebSocketFraming.frame(element))
    }

    func flush() {
        guard !self.pending.isEmpty else { return }
        self.outgoingContinuation.yield(.frames(self.pending))
        self.pending.removeAll(keepingCapacity: true)
    }

    func close(with error: StreamError?) {
        guard !self.closed else { return }
        self.closed = true
        if let error { self.pending.append(WebSocketFraming.frame(error.element)) }
        self.pending.append(WebSocketFraming.closeFrame())
        self.flush()
        self.outgoingContinuation.yield(.close)
    }

    func abandon() {
        self.closed = true
        self.pending.removeAll()
        self.outgoingContinuation.yield(.close)
    }

    func pauseInput() {
        self.input.withLockedValue { $0.paused = true }
    }

    func resumeInput() {
        let waiter = self.input.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.paused = false
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func startTLS() throws {
        // Never offered: `canStartTLS` is false; TLS comes with HTTPS.
        throw ChannelError.operationUnsupported
    }

    /// A new `<open/>` restarts the stream; frames need no parser reset.
    func restartStream() {}

    func setParserLimits(_ limits: XMLParserLimits) {
        self.limits.withLockedValue { $0 = limits }
    }
}
