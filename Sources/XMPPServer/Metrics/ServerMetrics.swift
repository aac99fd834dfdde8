import CoreMetrics
import Foundation
import NIOConcurrencyHelpers
import Prometheus
import XMPPCore
import XMPPSASL
import XMPPStream

/// One server's metrics (docs/metrics.md), in a `PrometheusCollectorRegistry` of its own.
///
/// Every series that code on the stanza path touches is made here, once, and kept in arrays
/// indexed by the label enums: counting a stanza is an array read and an atomic add, with no
/// string built and nothing allocated. Values that are cheaper to read than to track (memory,
/// sessions, links, rooms) are read by `collectors` when the endpoint is scraped.
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusHelpFactory
    /// Seconds since the Unix epoch.
    let startTime: Double

    private let connectionGauges: [Meter]
    private let stanzasReceived: [CoreMetrics.Counter]
    private let stanzasSent: [CoreMetrics.Counter]
    let routingDuration: CoreMetrics.Timer
    private let loginSuccesses: [LoginMechanism: CoreMetrics.Counter]
    private let loginFailureByMechanism: [LoginMechanism: CoreMetrics.Counter]
    private let loginOtherSuccess: CoreMetrics.Counter
    private let loginOtherFailure: CoreMetrics.Counter
    private let loginFailureReasons: [SASLFailure: CoreMetrics.Counter]
    private let storageDurations: [String: CoreMetrics.Timer]
    private let storageErrors: [String: CoreMetrics.Counter]
    let eventLoopLag: CoreMetrics.Timer
    private let collectors = NIOLockedValueBox<[@Sendable () -> Void]>([])

    static let storageOperations: [MetricLabel.Store: [String]] = [
        .offline: ["store", "messages", "remove", "count"],
        .archive: ["append", "query", "message", "replace", "purge", "expire", "count"],
        .roomArchive: ["append", "query", "message", "replace", "purge", "expire", "count"],
    ]

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let factory = PrometheusHelpFactory(registry: registry)
        self.factory = factory
        self.startTime = Date().timeIntervalSince1970

        var gauges: [Meter] = []
        for kind in MetricLabel.ConnectionKind.allCases {
            for state in ["connected", "authenticated"] {
                gauges.append(Meter(label: MetricCatalog.connections, dimensions: [("kind", kind.rawValue), ("state", state)], factory: factory))
            }
        }
        self.connectionGauges = gauges

        func stanzaCounters(_ name: String) -> [CoreMetrics.Counter] {
            MetricLabel.Stream.allCases.flatMap { stream in
                MetricLabel.StanzaKind.allCases.map { kind in
                    CoreMetrics.Counter(label: name, dimensions: [("stream", stream.label), ("kind", kind.label)], factory: factory)
                }
            }
        }
        self.stanzasReceived = stanzaCounters(MetricCatalog.stanzasReceived)
        self.stanzasSent = stanzaCounters(MetricCatalog.stanzasSent)
        self.routingDuration = CoreMetrics.Timer(label: MetricCatalog.routingDuration, factory: factory)

        func login(_ mechanism: String, _ outcome: String) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: MetricCatalog.logins, dimensions: [("mechanism", mechanism), ("outcome", outcome)], factory: factory)
        }
        self.loginSuccesses = Dictionary(uniqueKeysWithValues: LoginMechanism.allCases.map { ($0, login($0.name, "success")) })
        self.loginFailureByMechanism = Dictionary(uniqueKeysWithValues: LoginMechanism.allCases.map { ($0, login($0.name, "failure")) })
        self.loginOtherSuccess = login("other", "success")
        self.loginOtherFailure = login("other", "failure")
        self.loginFailureReasons = Dictionary(
            uniqueKeysWithValues: SASLFailure.allCases.map {
                ($0, CoreMetrics.Counter(label: MetricCatalog.loginFailures, dimensions: [("reason", $0.rawValue)], factory: factory))
            })

        var durations: [String: CoreMetrics.Timer] = [:]
        var errors: [String: CoreMetrics.Counter] = [:]
        for (store, operations) in Self.storageOperations {
            for operation in operations {
                let dimensions = [("store", store.rawValue), ("operation", operation)]
                durations[Self.storageKey(store, operation)] = CoreMetrics.Timer(label: MetricCatalog.storageDuration, dimensions: dimensions, factory: factory)
                errors[Self.storageKey(store, operation)] = CoreMetrics.Counter(label: MetricCatalog.storageErrors, dimensions: dimensions, factory: factory)
            }
        }
        self.storageDurations = durations
        self.storageErrors = errors
        self.eventLoopLag = CoreMetrics.Timer(label: MetricCatalog.eventLoopLag, factory: factory)

        let startTime = self.startTime
        Meter(label: MetricCatalog.startTime, factory: factory).set(startTime)
        let uptime = Meter(label: MetricCatalog.uptime, factory: factory)
        let memory = Meter(label: MetricCatalog.residentMemory, factory: factory)
        self.addCollector {
            uptime.set(Date().timeIntervalSince1970 - startTime)
            if let bytes = ProcessMemory.residentBytes() { memory.set(bytes) }
        }
    }

    // MARK: - Connections

    /// Moves one connection between states of the connections gauge; every handler keeps its
    /// own state so that each increment has exactly one decrement.
    func connection(_ kind: MetricLabel.ConnectionKind, from old: MetricLabel.ConnectionState, to new: MetricLabel.ConnectionState) {
        guard old != new else { return }
        if let gauge = self.connectionGauge(kind, old) { gauge.decrement() }
        if let gauge = self.connectionGauge(kind, new) { gauge.increment() }
    }

    /// Moves a handler's `state` to `new`, counting the move.
    func track(_ kind: MetricLabel.ConnectionKind, _ state: inout MetricLabel.ConnectionState, _ new: MetricLabel.ConnectionState) {
        self.connection(kind, from: state, to: new)
        state = new
    }

    private func connectionGauge(_ kind: MetricLabel.ConnectionKind, _ state: MetricLabel.ConnectionState) -> Meter? {
        guard let index = MetricLabel.ConnectionKind.allCases.firstIndex(of: kind) else { return nil }
        switch state {
        case .uncounted: return nil
        case .connected: return self.connectionGauges[index * 2]
        case .authenticated: return self.connectionGauges[index * 2 + 1]
        }
    }

    // MARK: - Stanzas

    func stanzaReceived(_ stanza: Element, stream: MetricLabel.Stream) {
        guard let kind = MetricLabel.StanzaKind(elementName: stanza.name) else { return }
        self.stanzasReceived[stream.rawValue * MetricLabel.StanzaKind.allCases.count + kind.rawValue].increment()
    }

    func stanzaSent(_ stanza: Element, stream: MetricLabel.Stream) {
        guard let kind = MetricLabel.StanzaKind(elementName: stanza.name) else { return }
        self.stanzasSent[stream.rawValue * MetricLabel.StanzaKind.allCases.count + kind.rawValue].increment()
    }

    // MARK: - Logins

    func loginSucceeded(_ mechanism: LoginMechanism?) {
        (mechanism.flatMap { self.loginSuccesses[$0] } ?? self.loginOtherSuccess).increment()
    }

    func loginFailed(_ mechanism: LoginMechanism?, reason: SASLFailure) {
        (mechanism.flatMap { self.loginFailureByMechanism[$0] } ?? self.loginOtherFailure).increment()
        self.loginFailureReasons[reason]?.increment()
    }

    // MARK: - Storage

    private static func storageKey(_ store: MetricLabel.Store, _ operation: String) -> String { "\(store.rawValue)/\(operation)" }

    /// The timer and error counter of one storage operation, looked up once per store wrapper.
    func storageInstruments(_ store: MetricLabel.Store, _ operation: String) -> (duration: CoreMetrics.Timer, errors: CoreMetrics.Counter)? {
        let key = Self.storageKey(store, operation)
        guard let duration = self.storageDurations[key], let errors = self.storageErrors[key] else { return nil }
        return (duration, errors)
    }

    // MARK: - Values read when scraped

    /// Runs when the endpoint is scraped, before the text is written: for values cheaper to
    /// read then than to keep up to date.
    func addCollector(_ collect: @escaping @Sendable () -> Void) {
        self.collectors.withLockedValue { $0.append(collect) }
    }

    /// A gauge set from `value` at every scrape.
    func addGauge(_ name: String, dimensions: [(String, String)] = [], value: @escaping @Sendable () -> Double) {
        let meter = Meter(label: name, dimensions: dimensions, factory: self.factory)
        self.addCollector { meter.set(value()) }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, collectors run first.
    func exposition() -> [UInt8] {
        for collect in self.collectors.withLockedValue({ $0 }) { collect() }
        return self.registry.emitToBuffer()
    }
}

/// The process's resident memory, from `/proc/self/statm` (Linux); nil elsewhere.
enum ProcessMemory {
    static func residentBytes() -> Double? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return nil }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
}

extension StanzaOrigin {
    /// The kind of stream a received stanza came over; nil for what the server made itself.
    var metricsStream: MetricLabel.Stream? {
        switch self {
        case .client: .c2s
        case .remote: .s2s
        case .component: .component
        case .server: nil
        }
    }
}
