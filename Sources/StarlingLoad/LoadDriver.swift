import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import XMPPSASL

/// Where the generator connects and as whom; shared by every scenario.
struct LoadTarget {
    var host: String
    var port: Int
    var domain: String
    var sources: [String]
    var security: LoginMachine.Security
    var mechanism: LoginMachine.Mechanism
    var profile: LoginMachine.Profile = .rfc6120
    var userPrefix: String
    var password: String
    var concurrency: Int
    var timeout: TimeAmount

    func username(_ index: Int) -> String { "\(self.userPrefix)\(index)" }
    func jid(_ index: Int) -> String { "\(self.userPrefix)\(index)@\(self.domain)" }
}

/// Owns the simulated clients of one run and the figures they produce. Confined to a single
/// event loop: every callback and every scenario step runs there, so no state is shared across
/// threads (the generator is pinned to one core anyway).
final class LoadDriver: LoadConnectionObserver {
    let target: LoadTarget
    let loop: any EventLoop
    private let tlsContext: NIOSSLContext
    let saltedPasswordCache: SCRAMSaltedPasswordCache

    private(set) var ready: [Int: LoadConnection] = [:]
    var loginLatency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    var deliveryLatency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    private(set) var errors: [String: Int] = [:]
    private(set) var completedLogins = 0
    /// Round trips of the logins that reached a session (`LoadConnection.roundTrips`), summed.
    private(set) var loginRoundTrips = 0
    /// Their negotiation bytes (`LoadConnection.negotiationBytes`), summed.
    private(set) var loginBytes = 0
    /// FAST tokens the server issued, by account index: the next login of that account uses it.
    private(set) var fastTokens: [Int: String] = [:]
    var recording = false
    var delivered = 0
    /// Connections that become ready start scanning for stanzas (the MUC scenarios).
    var scansStanzas = false

    /// Set by a scenario; called on the loop.
    var onMarker: ((LoadConnection, MarkerScanner.Marker) -> Void)?
    var onStanza: ((LoadConnection, StanzaScanner.Stanza) -> Void)?
    var onReadComplete: ((LoadConnection) -> Void)?
    var onFinished: ((LoadConnection) -> Void)?

    init(target: LoadTarget, loop: any EventLoop, saltedPasswordCache: SCRAMSaltedPasswordCache) throws {
        self.target = target
        self.loop = loop
        self.saltedPasswordCache = saltedPasswordCache
        // The generator measures servers, it does not audit their certificates: every server
        // here uses its own self-signed one on loopback.
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        // Classical key exchange only: Prosody and ejabberd as packaged (OpenSSL 3.0, OTP 25)
        // cannot negotiate the X25519+ML-KEM-768 hybrid, so offering it would have Starling
        // alone pay for post-quantum key agreement (and the generator for every key share).
        configuration.curves = [.x25519, .secp256r1]
        self.tlsContext = try NIOSSLContext(configuration: configuration)
    }

    var errorCount: Int { self.errors.values.reduce(0, +) }

    static func nowNanoseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    // MARK: - Opening connections

    @discardableResult
    func open(_ index: Int, purpose: LoginMachine.Purpose) -> LoadConnection {
        let machine = LoginMachine(
            username: self.target.username(index), password: self.target.password, domain: self.target.domain,
            mechanism: self.target.mechanism, security: self.target.security, purpose: purpose,
            saltedPasswordCache: self.saltedPasswordCache, profile: self.target.profile, fastToken: self.fastTokens[index])
        let source = self.target.sources.isEmpty ? nil : self.target.sources[index % self.target.sources.count]
        return LoadConnection.open(
            index: index, machine: machine, host: self.target.host, port: self.target.port, source: source,
            tlsContext: self.tlsContext, observer: self, on: self.loop, timeout: self.target.timeout)
    }

    /// Logs in (or registers) every index, at most `concurrency` negotiating at once; succeeds
    /// when each has finished one way or the other.
    func openAll(_ indices: [Int], purpose: LoginMachine.Purpose) -> EventLoopFuture<Void> {
        let done = self.loop.makePromise(of: Void.self)
        var pending = indices[...]
        var outstanding = 0
        func startMore() {
            while outstanding < self.target.concurrency, let next = pending.popFirst() {
                outstanding += 1
                self.open(next, purpose: purpose)
            }
            if outstanding == 0 && pending.isEmpty {
                self.onFinished = nil
                done.succeed(())
            }
        }
        self.onFinished = { _ in
            outstanding -= 1
            startMore()
        }
        startMore()
        return done.futureResult
    }

    func closeAll() {
        for connection in self.ready.values { connection.close() }
        self.ready.removeAll()
    }

    // MARK: - LoadConnectionObserver

    func connectionReady(_ connection: LoadConnection) {
        self.ready[connection.index] = connection
        self.loginRoundTrips += connection.roundTrips
        self.loginBytes += connection.negotiationBytes
        if self.scansStanzas { connection.startScanningStanzas() }
        self.loginCompleted(connection)
    }

    func connection(_ connection: LoadConnection, issuedToken token: String) {
        self.fastTokens[connection.index] = token
    }

    func connectionRegistered(_ connection: LoadConnection) {
        self.loginCompleted(connection)
    }

    private func loginCompleted(_ connection: LoadConnection) {
        self.completedLogins += 1
        self.loginLatency.record(UInt64(max(0, (NIODeadline.now() - connection.startedAt).nanoseconds / 1000)))
        self.onFinished?(connection)
    }

    func connection(_ connection: LoadConnection, failed reason: String) {
        let wasReady = self.ready.removeValue(forKey: connection.index) != nil
        self.errors[reason, default: 0] += 1
        if !wasReady { self.onFinished?(connection) }
    }

    func connection(_ connection: LoadConnection, received marker: MarkerScanner.Marker) {
        self.onMarker?(connection, marker)
    }

    func connection(_ connection: LoadConnection, received stanza: StanzaScanner.Stanza) {
        self.onStanza?(connection, stanza)
    }

    func connectionReadComplete(_ connection: LoadConnection) {
        self.onReadComplete?(connection)
    }

    /// A failure the scenario saw (a refused join, a missing self-presence), counted with the
    /// connections' own.
    func recordError(_ reason: String) {
        self.errors[reason, default: 0] += 1
    }

    /// A connection the scenario closed on purpose is no longer ready.
    func forget(_ connection: LoadConnection) {
        self.ready.removeValue(forKey: connection.index)
    }

    /// Starts the figures of the next scenario from zero.
    func resetFigures() {
        self.loginLatency.reset()
        self.deliveryLatency.reset()
        self.delivered = 0
        self.errors.removeAll()
        self.completedLogins = 0
        self.loginRoundTrips = 0
        self.loginBytes = 0
    }

    /// Records one delivery while the measured window is open.
    func recordDelivery(_ marker: MarkerScanner.Marker) {
        guard self.recording else { return }
        self.delivered += 1
        let now = Self.nowNanoseconds()
        self.deliveryLatency.record(now > marker.sentAt ? (now - marker.sentAt) / 1000 : 0)
    }
}
