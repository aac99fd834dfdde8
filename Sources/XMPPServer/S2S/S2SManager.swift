import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import XMPPCore
import XMPPStream

/// Federation: one outbound stream per (local domain, remote domain) pair shared by every
/// local user, stanzas queued while it is set up and bounced when it cannot be, dialback
/// verification for inbound streams, and the TLS contexts both directions use.
final class S2SManager: @unchecked Sendable {
    let settings: ServerConfiguration.S2SSettings
    let hosts: Set<String>
    let keys: DialbackKeys
    let validator: PeerCertificateValidator
    let resolver: S2SResolver
    let logger: Logger
    /// The contexts new streams use, both directions over the server's certificate; a reload
    /// replaces them, streams already made keep theirs.
    private let tlsContexts: NIOLockedValueBox<TLSContexts>
    var serverTLS: NIOSSLContext { self.tlsContexts.withLockedValue { $0.server } }
    var clientTLS: NIOSSLContext { self.tlsContexts.withLockedValue { $0.client } }
    private let group: any EventLoopGroup
    weak var router: Router?
    var statistics: ServerStatistics?
    var metrics: ServerMetrics?
    /// Outbound streams' deadlines are swept with every other stream's.
    var connections: ConnectionRegistry?

    private let lock = NIOLock()
    /// One outbound stream per remote domain; further local domains ride on it by dialback.
    private var links: [String: OutboundLink] = [:]
    private var inboundStreams = 0

    /// Outbound links, connecting or established, for the metrics.
    var linkCount: Int { self.lock.withLock { self.links.count } }

    init(configuration: ServerConfiguration, hosts: [String], tls: TLSMaterial, group: any EventLoopGroup, logger: Logger) throws {
        self.settings = configuration.s2s
        self.hosts = Set(hosts)
        self.keys = try DialbackKeys.load(dataDirectory: configuration.dataDirectory)
        self.validator = try PeerCertificateValidator(settings: configuration.s2s)
        self.resolver = S2SResolver(routes: configuration.s2s.routes, useDNS: configuration.s2s.resolveDNS)
        self.group = group
        self.logger = logger
        self.tlsContexts = NIOLockedValueBox(try Self.contexts(for: tls))
    }

    struct TLSContexts: @unchecked Sendable {
        var server: NIOSSLContext
        var client: NIOSSLContext
    }

