import Foundation

/// An account as the admin fronts list it.
public struct AdminAccount: Sendable, Hashable, Codable {
    public var jid: String
    public var disabled: Bool
    /// Bound sessions right now (detached resumable ones included).
    public var sessions: Int
}

/// One page of accounts, in JID order; `next` continues after the last one.
public struct AdminAccountPage: Sendable, Hashable, Codable {
    public var accounts: [AdminAccount]
    /// How many accounts matched, over every page.
    public var total: Int
    public var next: String?
}

/// What carries a client's stream.
public enum AdminTransport: String, Sendable, Hashable, Codable {
    case tcp, websocket, bosh
}

/// XEP-0198 as a session has it.
public enum AdminStreamManagement: String, Sendable, Hashable, Codable {
    case off
    case enabled
    case resumable
    /// The connection dropped; the session waits for a resume.
    case detached
}

/// A bound session.
public struct AdminSession: Sendable, Hashable, Codable {
    public var jid: String
    public var account: String
    public var resource: String
    /// The client's address; nil while detached.
    public var address: String?
    public var transport: AdminTransport?
    public var encrypted: Bool?
    /// The XEP-0388 user-agent's software and device, when the client sent them.
    public var client: String?
    public var available: Bool
    public var priority: Int
    public var streamManagement: AdminStreamManagement
}

/// What an account keeps on the server besides its roster.
public struct AdminAccountStorage: Sendable, Hashable, Codable {
    public var account: String
    public var offlineMessages: Int
    public var archivedMessages: Int
    /// What modules keep for the account, by what they call it (`pep_nodes`, `pep_items`).
    public var moduleData: [String: Int]
}

/// The server at a glance.
public struct AdminServerStatistics: Sendable, Hashable, Codable {
    public var startedAt: Date
    public var uptimeSeconds: Int
    /// Bound sessions, detached ones included.
    public var sessions: Int
    /// Attached sessions by transport (`tcp`, `websocket`, `bosh`), and `detached`.
    public var sessionsByTransport: [String: Int]
    public var registeredAccounts: Int
    public var disabledAccounts: Int
    public var s2sOutboundLinks: Int
    public var s2sInboundStreams: Int
    /// The remote domains with an outbound link, connecting or established.
    public var s2sPeers: [String]
    /// Messages routed since the start, and per second since the statistics were last asked
    /// for at least ten seconds earlier (since the start, the first time).
    public var messagesRouted: Int
    public var messagesPerSecond: Double
    /// Chat rooms in memory now (XEP-0045): those with occupants or in use; stored rooms
    /// nobody is in are not counted.
    public var activeRooms: Int
    /// Occupants of those rooms (nicknames, not sessions).
    public var roomOccupants: Int
    /// Resident set size from /proc; nil where the system does not say.
    public var residentMemoryBytes: Int?
}

/// Why an admin operation did not happen, worded for whoever asked.
public enum AdminError: Error, Sendable, CustomStringConvertible {
    /// The address, username or password was refused (`AccountManager`'s rules).
    case invalid(String)
    case notFound(String)
    /// The account exists already (or looks too much like one that does).
    case conflict(String)
    case storage(String)
    /// The configuration read again (or its certificate) cannot be used; nothing changed.
    case badConfiguration(String)

    public var description: String {
        switch self {
        case .invalid(let detail): detail
        case .notFound(let detail): detail
        case .conflict(let detail): detail
        case .storage(let detail): "storage failed: \(detail)"
        case .badConfiguration(let detail): "the configuration was not reloaded: \(detail)"
        }
    }
}
