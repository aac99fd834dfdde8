import Logging
import NIOCore
import XMPPCore
import XMPPSASL
import XMPPStream

/// The channel side of an external component's stream (XEP-0114): feeds
/// `ComponentStreamStateMachine`, claims the domain in the registry, routes what the component
/// sends in order and writes what the router hands its link. All state lives on the channel's
/// event loop.
final class ComponentConnectionHandler: ChannelInboundHandler, SweptConnection {
    typealias InboundIn = XMLStreamEvent
    typealias OutboundOut = ByteBuffer

    private var machine: ComponentStreamStateMachine
    private let server: ServerCore
    private let decoder: XMLStreamDecoderHandler
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var link: ComponentLink?
    private var routing: OrderedRoutingQueue?
    private var negotiationDeadline: NIODeadline?
    private var closing = false
    private var address = "unknown"
    private var metricsState = MetricLabel.ConnectionState.uncounted
    private let writer = StreamWriter(serializer: .stream(contentNamespace: ComponentNamespace.accept))

    init(server: ServerCore, decoder: XMLStreamDecoderHandler, policy: ComponentPolicy, logger: Logger) {
        self.server = server
        self.decoder = decoder
        self.logger = logger
        self.machine = ComponentStreamStateMachine(policy: policy)
    }

    private func log(_ level: Logger.Level, _ message: Logger.Message, metadata: Logger.Metadata = [:]) {
        var all = metadata
        all["ip"] = .string(self.address)
        all["component"] = .string(self.link?.domain ?? "-")
        self.logger.log(level: level, message, metadata: all)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress?.ipAddress { self.address = remote }
        self.negotiationDeadline = .now() + .seconds(Int64(self.server.configuration.limits.negotiationTimeoutSeconds))
        let decoder = self.decoder
        self.routing = OrderedRoutingQueue(
            router: self.server.router, eventLoop: context.eventLoop, pauseInput: { decoder.pause() }, resumeInput: { decoder.resume() })
        self.server.connections.add(self, eventLoop: context.eventLoop)
        self.server.metrics.track(.component, &self.metricsState, .connected)
    }

    /// The context refers back to this handler: let go of it, or neither is ever freed.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.server.metrics.track(.component, &self.metricsState, .uncounted)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closing = true
        if let link = self.link {
            self.server.router.components.release(link)
            self.log(.info, "component disconnected")
        }
        self.server.connections.remove(self, eventLoop: context.eventLoop)
        self.server.metrics.track(.component, &self.metricsState, .uncounted)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.closing else { return }
        switch self.unwrapInboundIn(data) {
        case .streamOpened(let header):
            self.run(self.machine.streamOpened(header, streamID: Base64.encode(SASLRandom.bytes(12))))
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
        self.log(.info, "component connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func run(_ actions: [ComponentStreamStateMachine.Action]) {
        guard let context = self.context else { return }
        for action in actions {
            switch action {
            case .sendStreamHeader(let header):
                self.writer.write(header.openingTag(), context: context)
            case .send(let element):
                self.writer.write(element, context: context)
            case .claimDomain(let domain):
                let link = ComponentLink(domain: domain, eventLoop: context.eventLoop, connection: self)
                if self.server.router.components.claim(link) {
                    self.link = link
                    self.negotiationDeadline = nil
                    self.server.metrics.track(.component, &self.metricsState, .authenticated)
                    self.log(.info, "component authenticated")
                    self.run(self.machine.domainClaimed())
                } else {
                    self.log(.notice, "component refused: its domain is already connected", metadata: ["domain": "\(domain)"])
                    self.run(self.machine.domainTaken())
                }
                return
            case .route(let stanza):
                guard let domain = self.link?.domain else { preconditionFailure("stanzas are routed only once the domain is claimed") }
                self.routing?.enqueue(.stanza(stanza, origin: .component(domain)))
            case .close(let error):
                self.closing = true
                if let error, error.condition != .systemShutdown {
                    self.log(.notice, "component stream closed", metadata: ["condition": "\(error.condition.rawValue)"])
                }
                self.writer.close(with: error, context: context)
                return
            }
        }
        context.flush()
    }

    /// Writes a stanza the router sent to the component; one that cannot be written any more
    /// goes back through `undelivered`, so its sender hears of it.
    func write(_ stanza: Element, undelivered: @escaping @Sendable (Element) -> Void) {
        guard let context = self.context, !self.closing else {
            undelivered(stanza)
            return
        }
        self.server.metrics.stanzaSent(stanza, stream: .component)
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenFailure { _ in undelivered(stanza) }
        self.writer.write(stanza.relabeling(namespace: XMPPNamespace.client, to: ComponentNamespace.accept), context: context, promise: promise)
        context.flush()
    }

    func checkDeadlines(now: NIODeadline) {
        guard !self.closing, let deadline = self.negotiationDeadline, now >= deadline else { return }
        self.negotiationDeadline = nil
        self.log(.info, "component handshake timed out")
        self.run(self.machine.shutdown(.connectionTimeout))
    }

    func terminate(_ condition: StreamErrorCondition) {
        self.run(self.machine.shutdown(condition))
    }
}
