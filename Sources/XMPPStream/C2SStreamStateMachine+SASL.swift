import XMPPCore
import XMPPSASL

/// RFC 6120 §6 SASL in the negotiation machine, under either profile (`<auth/>` or XEP-0388
/// `<authenticate/>`): mechanism choice, SCRAM and PLAIN exchanges, success and the counted
/// failures behind the login delay and lockout.
extension C2SStreamStateMachine {

    /// Starts an exchange under either profile: `<auth/>` (RFC 6120) or `<authenticate/>`
    /// (XEP-0388), which differ in their elements only.
    mutating func startSASL(mechanismName: String?, initial decoded: Result<[UInt8]?, SASLFailure>, profile: SASLProfile) -> [Action] {
        let sasl2 = profile.isSASL2
        guard !self.isAuthenticated else { return self.closing(StreamError(.policyViolation)) }
        self.loginMechanism = mechanismName.flatMap(SASLMechanismName.init(rawValue:)).map(LoginMechanism.sasl)
        if self.policy.tlsRequired && !self.encrypted {
            return self.saslFailed(.encryptionRequired, username: nil, sasl2: sasl2)
        }
        guard let name = mechanismName, let mechanism = SASLMechanismName(rawValue: name) else {
            return self.saslFailed(.invalidMechanism, username: nil, sasl2: sasl2)
        }
        guard self.offeredMechanisms().contains(mechanism) else {
            return self.saslFailed(mechanism == .plain && !self.encrypted ? .encryptionRequired : .invalidMechanism, username: nil, sasl2: sasl2)
        }
        let initial: [UInt8]?
        switch decoded {
        case .success(let data): initial = data
        case .failure(let failure): return self.saslFailed(failure, username: nil, sasl2: sasl2)
        }
        if mechanism == .plain {
            guard let initial else {
                self.state = .authenticating(.plainAwaitingResponse, profile)
                return [.send(profile.challenge([]))]
            }
            return self.receivedPlain(initial, profile: profile)
        }
        let offered = self.offeredMechanisms()
        let context = ChannelBindingContext(available: self.channelBinding, plusAdvertised: offered.contains(where: \.usesChannelBinding))
        // XEP-0474: what saslFeatures() advertised, the XEP-0440 list only with -PLUS as there.
        let advertised = SCRAMDowngradeProtection(
            mechanisms: offered.map(\.rawValue),
            channelBindingTypes: offered.contains(where: \.usesChannelBinding) ? self.channelBinding.keys.map(\.rawValue) : nil)
        var scram = SCRAMServer(mechanism: mechanism, channelBinding: context, downgradeProtection: advertised)
        guard let initial else {
            self.state = .authenticating(.scram(scram, awaitingCredentials: false), profile)
            return [.send(profile.challenge([]))]
        }
        let action = scram.receivedClientFirst(initial)
        return self.apply(action, scram: scram, profile: profile)
    }

    /// Decodes SASL element text: absent means no data, `=` means empty data (RFC 6120 §6.4.2).
    static func decodeSASLPayload(_ text: String) -> Result<[UInt8]?, SASLFailure> {
        // XML whitespace only (space, tab, CR, LF): Character.isWhitespace looks up Unicode
        // properties for every character of every SASL message.
        let trimmed = String(decoding: text.utf8.filter { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }, as: UTF8.self)
        if trimmed.isEmpty { return .success(nil) }
        if trimmed == "=" { return .success([]) }
        guard let data = Base64.decode(trimmed) else { return .failure(.incorrectEncoding) }
        return .success(data)
    }

