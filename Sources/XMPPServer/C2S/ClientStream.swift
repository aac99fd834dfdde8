import Logging
import NIOCore
import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStream

/// One client's stream, whatever carries it: feeds `C2SStreamStateMachine` and carries out
/// the actions it returns, binds and resumes the session, routes what the client sends in
/// order, and writes what the session is sent (stream management, client state indication,
/// keepalive). It talks to its connection only through `ClientTransport`, and all its state
/// lives on the transport's event loop.
final class ClientStream: SweptConnection {
    var machine: C2SStreamStateMachine
    let server: ServerCore
    let transport: any ClientTransport
    /// Asked of the transport, not kept: every stored property is paid by every connection.
    var eventLoop: any EventLoop { self.transport.eventLoop }
    private let tls: TLSMaterial?
    /// The authenticated account until a resource is bound (then the session's JID says it).
    var account: String?
    var session: ClientSession?
    /// Stanzas from this client are routed one after another, in the order they arrived
    /// (RFC 6120 §10.1); reading pauses while too many wait. Made for the first stanza and
    /// kept: making one per batch (and letting it go when drained) cost chat about a fifth of
    /// its throughput in `bench-compare` for 0.2 KiB per idle connection.
    private var routing: OrderedRoutingQueue?
    /// Reasons input is paused for (a storage round trip, a login delay, routing backlog):
    /// reading resumes only when none is left.
    private var inputHolds = 0

    /// Timers are deadlines the registry's once-a-second sweep checks (`checkDeadlines`): a
    /// scheduled task per timer and connection would cost every idle connection several
    /// hundred bytes and the event loop thousands of wake-ups a second. Keepalive runs while a
    /// session is bound.
    var negotiationDeadline: NIODeadline?
    private var countedAsUnauthenticated = false
    private var refused = false
    private var metricsState = MetricLabel.ConnectionState.uncounted
    private var keepAlive = KeepAlive(now: .now())
    var closing = false
    var clientState = ClientStateIndication()
    var ackOutstanding = false
    /// The XEP-0388 user-agent's software and device, shown to administrators.
    var clientName: String?
    /// Stanzas routed to a session bound inside SASL2 while its `<success/>` still waits for
    /// the archive: the client may read nothing of the session before that answer.
    var heldUntilBoundAnswer: [Element]?
    /// The invitation token this stream presented before registering (XEP-0445).
    private var presentedInvitation: String?

    init(server: ServerCore, transport: any ClientTransport, tls: TLSMaterial?, directTLS: Bool) {
        self.server = server
        self.transport = transport
        self.tls = tls
        // STARTTLS is offered where the transport can add TLS itself; TLS a transport brings
        // along (direct TLS, HTTPS) is `directTLS`.
        self.machine = C2SStreamStateMachine(policy: server.negotiationPolicy(tlsAvailable: transport.canStartTLS), directTLS: directTLS)
        server.statistics.increment(\.liveClientStreams)
    }

    deinit {
        self.server.statistics.decrement(\.liveClientStreams)
        self.server.metrics.connection(self.transport.metricsKind, from: self.metricsState, to: .uncounted)
    }

    // MARK: - Logging

    /// Logs with who this stream is (address, then account or JID) added to the line. Built
    /// only for a line that is logged: metadata kept on each connection's own `Logger` cost
    /// every idle connection about 700 bytes.
    func log(
        _ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        guard self.server.logger.logLevel <= level else { return }
        var all = metadata()
        all["ip"] = .string(self.transport.remoteAddress)
        if let session = self.session {
            all["jid"] = "\(session.jid)"
        } else if let account = self.account {
            all["account"] = .string(account)
        }
        self.server.logger.log(level: level, message(), metadata: all, file: file, function: function, line: line)
    }

    // MARK: - Events from the transport

    /// The connection is up: count it, start its negotiation deadline.
    func opened() {
        if self.server.abuse.connectionOpened(address: self.transport.remoteAddress) {
            self.countedAsUnauthenticated = true
        } else {
            self.refused = true
            self.server.statistics.increment(\.refusedConnections)
            self.log(.notice, "connection refused: too many unauthenticated connections")
        }
        let seconds = Int64(self.server.configuration.limits.negotiationTimeoutSeconds)
        self.negotiationDeadline = .now() + .seconds(seconds)
        self.server.connections.add(self, eventLoop: self.eventLoop)
        self.server.metrics.track(self.transport.metricsKind, &self.metricsState, .connected)
    }

    func received(_ event: XMLStreamEvent) {
        guard !self.closing else { return }
        self.keepAlive.heard(now: .now())
        switch event {
        case .streamOpened(let header):
            if self.refused {
                self.run(self.machine.streamRefused(header, streamID: Self.newStreamID(), condition: .policyViolation))
            } else {
                self.run(self.machine.streamOpened(header, streamID: Self.newStreamID()))
            }
        case .element(let element):
            self.run(self.machine.elementReceived(element))
        case .streamClosed:
            self.run(self.machine.streamClosed())
        }
    }

