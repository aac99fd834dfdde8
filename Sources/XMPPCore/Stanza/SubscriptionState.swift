/// The presence subscription state of one roster item (RFC 6121 §3 and Appendix A), seen
/// from the account that owns the roster.
///
/// `to`: the user receives the contact's presence. `from`: the contact receives the user's.
/// `pendingOut`: the user asked and awaits an answer. `pendingIn`: the contact asked and awaits
/// the user's answer. `preApproved`: the user approved in advance (RFC 6121 §3.4).
public struct SubscriptionState: Sendable, Hashable, CustomStringConvertible {
    public var to: Bool
    public var from: Bool
    public var pendingOut: Bool
    public var pendingIn: Bool
    public var preApproved: Bool

    public init(to: Bool = false, from: Bool = false, pendingOut: Bool = false, pendingIn: Bool = false, preApproved: Bool = false) {
        self.to = to
        self.from = from
        self.pendingOut = pendingOut && !to
        self.pendingIn = pendingIn && !from
        self.preApproved = preApproved && !from
    }

    public static let none = SubscriptionState()

    /// The `subscription` attribute of a roster item.
    public var subscription: String {
        switch (self.to, self.from) {
        case (true, true): "both"
        case (true, false): "to"
        case (false, true): "from"
        case (false, false): "none"
        }
    }

    public init(subscription: String, ask: Bool = false, pendingIn: Bool = false, approved: Bool = false) {
        self.init(
            to: subscription == "to" || subscription == "both", from: subscription == "from" || subscription == "both",
            pendingOut: ask, pendingIn: pendingIn, preApproved: approved)
    }

    public var description: String {
        var text = self.subscription.prefix(1).uppercased() + self.subscription.dropFirst()
        if self.pendingOut && self.pendingIn { text += "+PendingOut+In" } else if self.pendingOut { text += "+PendingOut" } else if self.pendingIn { text += "+PendingIn" }
        if self.preApproved { text += "+PreApproved" }
        return text
    }

    // MARK: - Outbound: the user sends to the contact (Appendix A.2)

    /// What happens to a subscription presence the user sent.
    public struct Outcome: Sendable, Hashable {
        public var state: SubscriptionState
        /// Route the stanza on to the contact.
        public var route: Bool
        /// Push the changed roster item to the user's interested resources.
        public var changed: Bool
    }

    public func outboundSubscribe() -> Outcome {
        var next = self
        if !self.to { next.pendingOut = true }
        return Outcome(state: next, route: true, changed: next != self)
    }

    public func outboundUnsubscribe() -> Outcome {
        var next = self
        next.to = false
        next.pendingOut = false
        return Outcome(state: next, route: true, changed: next != self)
    }

    public func outboundSubscribed() -> Outcome {
        var next = self
        if self.pendingIn {
            next.from = true
            next.pendingIn = false
            next.preApproved = false
            return Outcome(state: next, route: true, changed: true)
        }
        // No request is pending: this is a pre-approval (§3.4), never routed.
        if !self.from { next.preApproved = true }
        return Outcome(state: next, route: false, changed: next != self)
    }

    public func outboundUnsubscribed() -> Outcome {
        var next = self
        next.preApproved = false
        if self.from || self.pendingIn {
            next.from = false
            next.pendingIn = false
            return Outcome(state: next, route: true, changed: true)
        }
        return Outcome(state: next, route: false, changed: next != self)
    }

    // MARK: - Inbound: the contact sends to the user (Appendix A.3)

    public struct InboundOutcome: Sendable, Hashable {
        public var state: SubscriptionState
        /// Deliver the stanza to the user's clients.
        public var deliver: Bool
        /// Answer the contact with `subscribed` on the user's behalf (already From, or pre-approved).
        public var autoReplySubscribed: Bool
        public var changed: Bool
    }

    public func inboundSubscribe() -> InboundOutcome {
        var next = self
        if self.from {
            return InboundOutcome(state: self, deliver: false, autoReplySubscribed: true, changed: false)
        }
        if self.preApproved {
            next.from = true
            next.preApproved = false
            next.pendingIn = false
            return InboundOutcome(state: next, deliver: false, autoReplySubscribed: true, changed: true)
        }
        if self.pendingIn {
            return InboundOutcome(state: self, deliver: false, autoReplySubscribed: false, changed: false)
        }
        next.pendingIn = true
        return InboundOutcome(state: next, deliver: true, autoReplySubscribed: false, changed: true)
    }

    public func inboundUnsubscribe() -> InboundOutcome {
        guard self.from || self.pendingIn else {
            return InboundOutcome(state: self, deliver: false, autoReplySubscribed: false, changed: false)
        }
        var next = self
        next.from = false
        next.pendingIn = false
        return InboundOutcome(state: next, deliver: true, autoReplySubscribed: false, changed: true)
    }

    public func inboundSubscribed() -> InboundOutcome {
        guard self.pendingOut else {
            return InboundOutcome(state: self, deliver: false, autoReplySubscribed: false, changed: false)
        }
        var next = self
        next.to = true
        next.pendingOut = false
        return InboundOutcome(state: next, deliver: true, autoReplySubscribed: false, changed: true)
    }

    public func inboundUnsubscribed() -> InboundOutcome {
        guard self.to || self.pendingOut else {
            return InboundOutcome(state: self, deliver: false, autoReplySubscribed: false, changed: false)
        }
        var next = self
        next.to = false
        next.pendingOut = false
        return InboundOutcome(state: next, deliver: true, autoReplySubscribed: false, changed: true)
    }
}