    mutating func continueSASL(_ element: Element, exchange: SASLExchange, profile: SASLProfile) -> [Action] {
        let data: [UInt8]
        switch profile {
        case .rfc6120:
            guard element.namespace == XMPPNamespace.sasl else {
                return self.closing(StreamError(.notAuthorized, text: "authentication is in progress"))
            }
            if element.name == "abort" {
                return self.saslFailed(.aborted, username: nil)
            }
            guard element.name == "response" else {
                return self.saslFailed(.malformedRequest, username: nil)
            }
            switch Self.decodeSASLPayload(element.text) {
            case .success(let decoded): data = decoded ?? []
            case .failure(let failure): return self.saslFailed(failure, username: nil)
            }
        case .sasl2:
            // XEP-0388 §2.5: only <response/> or <abort/> while authenticating; anything else ends the stream.
            guard element.namespace == SASL2.namespace, element.name == "response" || element.name == "abort" else {
                return self.closing(StreamError(.policyViolation, text: "only <response/> or <abort/> while authenticating"))
            }
            if element.name == "abort" {
                return self.saslFailed(.aborted, username: nil)
            }
            guard let decoded = SASL2.decode(element.text) else { return self.saslFailed(.incorrectEncoding, username: nil) }
            data = decoded
        }
        switch exchange {
        case .plainAwaitingResponse:
            return self.receivedPlain(data, profile: profile)
        case .plainVerifying, .fastVerifying:
            return self.saslFailed(.malformedRequest, username: nil)
        case .scram(var scram, let awaitingCredentials):
            if awaitingCredentials {
                return self.saslFailed(.malformedRequest, username: nil)
            }
            // Before the first message a response carries client-first; afterwards, client-final.
            if self.scramFirstReceived {
                return self.apply(scram.receivedClientFinal(data), scram: scram, profile: profile)
            }
            return self.apply(scram.receivedClientFirst(data), scram: scram, profile: profile)
        }
    }


    mutating func apply(_ action: SCRAMServer.Action, scram: SCRAMServer, profile: SASLProfile) -> [Action] {
        switch action {
        case .fetchCredentials(let username):
            self.scramFirstReceived = true
            guard let localpart = try? JID.prepareLocalpart(username) else {
                return self.saslFailed(.notAuthorized, username: nil, sasl2: profile.isSASL2)
            }
            self.scramUsername = localpart
            self.state = .authenticating(.scram(scram, awaitingCredentials: true), profile)
            return [.fetchSCRAMCredentials(username: localpart, hash: scram.mechanism.scramHash ?? .sha256)]
        case .challenge(let data):
            self.state = .authenticating(.scram(scram, awaitingCredentials: false), profile)
            return [.send(profile.challenge(data))]
        case .succeed(let additionalData, _, let authzid):
            return self.saslSucceeded(localpart: self.scramUsername, authzid: authzid, additionalData: additionalData, profile: profile)
        case .fail(let failure):
            // A SCRAM exchange refused at client-first never reached a password: the client
            // named a channel binding we do not offer, or said 'y' after we offered -PLUS.
            // Debian's slixmpp 1.8.3 (poezio) tries every -PLUS mechanism with tls-unique,
            // then every plain one with 'y', before PLAIN succeeds: six refusals that guess
            // nothing, and must not use up the attempts a mistyped password gets.
            if !self.scramFirstReceived {
                return self.saslFailed(failure, username: nil, guessedPassword: false, sasl2: profile.isSASL2)
            }
            return self.saslFailed(failure, username: self.scramUsername, sasl2: profile.isSASL2)
        }
    }


    public mutating func credentialsFetched(_ credentials: SCRAMCredentials?) -> [Action] {
        guard case .authenticating(.scram(var scram, awaitingCredentials: true), let profile) = self.state else { return [] }
        return self.apply(scram.credentialsFetched(credentials), scram: scram, profile: profile)
    }

    mutating func receivedPlain(_ data: [UInt8], profile: SASLProfile) -> [Action] {
        let message: PLAINMessage
        do {
            message = try PLAINMessage(parsing: data)
        } catch {
            return self.saslFailed(error, username: nil, sasl2: profile.isSASL2)
        }
        guard let localpart = try? JID.prepareLocalpart(message.username) else {
            return self.saslFailed(.notAuthorized, username: nil, sasl2: profile.isSASL2)
        }
        self.state = .authenticating(.plainVerifying(username: localpart, authzid: message.authzid), profile)
        return [.verifyPlainPassword(username: localpart, password: message.password)]
    }