    func parseFailed(_ error: XMLStreamError) {
        self.log(.info, "closing stream: \(error.condition.rawValue)", metadata: ["detail": "\(error.detail)"])
        self.run(self.machine.parseFailed(error))
    }

    /// `exporter` is this connection's `tls-exporter` binding (TLS 1.3 over TCP only); the
    /// certificate's bindings are shared by every connection.
    func tlsEstablished(exporter: [UInt8]? = nil) {
        var bindings = self.tls?.channelBindings ?? [:]
        if let exporter { bindings[.tlsExporter] = exporter }
        self.run(self.machine.tlsEstablished(channelBinding: bindings))
    }

    /// The connection is gone, cleanly or not.
    func closed() {
        self.leaveUnauthenticated()
        // A connection lost without a clean close keeps a resumable session for a while (XEP-0198).
        if !self.closing, let session = self.session, session.isResumable {
            self.detach(session)
        } else {
            self.endSession()
        }
        self.closing = true
        self.server.connections.remove(self, eventLoop: self.eventLoop)
        self.server.metrics.track(self.transport.metricsKind, &self.metricsState, .uncounted)
    }

    private func enqueueRouting(_ work: OrderedRoutingQueue.Work) {
        let queue =
            self.routing
            ?? OrderedRoutingQueue(
                router: self.server.router, eventLoop: self.eventLoop,
                pauseInput: { [weak self] in self?.holdInput() }, resumeInput: { [weak self] in self?.releaseInput() })
        self.routing = queue
        queue.enqueue(work)
    }

    // MARK: - Input holds

    func holdInput() {
        self.inputHolds += 1
        if self.inputHolds == 1 { self.transport.pauseInput() }
    }

    func releaseInput() {
        guard self.inputHolds > 0 else { preconditionFailure("input released more often than held") }
        self.inputHolds -= 1
        if self.inputHolds == 0 { self.transport.resumeInput() }
    }

    // MARK: - Actions

    private func leaveUnauthenticated() {
        guard self.countedAsUnauthenticated else { return }
        self.countedAsUnauthenticated = false
        self.server.abuse.connectionLeftUnauthenticated(address: self.transport.remoteAddress)
    }