    /// Peers' certificates are judged after the handshake (`judgeCertificate`), so both
    /// directions accept any chain here.
    static func contexts(for tls: TLSMaterial) throws -> TLSContexts {
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: tls.certificateChain.map { .certificate($0) }, privateKey: .privateKey(tls.privateKey))
        server.certificateVerification = .optionalVerification
        server.minimumTLSVersion = .tlsv12
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = tls.certificateChain.map { .certificate($0) }
        client.privateKey = .privateKey(tls.privateKey)
        client.certificateVerification = .noHostnameVerification
        client.minimumTLSVersion = .tlsv12
        return TLSContexts(server: try NIOSSLContext(configuration: server), client: try NIOSSLContext(configuration: client))
    }

    /// New streams from now on present the certificate of these contexts.
    func use(_ contexts: TLSContexts) {
        self.tlsContexts.withLockedValue { $0 = contexts }
    }

    var parserLimits: XMLParserLimits {
        XMLParserLimits(maxStanzaBytes: self.settings.maxStanzaBytes, maxAttributeValueBytes: min(self.settings.maxStanzaBytes, 262_144))
    }

    /// Judges a peer's certificate chain off the event loop with input paused, then hands the
    /// identity back on the loop (both stream directions use this after the TLS handshake).
    func judgeCertificate(_ chain: [NIOSSLCertificate], decoder: XMLStreamDecoderHandler, eventLoop: any EventLoop, then: @escaping (CertificateIdentity) -> Void) {
        decoder.pause()
        let validator = self.validator
        let continuation = UnsafeTransfer(then)
        let pausedDecoder = UnsafeTransfer(decoder)
        Task {
            let identity = await validator.identity(of: chain)
            eventLoop.execute {
                continuation.value(identity)
                pausedDecoder.value.resume()
            }
        }
    }

    /// Outbound links (one per remote domain) and inbound streams, for statistics.
    /// The remote domains with an outbound link, connecting or established.
    var outboundDomains: [String] {
        self.lock.withLock { self.links.keys.sorted() }
    }

    var linkCounts: (outbound: Int, inbound: Int) {
        self.lock.withLock { (self.links.count, self.inboundStreams) }
    }

    // MARK: - Inbound stream accounting

    func inboundOpened() -> Bool {
        self.lock.withLock {
            guard self.inboundStreams < self.settings.maxInboundStreams else { return false }
            self.inboundStreams += 1
            return true
        }
    }

    func inboundClosed() {
        self.lock.withLock { self.inboundStreams -= 1 }
    }

    // MARK: - Outbound stanzas

    /// Sends a stanza (in `jabber:client` form) to its remote domain.
    func send(_ stanza: Element) {
        guard let to = stanza.to?.domainpart, let from = stanza.from?.domainpart, self.hosts.contains(from) else { return }
        let (link, isNew) = self.lock.withLock { () -> (OutboundLink, Bool) in
            if let existing = self.links[to], !existing.isFinished { return (existing, false) }
            let link = OutboundLink(local: from, remote: to, manager: self)
            self.links[to] = link
            return (link, true)
        }
        link.enqueue(stanza)
        if isNew {
            self.statistics?.increment(\.outboundStreamsOpened)
            self.connect(link, purpose: .stanzas)
        }
    }

    func linkFinished(_ link: OutboundLink) {
        self.lock.withLock {
            if self.links[link.remote] === link { self.links[link.remote] = nil }
        }
    }

    func bounce(_ stanzas: [Element], _ condition: StanzaErrorCondition) {
        guard let router = self.router else { return }
        Task {
            for stanza in stanzas {
                await router.bounce(stanza, StanzaError(condition))
            }
        }
    }

    // MARK: - Dialback verification

    /// Asks the authoritative server of `originating` whether `key` is the one it issued for
    /// the stream `streamID` it opened to `receiving` (one of our domains).
    func verifyDialback(originating: String, receiving: String, key: String, streamID: String) async -> Bool {
        await withCheckedContinuation { continuation in
            let link = OutboundLink(local: receiving, remote: originating, manager: self)
            link.onVerified = { valid in continuation.resume(returning: valid) }
            self.connect(link, purpose: .verify(originating: originating, streamID: streamID, key: key))
        }
    }

    // MARK: - Connecting

    private func connect(_ link: OutboundLink, purpose: S2SOutboundStateMachine.Purpose) {
        let resolver = self.resolver
        let remote = link.remote
        NIOThreadPool.singleton.runIfActive(eventLoop: self.group.next()) {
            resolver.targets(for: remote)
        }.whenComplete { result in
            let targets = (try? result.get()) ?? []
            guard !targets.isEmpty else {
                link.failed(.remoteServerNotFound, reason: "no route or DNS records for \(remote)")
                return
            }
            self.tryTargets(targets[...], link: link, purpose: purpose)
        }
    }

    private func tryTargets(_ targets: ArraySlice<S2SResolver.Target>, link: OutboundLink, purpose: S2SOutboundStateMachine.Purpose) {
        guard let target = targets.first else {
            link.failed(.remoteServerNotFound, reason: "could not connect to \(link.remote)")
            return
        }
        let machine = S2SOutboundStateMachine(
            local: link.local, remote: link.remote, purpose: purpose, tlsRequired: self.settings.requireEncryption,
            dialbackAllowed: self.settings.dialback)
        let manager = self
        let bootstrap = ClientBootstrap(group: self.group)
            .connectTimeout(.seconds(Int64(self.settings.connectTimeoutSeconds)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let decoder = XMLStreamDecoderHandler(limits: manager.parserLimits)
                    let handler = S2SOutboundHandler(machine: machine, link: link, manager: manager, decoder: decoder)
                    if target.directTLS {
                        try channel.pipeline.syncOperations.addHandler(handler.makeTLSHandler())
                    }
                    try channel.pipeline.syncOperations.addHandlers([decoder, handler])
                }
            }
        bootstrap.connect(host: target.host, port: target.port).whenFailure { error in
            self.logger.debug("s2s connect failed", metadata: ["remote": "\(link.remote)", "target": "\(target.host):\(target.port)", "error": "\(error)"])
            self.tryTargets(targets.dropFirst(), link: link, purpose: purpose)
        }
    }

    func shutdown() {
        let all = self.lock.withLock { Array(self.links.values) }
        for link in all { link.close() }
    }
}

/// One outbound stream and the stanzas waiting for it.
final class OutboundLink: @unchecked Sendable {
    /// The domain the stream was opened for.
    let local: String
    let remote: String
    private weak var manager: S2SManager?
    private let lock = NIOLock()
    /// Stanzas waiting, per local domain, for the stream or for that domain's dialback.
    private var queues: [String: [Element]] = [:]
    /// Local domains the remote server accepted on this stream.
    private var authenticated: Set<String> = []
    private var piggybackRequested: Set<String> = []
    private var handler: S2SOutboundHandler?
    private var eventLoop: (any EventLoop)?
    private(set) var isFinished = false
    var onVerified: (@Sendable (Bool) -> Void)?

