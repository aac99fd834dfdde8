import NIOConcurrencyHelpers
import NIOCore
import XMPPCore
import XMPPStream

/// A client stream over BOSH (XEP-0124, XEP-0206): one session made of many HTTP requests.
/// `BOSHSessionMachine` decides what each request does and when it is answered; this
/// transport carries that out on its event loop, between the HTTP handlers waiting for
/// their answers and the session's `ClientStream`.
final class BOSHClientTransport: ClientTransport, @unchecked Sendable {
    let eventLoop: any EventLoop
    let remoteAddress: String
    let sid: String
    var canStartTLS: Bool { false }
    var metricsKind: MetricLabel.ConnectionKind { .c2sBOSH }
    var unfinishedInputSince: NIODeadline? { nil }

    /// Touched on the event loop only.
    private var machine: BOSHSessionMachine
    private var stream: ClientStream?
    private var outgoing: [Element] = []
    private var answers: [BOSHSessionMachine.RequestID: EventLoopPromise<BOSHBody>] = [:]
    private var nextRequestID: BOSHSessionMachine.RequestID = 0
    private var paused = false
    /// What the client sent while the stream asked for no input.
    private var deferredEvents: [XMLStreamEvent] = []
    private var closed = false
    private var finished = false
    private let onFinish: @Sendable (String) -> Void
    /// Read by the HTTP handler before it parses a request's body.
    let limits: NIOLockedValueBox<XMLParserLimits>

    private init(machine: BOSHSessionMachine, sid: String, eventLoop: any EventLoop, remoteAddress: String, limits: XMLParserLimits, onFinish: @escaping @Sendable (String) -> Void) {
        self.machine = machine
        self.sid = sid
        self.eventLoop = eventLoop
        self.remoteAddress = remoteAddress
        self.limits = NIOLockedValueBox(limits)
        self.onFinish = onFinish
    }

    /// Opens a session for a creation request, on `eventLoop`. The answer is the creation
    /// response, or a terminal condition when the request cannot start a session.
    static func open(
        _ body: BOSHBody, server: ServerCore, sid: String, limits: BOSHSessionMachine.Limits, secure: Bool,
        eventLoop: any EventLoop, remoteAddress: String, onFinish: @escaping @Sendable (String) -> Void
    ) -> EventLoopFuture<(BOSHClientTransport?, EventLoopFuture<BOSHBody>)> {
        eventLoop.submit {
            switch BOSHSessionMachine.create(body, request: 0, sid: sid, limits: limits, secure: secure, now: .now()) {
            case .failure(let condition):
                return (nil, eventLoop.makeSucceededFuture(condition.body))
            case .success(let (machine, actions)):
                let transport = BOSHClientTransport(
                    machine: machine, sid: sid, eventLoop: eventLoop, remoteAddress: remoteAddress,
                    limits: server.parserLimits(authenticated: false), onFinish: onFinish)
                let answer = eventLoop.makePromise(of: BOSHBody.self)
                transport.answers[0] = answer
                transport.nextRequestID = 1
                let stream = ClientStream(server: server, transport: transport, tls: nil, directTLS: secure)
                transport.stream = stream
                stream.opened()
                transport.carryOut(actions)
                return (transport, answer.futureResult)
            }
        }
    }

    /// A later request of this session; the future is its answer, whenever it is due.
    func receive(_ body: BOSHBody) -> EventLoopFuture<BOSHBody> {
        self.eventLoop.flatSubmit {
            let id = self.nextRequestID
            self.nextRequestID &+= 1
            let answer = self.eventLoop.makePromise(of: BOSHBody.self)
            self.answers[id] = answer
            self.carryOut(self.machine.request(body, id: id, now: .now()))
            return answer.futureResult
        }
    }

    /// A request whose body could not be read: the stream ends as a TCP stream would on bad XML.
    func receiveUnreadable(_ error: XMLStreamError) {
        self.eventLoop.execute {
            self.stream?.parseFailed(error)
            self.carryOut(self.machine.endedByRefusedRequest())
        }
    }

    /// Called about once a second by the session registry.
    func tick() {
        self.eventLoop.execute { self.carryOut(self.machine.tick(now: .now())) }
    }

    /// The server stops and the stream did not end by itself: answer everything still waiting.
    func shutDown() {
        self.eventLoop.execute {
            self.carryOut(self.machine.streamEnded(error: StreamError(.systemShutdown).element, now: .now()))
            self.finish()
        }
    }

    private func carryOut(_ actions: [BOSHSessionMachine.Action]) {
        for action in actions {
            switch action {
            case .deliver(let event):
                if self.paused {
                    self.deferredEvents.append(event)
                } else {
                    self.stream?.received(event)
                }
            case .respond(let id, let body):
                self.answers.removeValue(forKey: id)?.succeed(body)
            case .ended:
                self.finish()
            }
        }
    }

    private func finish() {
        guard !self.finished else { return }
        self.finished = true
        self.onFinish(self.sid)
        // The stream's connection is gone: a session it bound may stay resumable (XEP-0198).
        // Told on the next turn of the loop, since this may run inside the stream's own close.
        if let stream = self.stream {
            self.stream = nil
            self.eventLoop.execute { stream.closed() }
        }
        self.deferredEvents.removeAll()
        for (_, answer) in self.answers { answer.succeed(BOSHTerminalCondition.itemNotFound.body) }
        self.answers.removeAll()
    }

    // MARK: - What the stream asks of its transport (on the event loop)

    func sendHeader(_ header: StreamHeader) {
        self.machine.streamHeaderSent(header)
    }

    func send(_ element: Element) {
        self.outgoing.append(element)
    }

    func flush() {
        guard !self.outgoing.isEmpty else { return }
        let elements = self.outgoing
        self.outgoing.removeAll()
        self.carryOut(self.machine.output(elements, now: .now()))
    }

    func close(with error: StreamError?) {
        guard !self.closed else { return }
        self.closed = true
        self.flush()
        self.carryOut(self.machine.streamEnded(error: error?.element, now: .now()))
    }

    func abandon() {
        self.closed = true
        self.outgoing.removeAll()
        self.carryOut(self.machine.streamEnded(error: nil, discardingOutput: true, now: .now()))
    }

    func pauseInput() {
        self.paused = true
    }

    func resumeInput() {
        self.paused = false
        while !self.paused, !self.deferredEvents.isEmpty {
            let event = self.deferredEvents.removeFirst()
            self.stream?.received(event)
        }
    }

    func startTLS() throws {
        // Never offered: `canStartTLS` is false; TLS comes with HTTPS.
        throw ChannelError.operationUnsupported
    }

    /// A restart request opens the stream again; bodies need no parser reset.
    func restartStream() {}

    func setParserLimits(_ limits: XMLParserLimits) {
        self.limits.withLockedValue { $0 = limits }
    }
}