    /// Carries out actions; a failed login is answered only after a delay that grows with the
    /// recent failures of the address and the account.
    func run(_ actions: [C2SStreamStateMachine.Action]) {
        for action in actions {
            guard case .authenticationFailed(let username, let reason) = action else { continue }
            // Counted here, before the delay: a guesser who hangs up meanwhile still failed.
            self.server.metrics.loginFailed(self.machine.loginMechanism, reason: reason)
            let delay = self.server.abuse.authenticationFailed(address: self.transport.remoteAddress, account: username)
            guard delay > 0, !self.closing else { break }
            self.holdInput()
            self.eventLoop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [weak self] in
                self?.perform(actions)
                self?.releaseInput()
            }
            return
        }
        self.perform(actions)
    }

    private func perform(_ actions: [C2SStreamStateMachine.Action]) {
        guard !self.closing else { return }
        var wrote = false
        for action in actions {
            switch action {
            case .sendStreamHeader(let header):
                self.transport.sendHeader(header)
                wrote = true
            case .send(let element):
                self.transport.send(element)
                wrote = true
            case .startTLS:
                self.startTLS()
                wrote = false
            case .restartStream:
                self.transport.restartStream()
            case .authenticated(let account):
                self.server.metrics.loginSucceeded(self.machine.loginMechanism)
                self.server.metrics.track(self.transport.metricsKind, &self.metricsState, .authenticated)
                self.leaveUnauthenticated()
                self.transport.setParserLimits(self.server.parserLimits(authenticated: true))
                self.account = "\(account)"
                self.log(.info, "authenticated")
            case .fetchSCRAMCredentials(let username, let hash):
                self.fetchCredentials(username: username, hash: hash)
            case .verifyPlainPassword(let username, let password):
                self.verifyPlain(username: username, password: password)
            case .authenticationFailed(let username, let reason):
                // One line per failure, with the address, for fail2ban; never the password.
                self.log(.warning, "authentication failed", metadata: ["user": "\(username ?? "-")", "reason": "\(reason.rawValue)"])
            case .findMissingSCRAMCredentials(let account, let hashes):
                self.findMissingCredentials(account: account, hashes: hashes)
            case .addSCRAMCredentials(let credentials, let account):
                self.addCredentials(credentials, account: account)
            case .bindResource(let requested, let account):
                self.bind(requested: requested, account: account)
            case .route(let stanza):
                guard let session = self.session else { break }
                session.recordHandled()
                self.enqueueRouting(.stanza(stanza, origin: .client(session)))
            case .register(let request):
                self.register(request)
            case .enableStreamManagement(let resume):
                self.enableStreamManagement(resume: resume)
                wrote = true
            case .acknowledgeHandled:
                if let session = self.session {
                    self.transport.send(StreamManagementNamespace.answer(h: session.handledCount))
                    wrote = true
                }
            case .acknowledged(let h):
                self.ackOutstanding = false
                do {
                    try self.session?.acknowledged(h)
                } catch {
                    if wrote { self.transport.flush() }
                    self.run(self.machine.acknowledgementRejected(h: h))
                    return
                }
            case .clientState(let active):
                for stanza in self.clientState.clientState(active: active) { self.write(stanza) }
                self.transport.flush()
            case .resumeSession(let previd, let h, let account):
                self.resume(previd: previd, h: h, account: account, inline: false)
                wrote = true
            case .bindInline(let request, let account, let userAgent):
                self.bindInline(request, account: account, userAgent: userAgent)
                wrote = true
            case .resumeInline(let previd, let h, let account):
                self.resume(previd: previd, h: h, account: account, inline: true)
                wrote = true
            case .verifyFASTToken(let attempt):
                self.verifyFASTToken(attempt)
            case .issueFASTToken(let issue):
                self.issueFASTToken(issue)
            case .close(let error):
                if wrote { self.transport.flush() }
                self.close(error)
                return
            }
        }
        if wrote { self.transport.flush() }
    }

    private func startTLS() {
        self.transport.flush()
        do {
            try self.transport.startTLS()
        } catch {
            self.log(.error, "cannot start TLS", metadata: ["error": "\(error)"])
            self.close(StreamError(.internalServerError))
        }
    }

    private func close(_ error: StreamError?) {
        guard !self.closing else { return }
        self.closing = true
        self.transport.close(with: error)
        self.endSession()
    }

    // MARK: - Storage round trips

    /// Too many recent failures for this address or account, or a disabled account: refuse
    /// without checking.
    func refuseIfLockedOut(username: String) -> Bool {
        if let domain = self.machine.streamDomain, let account = try? JID(localpart: username, domainpart: domain),
            self.server.disabledAccounts.contains(account)
        {
            self.log(.notice, "authentication refused: account disabled", metadata: ["user": "\(username)"])
            self.run(self.machine.accountDisabled())
            return true
        }
        guard self.server.abuse.isLockedOut(address: self.transport.remoteAddress, account: username) else { return false }
        self.server.statistics.increment(\.authenticationLockouts)
        self.log(.warning, "authentication refused: too many failures", metadata: ["user": "\(username)"])
        self.run(self.machine.authenticationRefused())
        return true
    }

    private func fetchCredentials(username: String, hash: SCRAMHash) {
        if self.refuseIfLockedOut(username: username) { return }
        self.withAccountStore { store, domain in
            guard let jid = try? JID(localpart: username, domainpart: domain) else { return nil }
            return try? await store.credentials(for: jid, hash: hash)
        } then: { stream, credentials in
            stream.machine.credentialsFetched(credentials)
        }
    }

    private func verifyPlain(username: String, password: String) {
        if self.refuseIfLockedOut(username: username) { return }
        let policy = self.machine.policy
        self.withAccountStore { store, domain in
            guard let jid = try? JID(localpart: username, domainpart: domain) else { return false }
            return await Self.verifyPlainPassword(
                password, of: jid, in: store, upgrading: policy.scramUpgrades ? SCRAMUpgrade.upgradableHashes : [], iterations: policy.scramIterations)
        } then: { stream, valid in
            stream.machine.plainPasswordVerified(valid)
        }
    }

    private func register(_ request: Element) {
        guard let registration = self.server.registration else { return }
        let address = self.transport.remoteAddress
        let domain = self.machine.streamDomain ?? ""
        let presented = self.presentedInvitation
        self.roundTrip {
            await registration.answer(request, domain: domain, address: address, presented: presented)
        } then: { stream, answer in
            let reply = answer.reply
            stream.presentedInvitation = answer.presented
            if reply.stanzaType == "result", request.stanzaType == "set", request.iqPayload?.namespace == RegistrationService.namespace {
                stream.log(.info, "account registered in-band")
            } else if reply.stanzaType == "error" {
                stream.log(.notice, "in-band registration refused", metadata: ["reason": "\(StanzaError(stanza: reply)?.condition.rawValue ?? "-")"])
            }
            return stream.machine.registrationAnswered(reply, to: request)
        }
    }

    /// Runs account storage work for the stream's domain; see `roundTrip`.
    func withAccountStore<Result: Sendable>(
        _ work: @escaping @Sendable (any AccountStore, String) async -> Result,
        then event: @escaping (ClientStream, Result) -> [C2SStreamStateMachine.Action]
    ) {
        let store = self.server.storage.accounts
        let domain = self.machine.streamDomain ?? ""
        self.roundTrip({ await work(store, domain) }, then: event)
    }

    /// Runs work off the event loop with input held, then carries out the actions its result
    /// leads to on the loop, so no element overtakes an authentication or registration step.
    func roundTrip<Result: Sendable>(
        _ work: @escaping @Sendable () async -> Result, then event: @escaping (ClientStream, Result) -> [C2SStreamStateMachine.Action]
    ) {
        self.holdInput()
        let loopBound = NIOLoopBound(self, eventLoop: self.eventLoop)
        let eventLoop = self.eventLoop
        let transfer = UnsafeTransfer(event)
        Task {
            let result = await work()
            eventLoop.execute {
                let stream = loopBound.value
                stream.run(transfer.value(stream, result))
                stream.releaseInput()
            }
        }
    }

    // MARK: - Session

    /// Binds a resource (RFC 6120 or Bind 2) and makes the session this stream's; a session it
    /// replaces ends with `<conflict/>`.
    func bindSession(
        requested: String?, account: JID, replacingOnConflict: Bool = false, catchesUpFromArchive: Bool = false
    ) -> Result<ClientSession, StanzaError> {
        let handlers = self.server.sessions.detachedDeliveryHandlers
        let outcome = self.server.sessions.bind(account: account, requested: requested, replacingOnConflict: replacingOnConflict) { jid in
            let session = ClientSession(
                jid: jid, eventLoop: self.eventLoop, stream: self, statistics: self.server.statistics, catchesUpFromArchive: catchesUpFromArchive)
            session.detachedDelivery = handlers
            return session
        }
        switch outcome {
        case .bound(let session, let replaced):
            replaced?.terminate(.conflict)
            self.session = session
            self.negotiationDeadline = nil
            self.account = nil
            return .success(session)
        case .failed(let error):
            return .failure(error)
        }
    }

    private func bind(requested: String?, account: JID) {
        switch self.bindSession(requested: requested, account: account) {
        case .success(let session):
            self.log(.info, "resource bound")
            self.run(self.machine.resourceBound(session.jid))
        case .failure(let error):
            self.run(self.machine.bindFailed(error))
        }
    }

    /// Called about once a second on this stream's event loop by `ConnectionRegistry`.
    func checkDeadlines(now: NIODeadline) {
        guard !self.closing else { return }
        if let deadline = self.negotiationDeadline, now >= deadline, self.machine.boundJID == nil {
            self.negotiationDeadline = nil
            self.log(.info, "negotiation timed out")
            self.run(self.machine.shutdown(.connectionTimeout))
            return
        }
        // A slow sender (one byte a second) never finishes an element: drop it.
        let slowInputTimeout = TimeAmount.seconds(Int64(self.server.configuration.limits.stanzaTimeoutSeconds))
        if let since = self.transport.unfinishedInputSince, now - since >= slowInputTimeout {
            self.server.statistics.increment(\.slowInputTimeouts)
            self.log(.info, "input left unfinished too long; closing")
            self.run(self.machine.shutdown(.connectionTimeout))
            return
        }
        self.checkKeepAlive(now: now)
    }

    /// XEP-0199 from the server's side: a quiet client is pinged, and an unanswered ping ends the stream.
    private func checkKeepAlive(now: NIODeadline) {
        guard let session = self.session else { return }
        let settings = self.server.configuration.c2s
        switch self.keepAlive.check(
            now: now, interval: .seconds(Int64(settings.pingIntervalSeconds)), timeout: .seconds(Int64(settings.pingTimeoutSeconds)))
        {
        case .none:
            break
        case .ping:
            var ping = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("id", "s2c-ping-\(UInt32.random(in: 0...UInt32.max))")])
            ping[attribute: "from"] = session.jid.domainpart
            ping[attribute: "to"] = session.jid.description
            ping.append(Element(name: "ping", namespace: XMPPNamespace.ping))
            session.deliver(ping)
        case .timedOut:
            self.log(.info, "ping unanswered; closing")
            self.run(self.machine.shutdown(.connectionTimeout))
        }
    }

    func terminate(_ condition: StreamErrorCondition) {
        self.run(self.machine.shutdown(condition))
    }

    func endSession() {
        guard let session = self.session else { return }
        self.log(.info, "session ended")
        self.session = nil
        session.detach(from: self)
        let last = self.server.sessions.unbind(session) ?? SessionPresence()
        self.enqueueRouting(.sessionEnded(session, last))
    }

    private static func newStreamID() -> String {
        Base64.encode(SASLRandom.bytes(12))
    }
}
