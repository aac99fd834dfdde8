import XMPPCore

/// XEP-0198 stream management counters for one session, as a value type: how many stanzas
/// we handled from the peer, and which of ours it has not acknowledged yet. Sequence numbers
/// wrap at 2^32 as the XEP requires.
public struct StreamManagementCounters: Sendable {
    public enum Failure: Error, Sendable, Hashable {
        /// The peer acknowledged stanzas we never sent.
        case handledCountTooHigh(h: UInt32, sent: UInt32)
    }

    /// Stanzas received from the peer and handled (the `h` we report).
    public private(set) var inboundHandled: UInt32 = 0
    /// Stanzas sent to the peer.
    public private(set) var outboundSent: UInt32 = 0
    /// The peer's last acknowledged count.
    public private(set) var outboundAcked: UInt32 = 0
    /// Sent but not yet acknowledged, oldest first.
    public private(set) var unacked: [Element] = []

    public init() {}

    public mutating func stanzaHandled() {
        self.inboundHandled &+= 1
    }

    public mutating func stanzaSent(_ stanza: Element) {
        self.outboundSent &+= 1
        self.unacked.append(stanza)
    }

    /// Applies `<a h='…'/>` (or the `h` of `<resume/>`); returns the stanzas now acknowledged.
    @discardableResult
    public mutating func acknowledged(_ h: UInt32) throws(Failure) -> [Element] {
        let newlyAcked = h &- self.outboundAcked
        let outstanding = self.outboundSent &- self.outboundAcked
        guard newlyAcked <= outstanding else { throw .handledCountTooHigh(h: h, sent: self.outboundSent) }
        let count = Int(newlyAcked)
        let acked = Array(self.unacked.prefix(count))
        self.unacked.removeFirst(min(count, self.unacked.count))
        self.outboundAcked = h
        return acked
    }

    /// Test support: moves both counters to `value` with nothing outstanding.
    mutating func jumpForTesting(to value: UInt32) {
        self.unacked.removeAll()
        self.outboundSent = value
        self.outboundAcked = value
    }

    /// After resumption the unacknowledged stanzas are sent again; they count as sent anew.
    public mutating func takeUnackedForResend() -> [Element] {
        let pending = self.unacked
        self.unacked.removeAll()
        self.outboundAcked = self.outboundSent &- UInt32(truncatingIfNeeded: pending.count)
        self.outboundSent = self.outboundAcked
        return pending
    }
}
