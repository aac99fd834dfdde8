import XMPPCore

/// A token login as the server checks it: who, which client, the mechanism and what the client
/// sent. The initiator hash is a credential (with HT-SHA-256-NONE it can be replayed on any
/// connection until the token is used again with a count), so the description leaves it out.
public struct FASTTokenAttempt: Sendable, Hashable, CustomStringConvertible {
    public var username: String
    public var userAgentID: String
    public var mechanism: HTMechanism
    public var initiatorHash: [UInt8]
    /// The cb-data of the mechanism's channel binding on this connection (empty for NONE).
    public var channelBinding: [UInt8]
    /// XEP-0484 `count`: must grow from one use of a token to the next when sent.
    public var count: Int?
    /// Revoke the token once this login succeeds.
    public var invalidate: Bool

    public init(
        username: String, userAgentID: String, mechanism: HTMechanism, initiatorHash: [UInt8], channelBinding: [UInt8], count: Int? = nil,
        invalidate: Bool = false
    ) {
        self.username = username
        self.userAgentID = userAgentID
        self.mechanism = mechanism
        self.initiatorHash = initiatorHash
        self.channelBinding = channelBinding
        self.count = count
        self.invalidate = invalidate
    }

    public var description: String {
        "FASTTokenAttempt(\(self.username), \(self.mechanism.rawValue), count: \(self.count.map(String.init) ?? "-"), invalidate: \(self.invalidate))"
    }
}

/// What checking a token login gave.
public enum FASTTokenVerdict: Sendable, Hashable {
    /// The token matched: the server's proof for `<additional-data/>`, and whether the token
    /// is close enough to its expiry that a new one should go out in `<success/>`.
    case accepted(responder: [UInt8], rotationDue: Bool)
    /// No token of this client matched, the mechanism was not the token's, or the count did
    /// not grow: `not-authorized`.
    case rejected
    /// The token matched but has expired: `credentials-expired`.
    case expired
}

/// One stored token: its SHA-256 digest (see `FASTTokenIssuer`), never the token.
public struct FASTTokenSlot: Sendable, Hashable, Codable {
    /// SHA-256 of the token, base64.
    public var digest: String
    public var mechanism: HTMechanism
    /// Seconds since 1970 (UTC) after which the token is refused with `credentials-expired`.
    public var expiry: Int64
    /// The highest XEP-0484 `count` a login with this token sent.
    public var lastCount: Int?

    public init(digest: [UInt8], mechanism: HTMechanism, expiry: Int64, lastCount: Int? = nil) {
        self.digest = Base64.encode(digest)
        self.mechanism = mechanism
        self.expiry = expiry
        self.lastCount = lastCount
    }
}

/// The tokens of one (account, user-agent id), in the two slots of XEP-0484 §"Server-side
/// handling of multiple active tokens": a token issued goes into `new`; a login tries `new`
/// first and, when that succeeds, `new` becomes `current` (the one it replaces is dropped),
/// then tries `current`. So a rotated-out token keeps working until the client has shown it
/// received the new one by using it. A pure value: the store reads, changes and writes it in
/// one transaction.
public struct FASTTokenRecord: Sendable, Hashable, Codable {
    public var current: FASTTokenSlot?
    public var new: FASTTokenSlot?

    public init(current: FASTTokenSlot? = nil, new: FASTTokenSlot? = nil) {
        self.current = current
        self.new = new
    }

    public var isEmpty: Bool { self.current == nil && self.new == nil }

    /// Puts a freshly issued token into the `new` slot (an unused one there is replaced).
    public mutating func issue(_ slot: FASTTokenSlot) {
        self.new = slot
    }

    /// Checks a login and records its effects (slot promotion, the count, invalidation).
    /// `now` and `rotateBefore` are seconds.
    public mutating func authenticate(_ attempt: FASTTokenAttempt, now: Int64, rotateBefore: Int64) -> FASTTokenVerdict {
        for isNew in [true, false] {
            guard let slot = isNew ? self.new : self.current, let key = Base64.decode(slot.digest) else { continue }
            let expected = HTSHA256.initiatorHash(key: key, channelBinding: attempt.channelBinding)
            guard constantTimeEquals(expected, attempt.initiatorHash) else { continue }
            // XEP-0484: a token works only with the mechanism it was requested for.
            guard slot.mechanism == attempt.mechanism else { return .rejected }
            guard slot.expiry > now else {
                self.remove(isNew: isNew)
                return .expired
            }
            // A count not above the last one is a replayed (or reordered) message.
            if let count = attempt.count, let last = slot.lastCount, count <= last { return .rejected }
            var used = slot
            used.lastCount = attempt.count ?? slot.lastCount
            self.current = used
            if isNew { self.new = nil }
            let responder = HTSHA256.responderHash(key: key, channelBinding: attempt.channelBinding)
            if attempt.invalidate {
                self.current = nil
                return .accepted(responder: responder, rotationDue: false)
            }
            // A login with `current` while a rotated token waits in `new` means the client never
            // got that one: the new token issued then replaces it.
            let rotationDue = used.expiry - now <= rotateBefore
            return .accepted(responder: responder, rotationDue: rotationDue)
        }
        return .rejected
    }

    private mutating func remove(isNew: Bool) {
        if isNew { self.new = nil } else { self.current = nil }
    }
}
