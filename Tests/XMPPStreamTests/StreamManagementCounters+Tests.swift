import Testing
import XMPPCore
@testable import XMPPStream

private func message(_ number: Int) -> Element {
    Element("message", namespace: XMPPNamespace.client, attributes: [("id", "m\(number)")])
}

@Suite("StreamManagementCounters (XEP-0198)")
struct StreamManagementCountersTests {
    @Test("acknowledgements drop exactly the acknowledged stanzas")
    func acks() throws {
        var counters = StreamManagementCounters()
        for index in 1...5 { counters.stanzaSent(message(index)) }
        #expect(try counters.acknowledged(2).map(\.id) == ["m1", "m2"])
        #expect(counters.unacked.map(\.id) == ["m3", "m4", "m5"])
        #expect(try counters.acknowledged(2).isEmpty)
        #expect(try counters.acknowledged(5).count == 3)
        #expect(counters.unacked.isEmpty)
    }

    @Test("acknowledging more than was sent is an error")
    func tooHigh() {
        var counters = StreamManagementCounters()
        counters.stanzaSent(message(1))
        #expect(throws: StreamManagementCounters.Failure.handledCountTooHigh(h: 2, sent: 1)) { try counters.acknowledged(2) }
    }

    @Test("counters wrap around at 2^32")
    func wrapAround() throws {
        var counters = StreamManagementCounters()
        // Bring the counters close to the edge without sending four billion stanzas.
        for _ in 0..<3 { counters.stanzaSent(message(0)) }
        _ = try counters.acknowledged(3)
        var wrapped = counters
        wrapped = Self.advanced(wrapped, to: UInt32.max - 1)
        wrapped.stanzaSent(message(1))
        wrapped.stanzaSent(message(2))
        wrapped.stanzaSent(message(3))
        #expect(wrapped.outboundSent == 1)
        #expect(try wrapped.acknowledged(0).map(\.id) == ["m1", "m2"])
        #expect(try wrapped.acknowledged(1).map(\.id) == ["m3"])
        var inbound = StreamManagementCounters()
        for _ in 0..<3 { inbound.stanzaHandled() }
        #expect(inbound.inboundHandled == 3)
    }

    @Test("resending unacknowledged stanzas keeps the count consistent")
    func resend() throws {
        var counters = StreamManagementCounters()
        for index in 1...4 { counters.stanzaSent(message(index)) }
        _ = try counters.acknowledged(1)
        let pending = counters.takeUnackedForResend()
        #expect(pending.map(\.id) == ["m2", "m3", "m4"])
        for stanza in pending { counters.stanzaSent(stanza) }
        #expect(counters.outboundSent == 4)
        #expect(try counters.acknowledged(4).count == 3)
    }

    /// A state whose sent and acknowledged counts are both `value`, with nothing outstanding.
    static func advanced(_ counters: StreamManagementCounters, to value: UInt32) -> StreamManagementCounters {
        var copy = counters
        let steps = value &- copy.outboundSent
        // Simulate by acknowledging in bulk: send placeholders lazily is too slow, so walk the
        // public API with large acknowledged jumps on an empty queue.
        copy.jumpForTesting(to: copy.outboundSent &+ steps)
        return copy
    }
}
