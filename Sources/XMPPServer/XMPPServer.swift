import CMallocShim
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import XMPPCore
import XMPPStorage
import XMPPStoragePostgres
import XMPPStorageSQLite
import XMPPStream

/// A running Starling server: listeners, sessions, router, modules and storage.
///
/// ```swift
/// let server = try XMPPServer(configuration: configuration, modules: [PingModule()])
/// try await server.start()
/// // …
/// await server.shutdown()
/// ```
public final class XMPPServer: @unchecked Sendable {
    public let configuration: ServerConfiguration
    private let core: ServerCore
    private let group: MultiThreadedEventLoopGroup
    /// The certificate new connections get; a reload (`admin.reload()`) replaces it.
    let certificate: ServerCertificate?
    /// The certificate a connection accepted now gets.
    var tls: TLSMaterial? { self.certificate?.material }
    private var channels: [(ServerConfiguration.Listener, any Channel)] = []
    private let logger: Logger
    private let registrar: ModuleRegistrar
    private var stopped = false
    private var s2s: S2SManager?
    private let modules: [any ServerModule]
    private var startedModules: [any ServerModule] = []
    /// The backend, when it opens in the background: `start()` waits for it before anything else.
    private let openingStorage: (any OpeningStorage)?
    /// What administrators can do (accounts, sessions, announcements, statistics), shared by
    /// every admin front.
    public let admin: AdminOperations

