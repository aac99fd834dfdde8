import XMPPCore
import XMPPSASL

/// XEP-0484 FAST in the negotiation machine: the `<fast/>` feature, token logins with the
/// HT-SHA-256 mechanisms, and the token that `<success/>` carries.
///
/// A token login is one storage round trip: the machine parses the initial response and asks
/// the stream to `verifyFASTToken`; the stream answers `fastTokenVerified`, and success takes
/// the same `sasl2Succeeded` path as SCRAM, so Bind 2 and inline resumption happen in the same
/// round trip. Issuing a token (asked for with `<request-token/>`, or a rotation) is another
/// round trip the stream makes before `<success/>` is built: `issueFASTToken`, then
/// `fastTokenIssued` — the token is stored before the client can use it.
///
/// Choices the XEP leaves open:
/// - `<request-token/>` naming a mechanism the `<fast/>` feature does not offer, and any FAST
///   request without a `<user-agent id='…'/>` (tokens are kept per account and user agent), are
///   refused before anything is checked (`invalid-mechanism` / `malformed-request`, with a
///   `<text/>`), not ignored: a client that asks for a token and silently gets none would keep
///   typing passwords.
/// - A token login without `<fast/>` is accepted: `<fast/>` only carries `count` and `invalidate`.
extension C2SStreamStateMachine {
    /// EXPR and ENDP where this connection has the binding, NONE always; only over TLS, and
    /// only with SASL2 (a token is not a password: never in the mechanism lists).
    func offeredFASTMechanisms() -> [HTMechanism] {
        guard self.policy.fast, self.policy.sasl2, self.encrypted else { return [] }
        return HTMechanism.allCases.filter { mechanism in
            guard let type = mechanism.channelBindingType else { return true }
            return self.channelBinding[type] != nil
        }
    }

    /// A FAST request the server will not act on, refused before any credential is checked.
    mutating func refuseFASTRequest(_ request: SASL2.Authenticate) -> [Action]? {
        let usesToken = HTMechanism(rawValue: request.mechanism) != nil
        guard usesToken || request.fast.requestedMechanism != nil else { return nil }
        if let requested = request.fast.requestedMechanism {
            guard let mechanism = HTMechanism(rawValue: requested), self.offeredFASTMechanisms().contains(mechanism) else {
                return self.saslFailed(
                    .invalidMechanism, username: nil, guessedPassword: false, sasl2: true, text: "<request-token/> names a mechanism <fast/> does not offer")
            }
        }
        guard request.userAgent?.id != nil else {
            return self.saslFailed(
                .malformedRequest, username: nil, guessedPassword: false, sasl2: true, text: "FAST needs <user-agent id='…'/>: tokens belong to one client")
        }
        return nil
    }

    /// `<authenticate mechanism='HT-SHA-256-…'/>`: parse `authcid NUL hash` and ask the stream
    /// to check it. `refuseFASTRequest` already passed, so the user-agent id is there.
    mutating func startFAST(_ request: SASL2.Authenticate, mechanism: HTMechanism) -> [Action] {
        guard let userAgentID = request.userAgent?.id else { preconditionFailure("startFAST before refuseFASTRequest") }
        self.loginMechanism = .fast(mechanism)
        guard self.offeredFASTMechanisms().contains(mechanism) else {
            return self.saslFailed(.invalidMechanism, username: nil, guessedPassword: false, sasl2: true)
        }
        guard let initial = request.initialResponse else {
            // HT is initiator-first: the hash has to be in <authenticate/>.
            return self.saslFailed(.malformedRequest, username: nil, guessedPassword: false, sasl2: true, text: "HT-SHA-256 needs an initial response")
        }
        let parsed: HTSHA256.InitialResponse
        switch HTSHA256.parseInitialResponse(initial) {
        case .success(let value): parsed = value
        case .failure(let failure): return self.saslFailed(failure, username: nil, guessedPassword: false, sasl2: true)
        }
        guard let localpart = try? JID.prepareLocalpart(parsed.username) else {
            return self.saslFailed(.notAuthorized, username: nil, sasl2: true)
        }
        // Offered means the binding is there; NONE binds to nothing.
        let binding = mechanism.channelBindingType.flatMap { self.channelBinding[$0] } ?? []
        self.state = .authenticating(.fastVerifying(username: localpart, mechanism: mechanism), .sasl2(request))
        let attempt = FASTTokenAttempt(
            username: localpart, userAgentID: userAgentID, mechanism: mechanism, initiatorHash: parsed.initiatorHash, channelBinding: binding,
            count: request.fast.count, invalidate: request.fast.invalidate)
        return [.verifyFASTToken(attempt)]
    }

    /// The stream checked the token: success goes the way of any SASL2 success, with the
    /// responder hash as `<additional-data/>`; failures count like a wrong password.
    public mutating func fastTokenVerified(_ verdict: FASTTokenVerdict) -> [Action] {
        // The connection may have gone while storage answered: nothing is left to do.
        if self.isClosed { return [] }
        guard case .authenticating(.fastVerifying(let username, let mechanism), let profile) = self.state else {
            preconditionFailure("fastTokenVerified without a token login under way")
        }
        switch verdict {
        case .accepted(let responder, let rotationDue):
            self.fastTokenToRotate = rotationDue ? mechanism : nil
            return self.saslSucceeded(localpart: username, authzid: nil, additionalData: responder, profile: profile)
        case .rejected:
            return self.saslFailed(.notAuthorized, username: username)
        case .expired:
            return self.saslFailed(.credentialsExpired, username: username)
        }
    }

    /// The token a successful login should get: the one asked for, else a rotation.
    mutating func fastTokenDue(account: JID, request: SASL2.Authenticate) -> FAST.TokenIssue? {
        defer { self.fastTokenToRotate = nil }
        guard let userAgentID = request.userAgent?.id else { return nil }
        // `refuseFASTRequest` checked that a requested mechanism is an offered one.
        let requested = request.fast.requestedMechanism.flatMap(HTMechanism.init(rawValue:))
        guard let mechanism = requested ?? self.fastTokenToRotate else { return nil }
        return FAST.TokenIssue(account: account, userAgentID: userAgentID, mechanism: mechanism)
    }

    /// The token is stored (nil: storing failed, and the login goes on without one).
    public mutating func fastTokenIssued(_ token: FAST.IssuedToken?) -> [Action] {
        if self.isClosed { return [] }
        guard case .issuingFASTToken(let account, var pending) = self.state else {
            preconditionFailure("fastTokenIssued without a token being issued")
        }
        pending.fastToken = token.map(FAST.tokenElement)
        return self.sasl2SetUpSession(account: account, pending: pending)
    }
}

extension C2SStreamStateMachine.SASL2Pending {
    /// `<success/>`'s extensions with the `<token/>` first, when one was issued.
    func tokenFirst(_ extensions: [Element]) -> [Element] {
        (self.fastToken.map { [$0] } ?? []) + extensions
    }
}
