import NIOCore

/// XEP-0199 keepalive from the server's side, without I/O: a client silent for `interval` is
/// pinged, and one that stays silent `timeout` after the ping is gone.
public struct KeepAlive: Sendable {
    public enum Decision: Sendable, Hashable {
        case none
        case ping
        case timedOut
    }

    private var lastHeard: NIODeadline
    private var pingSentAt: NIODeadline?

    public init(now: NIODeadline) {
        self.lastHeard = now
    }

    /// Anything from the client counts as an answer.
    public mutating func heard(now: NIODeadline) {
        self.lastHeard = now
        self.pingSentAt = nil
    }

    /// `interval` of zero turns pings off.
    public mutating func check(now: NIODeadline, interval: TimeAmount, timeout: TimeAmount) -> Decision {
        guard interval > .zero else { return .none }
        if let sent = self.pingSentAt {
            return now - sent >= timeout ? .timedOut : .none
        }
        guard now - self.lastHeard >= interval else { return .none }
        self.pingSentAt = now
        return .ping
    }
}
