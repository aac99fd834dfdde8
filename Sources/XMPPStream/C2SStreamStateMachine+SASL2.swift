import XMPPCore
import XMPPSASL

/// XEP-0388 SASL2 and XEP-0386 Bind 2 in the negotiation machine. The SASL exchange itself
/// (mechanisms, SCRAM, PLAIN, failures counted for the login delay) is the RFC 6120 one run
/// under `SASLProfile.sasl2`; what differs is here: the feature, `<authenticate/>`, and what
/// follows success — no stream restart, and the session set up before `<success/>` goes out.
extension C2SStreamStateMachine {
    /// The `<authentication/>` feature with the same mechanisms as `<mechanisms/>`: XEP-0474
    /// hashes that one list, so the hash is the same whichever profile the client uses.
    func sasl2Feature(mechanisms: [SASLMechanismName]) -> Element {
        var inline: [String] = self.policy.bind2InlineFeatures
        inline.append(SASL2.csiNamespace)
        if self.policy.streamManagement { inline.append(StreamManagementNamespace.v3) }
        var feature = SASL2.feature(
            mechanisms: mechanisms, bindInlineFeatures: inline, streamManagement: self.policy.streamManagement, fastMechanisms: self.offeredFASTMechanisms())
        feature.append(contentsOf: SCRAMUpgrade.upgradeElements(self.offeredUpgrades(mechanisms: mechanisms)))
        return feature
    }

    mutating func startSASL2(_ element: Element) -> [Action] {
        guard !self.isAuthenticated else { return self.closing(StreamError(.policyViolation, text: "already authenticated")) }
        switch SASL2.parseAuthenticate(element) {
        case .failure(let failure):
            // Nothing was guessed: refused like an unknown mechanism, not counted as a failed login.
            return self.saslFailed(failure, username: nil, guessedPassword: false, sasl2: true)
        case .success(let request):
            if let refusal = self.refuseFASTRequest(request) { return refusal }
            if let mechanism = HTMechanism(rawValue: request.mechanism) { return self.startFAST(request, mechanism: mechanism) }
            return self.startSASL(mechanismName: request.mechanism, initial: .success(request.initialResponse), profile: .sasl2(request))
        }
    }

    /// The SASL2 exchange succeeded as `account`. Without Bind 2 or resumption the stream is
    /// authenticated at once (features follow `<success/>`, XEP-0388 §2.6.1); with them the
    /// server sets the session up first, since `<success/>` carries the result.
    mutating func sasl2Succeeded(account: JID, request: SASL2.Authenticate, additionalData: [UInt8]?) -> [Action] {
        let pending = SASL2Pending(request: request, additionalData: additionalData)
        if let issue = self.fastTokenDue(account: account, request: request) {
            self.state = .issuingFASTToken(account: account, pending: pending)
            return [.issueFASTToken(issue)]
        }
        return self.sasl2SetUpSession(account: account, pending: pending)
    }

    /// Resumes or binds what `<authenticate/>` asked for, or authenticates the stream at once.
    mutating func sasl2SetUpSession(account: JID, pending: SASL2Pending) -> [Action] {
        let request = pending.request
        if let resume = request.resume, self.policy.streamManagement {
            self.state = .inlineBinding(account: account, pending: pending)
            return [.authenticated(account), .resumeInline(previd: resume.previd, h: resume.h, account: account)]
        }
        if let bind = request.bind {
            self.state = .inlineBinding(account: account, pending: pending)
            return [.authenticated(account), .bindInline(bind, account: account, userAgent: request.userAgent)]
        }
        return [.authenticated(account)] + self.authenticatedWithoutSession(account: account, pending: pending, extensions: [])
    }

    /// `<success/>` with the bare JID, then the features of an authenticated stream (bind, sm …).
    private mutating func authenticatedWithoutSession(account: JID, pending: SASL2Pending, extensions: [Element]) -> [Action] {
        let phase = Phase.authenticated(account: account, encrypted: self.encrypted)
        self.state = .negotiating(phase)
        return [
            .send(SASL2.success(authorizationIdentifier: account, additionalData: pending.additionalData, extensions: pending.tokenFirst(extensions))),
            .send(self.features(for: phase)),
        ]
    }