    /// Authentication is refused without checking (too many recent failures).
    public mutating func authenticationRefused() -> [Action] {
        guard case .authenticating = self.state else { return [] }
        return self.saslFailed(.temporaryAuthFailure, username: nil)
    }

    /// An administrator disabled the account (RFC 6120 §6.5.1); no guess was checked, so
    /// nothing counts toward the login delay.
    public mutating func accountDisabled() -> [Action] {
        guard case .authenticating = self.state else { return [] }
        return self.saslFailed(.accountDisabled, username: nil, guessedPassword: false)
    }

    public mutating func plainPasswordVerified(_ valid: Bool) -> [Action] {
        guard case .authenticating(.plainVerifying(let username, let authzid), let profile) = self.state else { return [] }
        guard valid else { return self.saslFailed(.notAuthorized, username: username) }
        return self.saslSucceeded(localpart: username, authzid: authzid, additionalData: nil, profile: profile)
    }

    mutating func saslSucceeded(localpart: String?, authzid: String?, additionalData: [UInt8]?, profile: SASLProfile) -> [Action] {
        guard let localpart, let domain = self.domain, let account = try? JID(localpart: localpart, domainpart: domain) else {
            return self.saslFailed(.notAuthorized, username: localpart, sasl2: profile.isSASL2)
        }
        if let authzid {
            guard let requested = try? JID(authzid), requested == account else {
                return self.saslFailed(.invalidAuthzid, username: localpart, sasl2: profile.isSASL2)
            }
        }
        if case .sasl2(let request) = profile, case .authenticating(.scram, _) = self.state,
            let actions = self.startUpgradeTasks(account: account, request: request, additionalData: additionalData)
        {
            return actions
        }
        // SASL is over: the per-connection tls-exporter binding is not kept for the session.
        self.channelBinding = [:]
        if case .sasl2(let request) = profile {
            return self.sasl2Succeeded(account: account, request: request, additionalData: additionalData)
        }
        self.state = .awaitingStreamHeader(.authenticated(account: account, encrypted: self.encrypted))
        self.headerSent = false
        let success = Element(
            "success", namespace: XMPPNamespace.sasl, text: additionalData.map { $0.isEmpty ? "=" : Base64.encode($0) })
        return [.send(success), .authenticated(account), .restartStream]
    }


    /// `sasl2` says which profile's `<failure/>` to send; nil means the one of the exchange
    /// under way (RFC 6120's when none is).
    mutating func saslFailed(_ failure: SASLFailure, username: String?, guessedPassword: Bool = true, sasl2: Bool? = nil, text: String? = nil) -> [Action] {
        var isSASL2 = false
        if case .authenticating(_, let profile) = self.state { isSASL2 = profile.isSASL2 }
        isSASL2 = sasl2 ?? isSASL2
        self.scramFirstReceived = false
        self.scramUsername = nil
        self.state = .negotiating(self.encrypted ? .encrypted : .plaintext)
        self.fastTokenToRotate = nil
        var actions: [Action] = [.send(isSASL2 ? SASL2.failure(failure, text: text) : failure.element)]
        guard guessedPassword else {
            self.refusedRequests += 1
            if self.refusedRequests >= Self.maxRefusedRequests {
                return actions + self.closing(StreamError(.policyViolation, text: "too many refused authentication requests"))
            }
            return actions
        }
        if failure != .aborted && failure != .encryptionRequired && failure != .invalidMechanism && failure != .temporaryAuthFailure {
            actions.insert(.authenticationFailed(username: username, reason: failure), at: 0)
        }
        guard failure != .aborted && failure != .temporaryAuthFailure else { return actions }
        self.authenticationFailures += 1
        if self.authenticationFailures >= self.policy.maxAuthenticationFailures {
            return actions + self.closing(StreamError(.policyViolation, text: "too many failed authentication attempts"))
        }
        return actions
    }
}
