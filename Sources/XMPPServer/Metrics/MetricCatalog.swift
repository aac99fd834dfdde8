/// Every metric Starling exports, with its help text: the one list `PrometheusHelpFactory`
/// reads help from and docs/metrics.md describes (a test holds the two together).
///
/// Label values are always taken from the closed sets below (`MetricLabel`), never from what a
/// peer sends, so the number of series stays bounded; no JID ever becomes a label.
enum MetricCatalog {
    enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    struct Entry: Sendable {
        var name: String
        var kind: Kind
        var labels: [String]
        var help: String
        var durationBuckets: [Duration]? = nil
        var valueBuckets: [Double]? = nil
    }

    /// From a millisecond to ten seconds: routing, storage and event-loop delays.
    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    static let connections = "starling_connections"
    static let sessions = "starling_sessions"
    static let logins = "starling_logins_total"
    static let loginFailures = "starling_login_failures_total"
    static let stanzasReceived = "starling_stanzas_received_total"
    static let stanzasSent = "starling_stanzas_sent_total"
    static let routingDuration = "starling_routing_duration_seconds"
    static let s2sLinks = "starling_s2s_links"
    static let storageDuration = "starling_storage_operation_duration_seconds"
    static let storageErrors = "starling_storage_operation_errors_total"
    static let residentMemory = "starling_process_resident_memory_bytes"
    static let eventLoopLag = "starling_event_loop_lag_seconds"
    static let startTime = "starling_start_time_seconds"
    static let uptime = "starling_uptime_seconds"
    static let mucRooms = "starling_muc_rooms"
    static let mucOccupants = "starling_muc_occupants"

    static let entries: [Entry] = [
        Entry(
            name: connections, kind: .gauge, labels: ["kind", "state"],
            help: "Open connections by kind (c2s_tcp, c2s_websocket, c2s_bosh, s2s_in, s2s_out, component) and state (connected: not yet authenticated; authenticated)."),
        Entry(name: sessions, kind: .gauge, labels: [], help: "Bound client sessions (resources), detached resumable ones included."),
        Entry(
            name: logins, kind: .counter, labels: ["mechanism", "outcome"],
            help: "Client logins by SASL mechanism (other: a mechanism Starling does not offer) and outcome (success, failure)."),
        Entry(name: loginFailures, kind: .counter, labels: ["reason"], help: "Failed client logins by SASL failure condition (RFC 6120 6.5)."),
        Entry(
            name: stanzasReceived, kind: .counter, labels: ["stream", "kind"],
            help: "Stanzas received from streams (c2s, s2s, component) by kind (message, presence, iq), before routing."),
        Entry(
            name: stanzasSent, kind: .counter, labels: ["stream", "kind"],
            help: "Stanzas written to streams (c2s, s2s, component) by kind (message, presence, iq)."),
        Entry(name: routingDuration, kind: .histogram, labels: [], help: "Time the router spends on one received stanza, hooks, filters, handlers and delivery included."),
        Entry(name: s2sLinks, kind: .gauge, labels: [], help: "Outbound server-to-server links (one per local and remote domain pair), connecting or established."),
        Entry(
            name: storageDuration, kind: .histogram, labels: ["store", "operation"],
            help: "Duration of offline-message and archive storage operations by store (offline, archive, room_archive) and operation."),
        Entry(name: storageErrors, kind: .counter, labels: ["store", "operation"], help: "Offline-message and archive storage operations that threw."),
        Entry(name: residentMemory, kind: .gauge, labels: [], help: "Resident set size of the server process in bytes."),
        Entry(
            name: eventLoopLag, kind: .histogram, labels: [],
            help: "How late a task scheduled on an event loop ran (every event loop, once a second)."),
        Entry(name: startTime, kind: .gauge, labels: [], help: "When the server started, in seconds since the Unix epoch."),
        Entry(name: uptime, kind: .gauge, labels: [], help: "Seconds since the server started."),
        Entry(name: mucRooms, kind: .gauge, labels: [], help: "Chat rooms (XEP-0045) in memory: rooms with occupants, or loaded for a request."),
        Entry(name: mucOccupants, kind: .gauge, labels: [], help: "Occupants of the chat rooms in memory (XEP-0045)."),
    ]

    private static let byName: [String: Entry] = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })

    static func entry(_ name: String) -> Entry? { self.byName[name] }
}

/// The closed sets of label values.
enum MetricLabel {
    /// What a client's stream runs over, or which kind of server or component stream it is.
    enum ConnectionKind: String, CaseIterable, Sendable {
        case c2sTCP = "c2s_tcp"
        case c2sWebSocket = "c2s_websocket"
        case c2sBOSH = "c2s_bosh"
        case s2sIn = "s2s_in"
        case s2sOut = "s2s_out"
        case component
    }

    /// Where a connection is in its life, as the connections gauge counts it: `uncounted`
    /// before it opened and after it closed.
    enum ConnectionState: UInt8, Sendable {
        case uncounted, connected, authenticated
    }

    enum Stream: Int, CaseIterable, Sendable {
        case c2s, s2s, component

        var label: String {
            switch self {
            case .c2s: "c2s"
            case .s2s: "s2s"
            case .component: "component"
            }
        }
    }

    enum StanzaKind: Int, CaseIterable, Sendable {
        case message, presence, iq

        var label: String {
            switch self {
            case .message: "message"
            case .presence: "presence"
            case .iq: "iq"
            }
        }

        /// Compares the name without building anything: this runs for every stanza.
        init?(elementName: String) {
            switch elementName {
            case "message": self = .message
            case "presence": self = .presence
            case "iq": self = .iq
            default: return nil
            }
        }
    }

    enum Store: String, CaseIterable, Sendable {
        case offline
        case archive
        case roomArchive = "room_archive"
    }
}