    private func inlinePending(_ event: String) -> (JID, SASL2Pending) {
        guard case .inlineBinding(let account, let pending) = self.state else {
            // The server answers an inline request in the same turn it was made; anything else is a bug.
            preconditionFailure("\(event) without an inline bind or resume under way")
        }
        return (account, pending)
    }

    /// The session was bound; `streamManagement` is the `<enabled/>` or `<failed/>` for an
    /// inline `<enable/>`, `extensions` what other inline features answered.
    public mutating func inlineBound(_ jid: JID, streamManagement: Element?, extensions: [Element]) -> [Action] {
        let (_, pending) = self.inlinePending("inlineBound")
        if streamManagement?.name == "enabled" { self.managementEnabled = true }
        self.state = .established(jid)
        var bound = Element(name: "bound", namespace: SASL2.bindNamespace)
        if let streamManagement { bound.append(streamManagement) }
        for element in extensions { bound.append(element) }
        let success = SASL2.success(
            authorizationIdentifier: jid, additionalData: pending.additionalData, extensions: pending.tokenFirst((pending.resumeFailure.map { [$0] } ?? []) + [bound]))
        return [.send(success), .send(self.establishedFeatures())]
    }

    /// Binding failed (too many sessions …): the login stands, and the client may bind the
    /// RFC 6120 way, which the features offer.
    public mutating func inlineBindFailed(_ error: StanzaError) -> [Action] {
        let (account, pending) = self.inlinePending("inlineBindFailed")
        return self.authenticatedWithoutSession(account: account, pending: pending, extensions: pending.resumeFailure.map { [$0] } ?? [])
    }

    /// The inline `<resume/>` took the session over: `<resumed/>` inside `<success/>`, and
    /// the Bind 2 request, if any, is ignored (XEP-0386 §3.2).
    public mutating func inlineResumed(_ jid: JID, previd: String, handled: UInt32) -> [Action] {
        let (_, pending) = self.inlinePending("inlineResumed")
        self.managementEnabled = true
        self.state = .established(jid)
        let resumed = Element("resumed", namespace: StreamManagementNamespace.v3, attributes: [("previd", previd), ("h", String(handled))])
        return [
            .send(SASL2.success(authorizationIdentifier: jid, additionalData: pending.additionalData, extensions: pending.tokenFirst([resumed]))),
            .send(self.establishedFeatures()),
        ]
    }

    /// No session to resume: the `<failed/>` goes into `<success/>`, and a Bind 2 request is
    /// carried out instead (XEP-0386 §3.2).
    public mutating func inlineResumeFailed() -> [Action] {
        var (account, pending) = self.inlinePending("inlineResumeFailed")
        pending.resumeFailure = StreamManagementNamespace.failed(.itemNotFound)
        if let bind = pending.request.bind {
            self.state = .inlineBinding(account: account, pending: pending)
            return [.bindInline(bind, account: account, userAgent: pending.request.userAgent)]
        }
        return self.authenticatedWithoutSession(account: account, pending: pending, extensions: pending.resumeFailure.map { [$0] } ?? [])
    }

    /// Features of a stream whose session is already bound: no bind, and stream management
    /// only while not yet enabled.
    func establishedFeatures() -> Element {
        var features = Element(name: "features", namespace: XMPPNamespace.stream)
        if self.policy.streamManagement && !self.managementEnabled {
            features.append(Element(name: "sm", namespace: StreamManagementNamespace.v3))
        }
        features.append(Element(name: "csi", namespace: Self.csiNamespace))
        for feature in self.policy.authenticatedFeatures {
            features.append(feature)
        }
        if let limits = self.policy.streamLimits { features.append(limits.element(authenticated: true)) }
        return features
    }
}

extension C2SStreamStateMachine.SASLProfile {
    var isSASL2: Bool {
        if case .sasl2 = self { return true }
        return false
    }

    func challenge(_ data: [UInt8]) -> Element {
        switch self {
        case .rfc6120: data.isEmpty ? Element(name: "challenge", namespace: XMPPNamespace.sasl) : Element("challenge", namespace: XMPPNamespace.sasl, text: Base64.encode(data))
        case .sasl2: SASL2.challenge(data)
        }
    }
}