    /// Opens storage, loads (or makes) the certificate and registers the modules; `start()` listens.
    ///
    /// Metrics go into `metricsRegistry`, one registry per server unless one is passed in:
    /// several servers in one process (tests) never share counters, and nothing is bootstrapped
    /// process-wide.
    ///
    /// `reloadConfiguration` is where `admin.reload()` reads the configuration again (`starling
    /// serve`: its file, with its command-line options over it); without one, a reload reads
    /// `configuration` again, which still reads the certificate files again.
    public init(
        configuration: ServerConfiguration, modules: [any ServerModule], storage: (any StorageBackend)? = nil, logger: Logger? = nil,
        metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), reloadConfiguration: ConfigurationSource? = nil
    ) throws {
        self.configuration = configuration
        var logger = logger ?? Logger(label: "starling")
        logger.logLevel = configuration.logLevel
        let logLevel = RuntimeLogLevel(configuration.logLevel)
        logger = logLevel.controlling(logger)
        self.logger = logger
        let hosts = try configuration.preparedHosts()
        self.createdDataDirectory = !FileManager.default.fileExists(atPath: configuration.dataDirectory)
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.certificate = ServerCertificate(try CertificateStore.load(configuration, hosts: hosts, generateIfMissing: true))
        let backend = try storage ?? Self.openStorage(configuration)
        self.openingStorage = backend as? any OpeningStorage
        self.metricsRegistry = metricsRegistry
        self.core = try ServerCore(configuration: configuration, hosts: hosts, storage: backend, logger: logger, metrics: ServerMetrics(registry: metricsRegistry))
        self.admin = AdminOperations(core: self.core, logLevel: logLevel)
        self.registrar = try Self.register(modules, core: self.core, admin: self.admin, logger: logger)
        let problems = self.registrar.problems
        if problems.count == 1, let problem = problems.first { throw problem }
        if problems.count > 1 { throw ConfigurationErrors(errors: problems) }
        self.modules = modules
        self.core.router.registrar = self.registrar
        self.core.sessions.detachedDeliveryHandlers = self.registrar.detachedDeliveryHandlers
        self.core.authenticatedFeatures = self.registrar.streamFeatures.map { $0() }
        self.core.inlineBindHandlers = self.registrar.inlineBindHandlers
        self.core.boundElementProviders = self.registrar.boundElementProviders
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        if configuration.listeners.contains(where: { $0.kind == .s2s }), let tls = self.tls {
            // Services and components federate under their own domains, like the hosts.
            let domains = hosts + self.core.router.routes.localDomains.subtracting(hosts).sorted()
            let s2s = try S2SManager(configuration: configuration, hosts: domains, tls: tls, group: self.group, logger: logger)
            s2s.router = self.core.router
            s2s.statistics = self.core.statistics
            s2s.metrics = self.core.metrics
            s2s.connections = self.core.connections
            self.core.router.s2s = s2s
            self.s2s = s2s
            self.admin.attach(s2s: s2s)
        }
        self.admin.attach(
            reloader: ConfigurationReloader(
                source: reloadConfiguration ?? { configuration }, running: configuration, hosts: hosts, certificate: self.certificate,
                administrators: self.core.administrators, logLevel: logLevel, s2s: self.s2s))
        self.addScrapedMetrics()
    }

    /// The registry this server's metrics are kept in (docs/metrics.md); a `kind: metrics`
    /// listener serves it.
    public let metricsRegistry: PrometheusCollectorRegistry

    /// The Prometheus text exposition of this server's metrics, as `/metrics` serves it.
    public func metricsExposition() -> String {
        String(decoding: self.core.metrics.exposition(), as: UTF8.self)
    }

    /// Values read when the metrics are scraped rather than kept up to date.
    private func addScrapedMetrics() {
        let metrics = self.core.metrics
        let sessions = self.core.sessions
        metrics.addGauge(MetricCatalog.sessions) { Double(sessions.count) }
        let s2s = self.s2s
        metrics.addGauge(MetricCatalog.s2sLinks) { Double(s2s?.linkCount ?? 0) }
        for gauge in self.registrar.metricGauges {
            metrics.addGauge(gauge.name, value: gauge.value)
        }
    }

    private static func register(_ modules: [any ServerModule], core: ServerCore, admin: AdminOperations, logger: Logger) throws -> ModuleRegistrar {
        let configuration = core.configuration
        let registrar = ModuleRegistrar(
            context: ModuleContext(
                storage: core.storage, hosts: Set(core.hosts), administrators: core.administrators, logger: logger,
                configuration: configuration, sessions: core.sessions, admin: admin, router: core.router))
        for module in modules {
            module.register(with: registrar)
            registrar.registered(module)
        }
        return registrar
    }

    /// What registering these modules would find wrong (unknown or mistyped module options,
    /// sections nobody reads, service domains taken twice), without opening storage or
    /// listening: for `starling check`.
    public static func moduleProblems(configuration: ServerConfiguration, modules: [any ServerModule]) -> [ConfigurationError] {
        do {
            let hosts = try configuration.preparedHosts()
            var logger = Logger(label: "starling-check")
            logger.logLevel = .critical
            let core = try ServerCore(configuration: configuration, hosts: hosts, storage: InMemoryStorage(), logger: logger)
            let admin = AdminOperations(core: core, logLevel: RuntimeLogLevel(logger.logLevel))
            return try Self.register(modules, core: core, admin: admin, logger: logger).problems
        } catch let error as ConfigurationError {
            return [error]
        } catch {
            return [ConfigurationError(path: "", message: "\(error)")]
        }
    }

    public static func openStorage(_ configuration: ServerConfiguration) throws -> any StorageBackend {
        switch configuration.storage.backend {
        case .memory:
            return InMemoryStorage()
        case .sqlite:
            let path = configuration.sqlitePath
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            return try SQLiteStorage(path: path, synchronous: configuration.storage.sqliteSynchronous)
        case .postgresql:
            let settings = try configuration.storage.postgresSettings()
            // Connects and migrates in the background; `start()` (or the command) waits for it.
            return PostgresStorage(settings: settings, logger: Logger(label: "starling.storage.postgresql"))
        }
    }

    /// Waits until a backend that opens in the background (PostgreSQL) is usable, so that a
    /// database that cannot be reached or migrated stops the start with its reason.
    public static func waitUntilOpened(_ storage: any StorageBackend) async throws {
        guard let opening = storage as? any OpeningStorage else { return }
        try await opening.opened()
    }

    public var storage: any StorageBackend { self.core.storage }
    public var certificatePEM: String? { self.tls?.certificatePEM }
    /// The certificate's SHA-256 fingerprint, as OpenSSL prints it and clients show it.
    public var certificateFingerprint: String? { self.tls?.sha256Fingerprint }
    /// The same over SHA-1, for clients that still show that one.
    public var certificateSHA1Fingerprint: String? { self.tls?.sha1Fingerprint }
    /// Whether this start made the self-signed certificate (a first start), so that the
    /// command line can tell its user where it is and what its fingerprint is.
    public var generatedCertificate: Bool { self.tls?.generated ?? false }
    /// Whether this start made the data directory.
    public let createdDataDirectory: Bool

    /// The ports actually bound, per listener (useful with port 0).
    public var boundListeners: [(listener: ServerConfiguration.Listener, address: SocketAddress)] {
        self.channels.compactMap { listener, channel in channel.localAddress.map { (listener, $0) } }
    }

    /// The port of the first client listener with this TLS mode.
    public func port(for mode: ServerConfiguration.Listener.TLSMode) -> Int? {
        self.boundListeners.first { $0.listener.kind == .c2s && $0.listener.tls == mode }?.address.port
    }

    /// The port of the first listener of this kind.
    public func port(for kind: ServerConfiguration.Listener.Kind) -> Int? {
        self.boundListeners.first { $0.listener.kind == kind }?.address.port
    }

    public var sessionCount: Int { self.core.sessions.count }

    /// Counters of defences that fired (throttled reads, lockouts, refused connections).
    public var statistics: ServerStatistics.Values { self.core.statistics.values }

    /// The disco features the loaded modules announced.
    public func features(for target: IQTarget) -> [String] { self.registrar.features(for: target) }

    /// The names of the loaded modules, in registration order.
    public var moduleNames: [String] { self.registrar.modules }

    // MARK: - Lifecycle

    /// Returns freed heap to the system now and then: after a load peak glibc keeps freed
    /// memory in its per-thread arenas, and a server that idles should not look like it leaks.
    private var trimTask: RepeatedTask?

    private func startMemoryTrimming() {
        self.trimTask = self.group.next().scheduleRepeatedTask(initialDelay: .seconds(15), delay: .seconds(15)) { _ in
            starling_release_free_memory()
        }
    }

    public func start() async throws {
        if let opening = self.openingStorage {
            do {
                try await opening.opened()
            } catch {
                throw ServerStartError(message: "cannot open storage: \(error)")
            }
        }
        do {
            try await self.core.disabledAccounts.load(from: self.core.storage)
        } catch {
            throw ServerStartError(message: "cannot read the disabled accounts: \(error)")
        }
        for module in self.modules {
            do {
                try await module.start(context: self.registrar.context)
            } catch {
                await self.stopModules()
                throw ServerStartError(message: "module \(module.name) did not start: \(error)")
            }
            self.startedModules.append(module)
        }
        self.startMemoryTrimming()
        for listener in self.configuration.listeners {
            var boundPort = listener.port
            for address in listener.addresses {
                let channel: any Channel
                do {
                    if listener.kind == .http || listener.kind == .admin {
                        channel = try await self.startHTTP(listener, host: address, port: boundPort)
                    } else if listener.kind == .metrics {
                        channel = try await self.startMetrics(listener, host: address, port: boundPort)
                    } else {
                        channel = try await self.bootstrap(for: listener).bind(host: address, port: boundPort).get()
                    }
                } catch {
                    if address.contains(":"), listener.addresses.count > 1, (error as? IOError)?.errnoCode == EADDRNOTAVAIL {
                        self.logger.warning("IPv6 is not available; not listening on \(address)")
                        continue
                    }
                    await self.closeListeners()
                    await self.stopHTTP()
                    await self.stopModules()
                    throw ServerStartError(message: "cannot listen on \(address) port \(boundPort): \(error)")
                }
                // With port 0 every address of the listener shares the port the first one got.
                if boundPort == 0, let port = channel.localAddress?.port { boundPort = port }
                self.channels.append((listener, channel))
                self.logger.info("listening", metadata: ["address": "\(address)", "port": "\(boundPort)", "tls": "\(listener.tls.rawValue)"])
            }
        }
    }

    /// HTTP listeners run in tasks of their own (Hummingbird); their listening channels are
    /// kept with the others so that ports are reported and closed the same way.
    private var httpTasks: [Task<Void, Never>] = []
    /// Set when shutdown begins: the HTTP servers then stop because their listening channels
    /// were closed, which is no failure.
    private let shuttingDown = NIOLockedValueBox(false)
    /// BOSH sessions, whichever HTTP listener their requests come through.
    private lazy var boshSessions = BOSHSessions(core: self.core)

    /// One guard for every admin listener, so the rate and guessing limits count per address
    /// across them.
    private lazy var adminAPIMiddleware = AdminAPIMiddleware(
        api: AdminAPI(operations: self.admin), tokens: AdminTokenStore(backend: self.core.storage),
        guardian: AdminAPIGuard(settings: self.configuration.adminAPI), logger: self.logger)

    /// One web UI for every admin listener, so that a browser's session is good on each.
    private lazy var adminWebUI = AdminWebUI(operations: self.admin, logger: self.logger)

    /// Open BOSH sessions (XEP-0206), for tests and statistics.
    public var boshSessionCount: Int { self.boshSessions.count }

    private func startHTTP(_ listener: ServerConfiguration.Listener, host: String, port: Int) async throws -> any Channel {
        let https = listener.tls == .direct
        if https, self.certificate == nil { throw ServerStartError(message: "HTTPS without a certificate") }
        var http = HTTPListener(
            core: self.core, bosh: self.boshSessions, certificate: https ? self.certificate : nil, secure: https || self.configuration.http.behindTLSProxy,
            shuttingDown: self.shuttingDown, logger: self.logger)
        if listener.kind == .admin {
            http.adminAPI = self.adminAPIMiddleware
            http.adminWebUI = self.adminWebUI
        } else {
            self.boshSessions.start(on: self.group.next())
        }
        let (channel, task) = try await http.start(host: host, port: port, group: self.group)
        self.httpTasks.append(task)
        if listener.kind == .http, let bound = channel.localAddress?.port { self.registrar.context.httpEndpoints.add(secure: https, port: bound) }
        return channel
    }

    /// Measures event-loop lag while a metrics listener serves it.
    private var lagMonitor: EventLoopLagMonitor?

    private func startMetrics(_ listener: ServerConfiguration.Listener, host: String, port: Int) async throws -> any Channel {
        let https = listener.tls == .direct
        if https, self.certificate == nil { throw ServerStartError(message: "HTTPS without a certificate") }
        if self.lagMonitor == nil {
            let monitor = EventLoopLagMonitor(lag: self.core.metrics.eventLoopLag)
            monitor.start(on: self.group)
            self.lagMonitor = monitor
        }
        let metrics = MetricsListener(metrics: self.core.metrics, certificate: https ? self.certificate : nil, shuttingDown: self.shuttingDown, logger: self.logger)
        let (channel, task) = try await metrics.start(host: host, port: port, group: self.group)
        self.httpTasks.append(task)
        return channel
    }

    /// Cancels the HTTP servers and waits (5 s at most) until they are done, so that nothing of
    /// theirs is left to run on the event loops when those shut down.
    private func stopHTTP() async {
        self.lagMonitor?.stop()
        let tasks = self.httpTasks
        self.httpTasks.removeAll()
        guard !tasks.isEmpty else { return }
        self.boshSessions.stop()
        for task in tasks { task.cancel() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for task in tasks { await task.value } }
            group.addTask { try? await Task.sleep(nanoseconds: 5_000_000_000) }
            await group.next()
            group.cancelAll()
        }
    }

    private func bootstrap(for listener: ServerConfiguration.Listener) -> ServerBootstrap {
        let core = self.core
        let certificate = self.certificate
        let logger = self.logger
        if listener.kind == .component {
            return ServerBootstrap(group: self.group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let decoder = XMLStreamDecoderHandler(limits: core.parserLimits(authenticated: true))
                        let handler = ComponentConnectionHandler(server: core, decoder: decoder, policy: core.componentPolicy, logger: logger)
                        try channel.pipeline.syncOperations.addHandlers([decoder, handler])
                    }
                }
        }
        if listener.kind == .s2s, let s2s = self.s2s {
            return ServerBootstrap(group: self.group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.allocator, value: .paged)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let decoder = XMLStreamDecoderHandler(limits: s2s.parserLimits)
                        let directTLS = listener.tls == .direct
                        let handler = S2SInboundHandler(
                            manager: s2s, router: core.router, connections: core.connections, decoder: decoder, tlsAvailable: true, directTLS: directTLS,
                            logger: logger)
                        if directTLS {
                            try channel.pipeline.syncOperations.addHandler(handler.makeTLSHandler())
                        }
                        try channel.pipeline.syncOperations.addHandlers([decoder, handler])
                    }
                }
        }
        return ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allocator, value: .paged)
            // Each connection keeps its receive buffer between reads; stanzas are small, and the
            // allocator still grows the buffer for a connection whose reads fill it.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Taken once: the connection keeps this certificate whatever a reload does later.
                    let tls = certificate?.material
                    let decoder = XMLStreamDecoderHandler(limits: core.parserLimits(authenticated: false))
                    let directTLS = listener.tls == .direct
                    if directTLS {
                        guard let tls else { throw ServerStartError(message: "direct TLS without a certificate") }
                        // The ClientHello random names the connection's tls-exporter secret.
                        try channel.pipeline.syncOperations.addHandlers([TLSClientRandomHandler(), NIOSSLServerHandler(context: tls.context)])
                    }
                    let limits = core.configuration.limits
                    if limits.readRateBytesPerSecond > 0 {
                        try channel.pipeline.syncOperations.addHandler(
                            ReadRateLimiter(bytesPerSecond: limits.readRateBytesPerSecond, burst: limits.readBurstBytes, statistics: core.statistics))
                    }
                    try channel.pipeline.syncOperations.addHandler(decoder)
                    try channel.pipeline.syncOperations.addHandler(
                        TCPClientTransport(server: core, eventLoop: channel.eventLoop, decoder: decoder, tls: tls, directTLS: directTLS))
                }
            }
    }

    /// Sends `<system-shutdown/>` to every stream, waits briefly for them to close, then
    /// closes the listeners and storage.
    public func shutdown() async {
        guard !self.stopped else { return }
        self.stopped = true
        self.shuttingDown.withLockedValue { $0 = true }
        self.trimTask?.cancel()
        self.logger.info("shutting down", metadata: ["connections": "\(self.core.connections.count)"])
        await self.closeListeners()
        await self.core.router.emit(.shuttingDown)
        self.core.connections.terminateAll(.systemShutdown)
        self.s2s?.shutdown()
        for _ in 0..<50 where self.core.connections.count > 0 {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        self.core.connections.stopSweeping()
        // What the ended sessions set off (unavailable presence, rooms, PEP) finishes first:
        // each routing task ends on its stream's event loop, which must still run then.
        for _ in 0..<100 where self.core.router.routingTasks.load(ordering: .acquiring) > 0 {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        // HTTP connections (WebSocket streams) had their stream errors; now the servers go.
        await self.stopHTTP()
        await self.stopModules()
        await self.core.storage.close()
        try? await self.group.shutdownGracefully()
        self.logger.info("stopped")
    }

    /// Returns when an administrator asks for the server to stop (XEP-0133 shutdown); the
    /// caller then calls `shutdown()`, as it does for a signal.
    public func waitForShutdownRequest() async {
        await self.admin.shutdownRequests.wait()
    }

    /// Stops the started modules in reverse order, before storage closes.
    private func stopModules() async {
        while let module = self.startedModules.popLast() {
            await module.stop()
        }
    }

    private func closeListeners() async {
        for (_, channel) in self.channels {
            try? await channel.close()
        }
        self.channels.removeAll()
    }
}

public struct ServerStartError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}
