import Testing
import XMPPCore

/// The nine states of RFC 6121 Appendix A.1, by the names the RFC gives them.
private let none = SubscriptionState()
private let noneOut = SubscriptionState(pendingOut: true)
private let noneIn = SubscriptionState(pendingIn: true)
private let noneOutIn = SubscriptionState(pendingOut: true, pendingIn: true)
private let to = SubscriptionState(to: true)
private let toIn = SubscriptionState(to: true, pendingIn: true)
private let from = SubscriptionState(from: true)
private let fromOut = SubscriptionState(from: true, pendingOut: true)
private let both = SubscriptionState(to: true, from: true)

@Suite("SubscriptionState (RFC 6121 Appendix A)")
struct SubscriptionStateTests {
    // A.2.1: the user sends subscribe.
    @Test("A.2.1 outbound subscribe", arguments: [
        (none, noneOut), (noneOut, noneOut), (noneIn, noneOutIn), (noneOutIn, noneOutIn),
        (to, to), (toIn, toIn), (from, fromOut), (fromOut, fromOut), (both, both),
    ])
    func outboundSubscribe(_ state: SubscriptionState, _ expected: SubscriptionState) {
        #expect(state.outboundSubscribe().state == expected)
    }

    // A.2.2: the user sends unsubscribe.
    @Test("A.2.2 outbound unsubscribe", arguments: [
        (none, none), (noneOut, none), (noneIn, noneIn), (noneOutIn, noneIn),
        (to, none), (toIn, noneIn), (from, from), (fromOut, from), (both, from),
    ])
    func outboundUnsubscribe(_ state: SubscriptionState, _ expected: SubscriptionState) {
        #expect(state.outboundUnsubscribe().state == expected)
    }

    // A.2.3: the user sends subscribed (approval, or pre-approval when nothing is pending).
    @Test("A.2.3 outbound subscribed", arguments: [
        (none, SubscriptionState(preApproved: true), false), (noneOut, SubscriptionState(pendingOut: true, preApproved: true), false),
        (noneIn, from, true), (noneOutIn, fromOut, true), (to, SubscriptionState(to: true, preApproved: true), false),
        (toIn, both, true), (from, from, false), (fromOut, fromOut, false), (both, both, false),
    ])
    func outboundSubscribed(_ state: SubscriptionState, _ expected: SubscriptionState, _ routed: Bool) {
        let outcome = state.outboundSubscribed()
        #expect(outcome.state == expected)
        #expect(outcome.route == routed)
    }

    // A.2.4: the user sends unsubscribed (refusal or cancellation).
    @Test("A.2.4 outbound unsubscribed", arguments: [
        (none, none, false), (noneOut, noneOut, false), (noneIn, none, true), (noneOutIn, noneOut, true),
        (to, to, false), (toIn, to, true), (from, none, true), (fromOut, noneOut, true), (both, to, true),
    ])
    func outboundUnsubscribed(_ state: SubscriptionState, _ expected: SubscriptionState, _ routed: Bool) {
        let outcome = state.outboundUnsubscribed()
        #expect(outcome.state == expected)
        #expect(outcome.route == routed)
    }

    // A.3.1: a subscribe arrives for the user.
    @Test("A.3.1 inbound subscribe", arguments: [
        (none, noneIn, true), (noneOut, noneOutIn, true), (noneIn, noneIn, false), (noneOutIn, noneOutIn, false),
        (to, toIn, true), (toIn, toIn, false), (from, from, false), (fromOut, fromOut, false), (both, both, false),
    ])
    func inboundSubscribe(_ state: SubscriptionState, _ expected: SubscriptionState, _ delivered: Bool) {
        let outcome = state.inboundSubscribe()
        #expect(outcome.state == expected)
        #expect(outcome.deliver == delivered)
        // Already From: the server answers subscribed itself.
        #expect(outcome.autoReplySubscribed == state.from)
    }

    @Test("A.3.1 with pre-approval: the server approves without asking the user")
    func inboundSubscribePreApproved() {
        let outcome = SubscriptionState(pendingOut: true, preApproved: true).inboundSubscribe()
        #expect(outcome.state == fromOut)
        #expect(!outcome.deliver)
        #expect(outcome.autoReplySubscribed)
    }

    // A.3.2: an unsubscribe arrives for the user.
    @Test("A.3.2 inbound unsubscribe", arguments: [
        (none, none, false), (noneOut, noneOut, false), (noneIn, none, true), (noneOutIn, noneOut, true),
        (to, to, false), (toIn, to, true), (from, none, true), (fromOut, noneOut, true), (both, to, true),
    ])
    func inboundUnsubscribe(_ state: SubscriptionState, _ expected: SubscriptionState, _ delivered: Bool) {
        let outcome = state.inboundUnsubscribe()
        #expect(outcome.state == expected)
        #expect(outcome.deliver == delivered)
    }

    // A.3.3: a subscribed arrives for the user.
    @Test("A.3.3 inbound subscribed", arguments: [
        (none, none, false), (noneOut, to, true), (noneIn, noneIn, false), (noneOutIn, toIn, true),
        (to, to, false), (toIn, toIn, false), (from, from, false), (fromOut, both, true), (both, both, false),
    ])
    func inboundSubscribed(_ state: SubscriptionState, _ expected: SubscriptionState, _ delivered: Bool) {
        let outcome = state.inboundSubscribed()
        #expect(outcome.state == expected)
        #expect(outcome.deliver == delivered)
    }

    // A.3.4: an unsubscribed arrives for the user.
    @Test("A.3.4 inbound unsubscribed", arguments: [
        (none, none, false), (noneOut, none, true), (noneIn, noneIn, false), (noneOutIn, noneIn, true),
        (to, none, true), (toIn, noneIn, true), (from, from, false), (fromOut, from, true), (both, from, true),
    ])
    func inboundUnsubscribed(_ state: SubscriptionState, _ expected: SubscriptionState, _ delivered: Bool) {
        let outcome = state.inboundUnsubscribed()
        #expect(outcome.state == expected)
        #expect(outcome.deliver == delivered)
    }

    @Test("roster attributes round-trip", arguments: [none, noneOut, noneIn, noneOutIn, to, toIn, from, fromOut, both])
    func attributes(_ state: SubscriptionState) {
        let copy = SubscriptionState(subscription: state.subscription, ask: state.pendingOut, pendingIn: state.pendingIn, approved: state.preApproved)
        #expect(copy == state)
    }
}