    init(local: String, remote: String, manager: S2SManager) {
        self.local = local
        self.remote = remote
        self.manager = manager
    }

    func enqueue(_ stanza: Element) {
        enum Decision {
            case write(S2SOutboundHandler, any EventLoop)
            case piggyback(S2SOutboundHandler, any EventLoop, String)
            case queued
            case full
        }
        let limit = self.manager?.settings.queueLimit ?? 1000
        let from = stanza.from?.domainpart ?? self.local
        let decision: Decision = self.lock.withLock {
            if let handler = self.handler, let eventLoop = self.eventLoop, self.authenticated.contains(from) {
                return .write(handler, eventLoop)
            }
            guard (self.queues[from]?.count ?? 0) < limit else { return .full }
            self.queues[from, default: []].append(stanza)
            // XEP-0220 §2.5: another of our domains rides on the established stream by dialback.
            if let handler = self.handler, let eventLoop = self.eventLoop, !self.piggybackRequested.contains(from) {
                self.piggybackRequested.insert(from)
                return .piggyback(handler, eventLoop, from)
            }
            return .queued
        }
        switch decision {
        case .write(let handler, let eventLoop):
            let transfer = UnsafeTransfer(handler)
            eventLoop.execute { transfer.value.write(stanza) }
        case .piggyback(let handler, let eventLoop, let domain):
            let transfer = UnsafeTransfer(handler)
            eventLoop.execute { transfer.value.requestDialback(for: domain) }
        case .queued:
            break
        case .full:
            self.manager?.bounce([stanza], .resourceConstraint)
        }
    }

    func established(_ handler: S2SOutboundHandler, eventLoop: any EventLoop) {
        let (waiting, others) = self.lock.withLock { () -> ([Element], [String]) in
            self.handler = handler
            self.eventLoop = eventLoop
            self.authenticated.insert(self.local)
            let waiting = self.queues.removeValue(forKey: self.local) ?? []
            let others = Array(self.queues.keys)
            self.piggybackRequested.formUnion(others)
            return (waiting, others)
        }
        for stanza in waiting { handler.write(stanza) }
        for domain in others { handler.requestDialback(for: domain) }
    }

    /// The remote server answered a piggybacked `db:result` for one of our domains.
    func piggybackAnswered(domain: String, valid: Bool) {
        let (handler, waiting) = self.lock.withLock { () -> (S2SOutboundHandler?, [Element]) in
            self.piggybackRequested.remove(domain)
            if valid { self.authenticated.insert(domain) }
            return (self.handler, self.queues.removeValue(forKey: domain) ?? [])
        }
        if valid, let handler {
            for stanza in waiting { handler.write(stanza) }
        } else {
            self.manager?.bounce(waiting, .remoteServerNotFound)
        }
    }

    func verified(_ valid: Bool) {
        let callback = self.lock.withLock { () -> (@Sendable (Bool) -> Void)? in
            defer { self.onVerified = nil }
            return self.onVerified
        }
        callback?(valid)
    }

    func failed(_ condition: StanzaErrorCondition, reason: String) {
        let waiting = self.lock.withLock { () -> [Element] in
            self.isFinished = true
            self.handler = nil
            defer { self.queues.removeAll() }
            return self.queues.values.flatMap { $0 }
        }
        self.manager?.logger.info("s2s stream failed", metadata: ["local": "\(self.local)", "remote": "\(self.remote)", "reason": "\(reason)"])
        self.verified(false)
        self.manager?.bounce(waiting, condition)
        self.manager?.linkFinished(self)
    }

    func closed() {
        let waiting = self.lock.withLock { () -> [Element] in
            self.isFinished = true
            self.handler = nil
            defer { self.queues.removeAll() }
            return self.queues.values.flatMap { $0 }
        }
        self.verified(false)
        self.manager?.bounce(waiting, .remoteServerTimeout)
        self.manager?.linkFinished(self)
    }

    func close() {
        let current = self.lock.withLock { () -> (S2SOutboundHandler, any EventLoop)? in
            guard let handler = self.handler, let eventLoop = self.eventLoop else { return nil }
            return (handler, eventLoop)
        }
        if let (handler, eventLoop) = current {
            let transfer = UnsafeTransfer(handler)
            eventLoop.execute { transfer.value.shutdown() }
        }
    }
}
