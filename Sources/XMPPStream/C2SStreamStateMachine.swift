import XMPPCore
import XMPPSASL

/// Policy for the client-to-server negotiation, fixed per listener.
public struct C2SNegotiationPolicy: Sendable {
    public var hostedDomains: Set<String>
    /// True when the listener has a certificate to offer STARTTLS with.
    public var tlsAvailable: Bool
    /// Refuse SASL and stanzas until the stream is encrypted (RFC 6120 §5.3.1).
    public var tlsRequired: Bool
    /// The mechanisms in the order they are offered; PLAIN and -PLUS are offered only over TLS.
    public var mechanisms: [SASLMechanismName]
    /// Failed SASL attempts allowed on one stream before it is closed.
    public var maxAuthenticationFailures: Int
    /// Offer the RFC 3921 session element, marked optional (RFC 6121 Appendix E), for old clients.
    public var offerLegacySession: Bool
    /// Extra stream features offered once the stream is authenticated (from modules).
    public var authenticatedFeatures: [Element]
    /// Offer in-band registration (XEP-0077) on encrypted streams before authentication.
    public var registrationAvailable: Bool
    /// Registration takes invitation tokens (XEP-0445): `<preauth/>` is answered before it.
    public var registrationByInvitation = false
    /// Offer stream management (XEP-0198).
    public var streamManagement: Bool
    /// Offer XEP-0388 SASL2 (with XEP-0386 Bind 2 inline) beside RFC 6120 SASL.
    public var sasl2: Bool
    /// Namespaces modules enable inside a Bind 2 request (carbons …); stream management and
    /// client state indication are the stream's own and are added to the list here.
    public var bind2InlineFeatures: [String]
    /// Offer XEP-0480 SCRAM upgrade tasks inside SASL2 (on encrypted streams).
    public var scramUpgrades = true
    /// The iteration count of credentials an upgrade task creates.
    public var scramIterations = SCRAMCredentials.defaultIterations
    /// Offer XEP-0484 FAST tokens inside SASL2 (over TLS only).
    public var fast: Bool
    /// Advertised in every features element (XEP-0478) when set.
    public var streamLimits: StreamLimits?

    public init(
        hostedDomains: Set<String>,
        tlsAvailable: Bool = true,
        tlsRequired: Bool = true,
        mechanisms: [SASLMechanismName] = SASLMechanismName.allCases,
        maxAuthenticationFailures: Int = 3,
        offerLegacySession: Bool = true,
        authenticatedFeatures: [Element] = [],
        registrationAvailable: Bool = false,
        streamManagement: Bool = true,
        sasl2: Bool = true,
        bind2InlineFeatures: [String] = [],
        fast: Bool = true
    ) {
        self.hostedDomains = hostedDomains
        self.tlsAvailable = tlsAvailable
        self.tlsRequired = tlsRequired
        self.mechanisms = mechanisms
        self.maxAuthenticationFailures = maxAuthenticationFailures
        self.offerLegacySession = offerLegacySession
        self.authenticatedFeatures = authenticatedFeatures
        self.registrationAvailable = registrationAvailable
        self.streamManagement = streamManagement
        self.sasl2 = sasl2
        self.bind2InlineFeatures = bind2InlineFeatures
        self.fast = fast
    }
}

/// The client-to-server stream negotiation of RFC 6120 (§4 streams, §5 STARTTLS, §6 SASL,
/// §7 resource binding) as a pure state machine.
///
/// The connection handler feeds it what happened (`streamOpened`, `elementReceived`,
/// `tlsEstablished`, `credentialsFetched` …) and carries out the actions it returns, in order.
/// It does no I/O, reads no clock and touches no storage, so every transition is tested
/// without a socket.
public struct C2SStreamStateMachine: Sendable {
    public enum Action: Sendable, Hashable {
        /// Open our side of the stream with this header.
        case sendStreamHeader(StreamHeader)
        case send(Element)
        /// `<proceed/>` is out: discard buffered input, add TLS in front of the parser, reset it.
        case startTLS
        /// SASL succeeded: reset the parser for the new stream (RFC 6120 §6.4.6).
        case restartStream
        /// The stream authenticated as this bare JID (raise the stanza size limits).
        case authenticated(JID)
        case fetchSCRAMCredentials(username: String, hash: SCRAMHash)
        case verifyPlainPassword(username: String, password: String)
        /// Log a failed authentication (never with the password or SASL data).
        case authenticationFailed(username: String?, reason: SASLFailure)
        case bindResource(requested: String?, account: JID)
        /// An in-band registration request (XEP-0077) before authentication; answer it with `send`.
        case register(Element)
        /// XEP-0198 `<enable/>` on a bound stream.
        case enableStreamManagement(resume: Bool)
        /// `<r/>`: answer with the handled count.
        case acknowledgeHandled
        /// `<a h='…'/>` from the client.
        case acknowledged(UInt32)
        /// `<resume/>` instead of binding: take over the detached session `previd`.
        case resumeSession(previd: String, h: UInt32, account: JID)
        /// SASL2 succeeded with a Bind 2 request (XEP-0386): bind a resource made from the tag,
        /// enable what it asks for, then report `inlineBound` or `inlineBindFailed`.
        case bindInline(SASL2.BindRequest, account: JID, userAgent: SASL2.UserAgent?)
        /// SASL2 succeeded with an inline XEP-0198 `<resume/>`: take the session over, then
        /// report `inlineResumed` or `inlineResumeFailed`.
        case resumeInline(previd: String, h: UInt32, account: JID)
        /// XEP-0480: which of these hashes `account` has no credentials for; answer with
        /// `missingSCRAMCredentialsFound`.
        case findMissingSCRAMCredentials(account: JID, hashes: [SCRAMHash])
        /// XEP-0480: store credentials an upgrade task produced beside the account's others
        /// (never replacing any); answer with `scramCredentialsAdded`.
        case addSCRAMCredentials(SCRAMCredentials, account: JID)
        /// A XEP-0484 token login: check it against the stored tokens, then report
        /// `fastTokenVerified`.
        case verifyFASTToken(FASTTokenAttempt)
        /// A SASL2 login succeeded and a token is due (asked for, or rotated): make one, store
        /// its digest, then report `fastTokenIssued`.
        case issueFASTToken(FAST.TokenIssue)
        /// XEP-0352 client state: the client says whether a person is looking at it.
        case clientState(active: Bool)
        /// A stanza from the bound session, `from` stamped, ready for the router.
        case route(Element)
        /// Send the stream error (if any), close our stream and the connection.
        case close(StreamError?)
    }

    public enum Phase: Sendable, Hashable {
        case plaintext
        case encrypted
        case authenticated(account: JID, encrypted: Bool)
    }

    enum State: Sendable {
        case awaitingStreamHeader(Phase)
        case negotiating(Phase)
        case awaitingTLS
        case authenticating(SASLExchange, SASLProfile)
        case binding(account: JID)
        /// SASL2 authenticated; the server is resuming or binding what `<authenticate/>` asked.
        case inlineBinding(account: JID, pending: SASL2Pending)
        /// SASL2 authenticated; XEP-0480 upgrade tasks run before success is sent.
        case sasl2Task(SASL2TaskStep)
        /// SASL2 authenticated; the server is storing the XEP-0484 token `<success/>` will carry.
        case issuingFASTToken(account: JID, pending: SASL2Pending)
        case established(JID)
        case closed
    }

    /// Which SASL profile an exchange runs under: the elements differ, the mechanisms do not.
    enum SASLProfile: Sendable {
        case rfc6120
        case sasl2(SASL2.Authenticate)
    }

    /// What a successful SASL2 exchange still has to answer once the session is set up.
    struct SASL2Pending: Sendable {
        var request: SASL2.Authenticate
        var additionalData: [UInt8]?
        /// XEP-0198 `<failed/>` of an inline resume that a bind then replaced.
        var resumeFailure: Element?
        /// XEP-0484 `<token/>` issued for this login.
        var fastToken: Element?
    }

    enum SASLExchange: Sendable {
        case scram(SCRAMServer, awaitingCredentials: Bool)
        case plainAwaitingResponse
        case plainVerifying(username: String, authzid: String?)
        /// A XEP-0484 token login waiting for `fastTokenVerified`.
        case fastVerifying(username: String, mechanism: HTMechanism)
    }

    public let policy: C2SNegotiationPolicy
    var state: State
    var channelBinding: [ChannelBindingType: [UInt8]] = [:]
    var encrypted: Bool
    var domain: String?
    private var language = "en"
    var authenticationFailures = 0
    var headerSent = false
    /// A token login found its token close to expiry: issue a new one with the same mechanism.
    var fastTokenToRotate: HTMechanism?
    /// The mechanism of the login under way or last tried; nil when the client named none
    /// Starling offers. Kept for the server's login metrics.
    public internal(set) var loginMechanism: LoginMechanism?

    /// `directTLS` is true for a listener where TLS came first (XEP-0368).
    public init(policy: C2SNegotiationPolicy, directTLS: Bool = false) {
        self.policy = policy
        self.encrypted = directTLS
        self.state = .awaitingStreamHeader(directTLS ? .encrypted : .plaintext)
    }

    /// The full JID once a resource is bound.
    public var boundJID: JID? {
        if case .established(let jid) = self.state { return jid }
        return nil
    }

    public var isAuthenticated: Bool {
        switch self.state {
        case .binding, .inlineBinding, .issuingFASTToken, .established: return true
        case .awaitingStreamHeader(.authenticated), .negotiating(.authenticated): return true
        default: return false
        }
    }

    public var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    // MARK: - Stream header

    public mutating func streamOpened(_ header: StreamHeader, streamID: String) -> [Action] {
        guard case .awaitingStreamHeader(let phase) = self.state else {
            return self.closing(StreamError(.invalidXML, text: "unexpected stream header"))
        }
        var actions: [Action] = []
        var reply = StreamHeader(contentNamespace: XMPPNamespace.client)
        reply.attributes = [Attribute(name: "id", value: streamID), Attribute(name: "version", value: "1.0")]
        if let language = header.language, !language.isEmpty, language.utf8.count <= 35 {
            self.language = language
        }
        reply.attributes.append(Attribute(name: "lang", namespace: XMLNamespace.xml, value: self.language))

        let requestedDomain = header[attribute: "to"].flatMap { try? JID.prepareDomainpart($0) }
        let domain = requestedDomain ?? (header[attribute: "to"] == nil && self.policy.hostedDomains.count == 1 ? self.policy.hostedDomains.first : nil)
        if let domain {
            reply.attributes.insert(Attribute(name: "from", value: domain), at: 0)
        }
        if let from = header[attribute: "from"], let jid = try? JID(from) {
            reply.attributes.append(Attribute(name: "to", value: jid.description))
        }
        actions.append(.sendStreamHeader(reply))
        self.headerSent = true

        // RFC 6120 §4.9.1.1: the header goes out first, then the error.
        if header.name != "stream" || header.namespace != XMPPNamespace.stream {
            return actions + self.closing(StreamError(.invalidNamespace, text: "the stream element must be {\(XMPPNamespace.stream)}stream"))
        }
        if header.contentNamespace != XMPPNamespace.client {
            return actions + self.closing(StreamError(.invalidNamespace, text: "the content namespace must be jabber:client"))
        }
        guard let domain, self.policy.hostedDomains.contains(domain) else {
            return actions + self.closing(StreamError(.hostUnknown, text: "this server does not serve that domain"))
        }
        if let previous = self.domain, previous != domain {
            return actions + self.closing(StreamError(.hostUnknown, text: "the domain changed on a stream restart"))
        }
        guard let version = header[attribute: "version"], let major = version.split(separator: ".").first.flatMap({ Int($0) }), major >= 1
        else {
            return actions + self.closing(StreamError(.unsupportedVersion, text: "XMPP 1.0 (version='1.0') is required"))
        }
        self.domain = domain
        self.state = .negotiating(phase)
        actions.append(.send(self.features(for: phase)))
        return actions
    }

    func features(for phase: Phase) -> Element {
        var features = Element(name: "features", namespace: XMPPNamespace.stream)
        switch phase {
        case .plaintext:
            if self.policy.tlsAvailable {
                var starttls = Element(name: "starttls", namespace: XMPPNamespace.tls)
                if self.policy.tlsRequired {
                    starttls.append(Element(name: "required", namespace: XMPPNamespace.tls))
                }
                features.append(starttls)
            }
            if !self.policy.tlsRequired || !self.policy.tlsAvailable {
                features.append(contentsOf: self.saslFeatures())
            }
        case .encrypted:
            features.append(contentsOf: self.saslFeatures())
            if self.policy.registrationAvailable {
                features.append(Element(name: "register", namespace: "http://jabber.org/features/iq-register"))
            }
            if self.policy.registrationByInvitation {
                features.append(Element(name: "register", namespace: Self.invitationRegistrationFeature))
                // The namespace of XEP-0401's earlier versions: Conversations sends <preauth/>
                // only when it sees this one.
                features.append(Element(name: "register", namespace: Self.legacyInvitationRegistrationFeature))
            }
        case .authenticated:
            features.append(Element(name: "bind", namespace: XMPPNamespace.bind))
            if self.policy.offerLegacySession {
                features.append(Element("session", namespace: XMPPNamespace.session, children: [Element(name: "optional", namespace: XMPPNamespace.session)]))
            }
            if self.policy.streamManagement {
                features.append(Element(name: "sm", namespace: StreamManagementNamespace.v3))
            }
            features.append(Element(name: "csi", namespace: Self.csiNamespace))
            for feature in self.policy.authenticatedFeatures {
                features.append(feature)
            }
        }
        if let limits = self.policy.streamLimits {
            let authenticated = if case .authenticated = phase { true } else { false }
            features.append(limits.element(authenticated: authenticated))
        }
        return features
    }

    func offeredMechanisms() -> [SASLMechanismName] {
        self.policy.mechanisms.filter { mechanism in
            if mechanism == .plain { return self.encrypted }
            if mechanism.usesChannelBinding { return self.encrypted && !self.channelBinding.isEmpty }
            return self.encrypted || !self.policy.tlsRequired
        }
    }

    private func saslFeatures() -> [Element] {
        let mechanisms = self.offeredMechanisms()
        guard !mechanisms.isEmpty else { return [] }
        var result = [
            Element(
                "mechanisms", namespace: XMPPNamespace.sasl,
                children: mechanisms.map { Element("mechanism", namespace: XMPPNamespace.sasl, text: $0.rawValue) })
        ]
        if mechanisms.contains(where: \.usesChannelBinding) {
            // XEP-0440: which channel-binding types this server supports.
            let types = self.channelBinding.keys.sorted { $0.rawValue < $1.rawValue }
            result.append(
                Element(
                    "sasl-channel-binding", namespace: XMPPNamespace.saslChannelBinding,
                    children: types.map { Element("channel-binding", namespace: XMPPNamespace.saslChannelBinding, attributes: [("type", $0.rawValue)]) }))
        }
        if self.policy.sasl2 {
            result.append(self.sasl2Feature(mechanisms: mechanisms))
        }
        return result
    }

    // MARK: - Elements

    public mutating func elementReceived(_ element: Element) -> [Action] {
        switch self.state {
        case .awaitingStreamHeader, .closed:
            return self.closing(StreamError(.invalidXML))
        case .awaitingTLS:
            // The parser was reset when <proceed/> went out; nothing can arrive in plaintext.
            return self.closing(StreamError(.policyViolation, text: "data after <starttls/>"))
        case .negotiating(let phase):
            return self.negotiate(element, phase: phase)
        case .authenticating(let exchange, let profile):
            return self.continueSASL(element, exchange: exchange, profile: profile)
        case .binding, .inlineBinding, .issuingFASTToken:
            return self.closing(StreamError(.policyViolation, text: "wait for the bind result"))
        case .sasl2Task(let step):
            return self.sasl2TaskElement(element, step: step)
        case .established(let jid):
            return self.established(element, jid: jid)
        }
    }

    private mutating func negotiate(_ element: Element, phase: Phase) -> [Action] {
        switch (element.namespace, element.name, phase) {
        case (XMPPNamespace.tls, "starttls", .plaintext):
            guard self.policy.tlsAvailable else {
                return [.send(Element(name: "failure", namespace: XMPPNamespace.tls))] + self.closing(nil)
            }
            self.state = .awaitingTLS
            // After <proceed/> both sides start a new stream over TLS: an error from here on
            // needs a new header first.
            self.headerSent = false
            return [.send(Element(name: "proceed", namespace: XMPPNamespace.tls)), .startTLS]
        case (XMPPNamespace.sasl, "auth", .plaintext), (XMPPNamespace.sasl, "auth", .encrypted):
            return self.startSASL(mechanismName: element[attribute: "mechanism"], initial: Self.decodeSASLPayload(element.text), profile: .rfc6120)
        case (SASL2.namespace, "authenticate", .plaintext), (SASL2.namespace, "authenticate", .encrypted):
            guard self.policy.sasl2 else { return self.closing(StreamError(.unsupportedStanzaType)) }
            return self.startSASL2(element)
        case (SASL2.namespace, "authenticate", .authenticated):
            // XEP-0388 §3.8: after <success/>, another <authenticate/> is a stream error.
            return self.closing(StreamError(.policyViolation, text: "already authenticated"))
        case (XMPPNamespace.client, "iq", .encrypted)
        where element.id != nil
            && ((self.policy.registrationAvailable && element.iqPayload?.namespace == "jabber:iq:register")
                || (self.policy.registrationByInvitation && element.iqPayload?.namespace == Self.preauthNamespace)):
            var request = element
            request[attribute: "from"] = nil
            return [.register(request)]
        case (StreamManagementNamespace.v3, "resume", .authenticated(let account, _)) where self.policy.streamManagement:
            guard let previd = element[attribute: "previd"], let h = element[attribute: "h"].flatMap(UInt32.init) else {
                return [.send(StreamManagementNamespace.failed(.badRequest))]
            }
            self.state = .binding(account: account)
            self.resuming = true
            return [.resumeSession(previd: previd, h: h, account: account)]
        case (StreamManagementNamespace.v3, "enable", .authenticated):
            return [.send(StreamManagementNamespace.failed(.unexpectedRequest))]
        case (XMPPNamespace.client, "iq", .authenticated(let account, _)):
            guard element.stanzaType == "set", let bind = element.child(named: "bind", namespace: XMPPNamespace.bind) else {
                if element.child(named: "session", namespace: XMPPNamespace.session) != nil {
                    return [.send(element.errorReply(StanzaError(.notAllowed, text: "bind a resource first")))]
                }
                return self.closing(StreamError(.notAuthorized, text: "bind a resource first"))
            }
            let requested = bind.child(named: "resource", namespace: XMPPNamespace.bind)?.text
            self.pendingBindID = element.id
            self.state = .binding(account: account)
            return [.bindResource(requested: requested?.isEmpty == true ? nil : requested, account: account)]
        case (_, _, .plaintext) where self.policy.tlsRequired && element.namespace == XMPPNamespace.sasl:
            return [.send(SASLFailure.encryptionRequired.element)]
        default:
            if element.namespace == XMPPNamespace.client {
                return self.closing(StreamError(.notAuthorized, text: "authenticate and bind a resource first"))
            }
            return self.closing(StreamError(.unsupportedStanzaType))
        }
    }

    private var pendingBindID: String?

    // SASL state: the exchange itself lives in `state`; these span its attempts (C2SStreamStateMachine+SASL).
    var scramFirstReceived = false
    var scramUsername: String?
    /// Requests refused before any password was checked, allowed on one stream before it is
    /// closed: enough for a client that tries each mechanism it knows in turn.
    static let maxRefusedRequests = 12
    var refusedRequests = 0
    /// Invitation tokens (`<preauth/>`, XEP-0445) refused on one stream before it is closed: a
    /// person mistypes one or two; more is someone trying tokens.
    static let maxRefusedInvitations = 5
    var refusedInvitations = 0

    /// The server's answer to a registration or `<preauth/>` request (`.register`): sent, and a
    /// stream that keeps presenting tokens that are refused is closed.
    public mutating func registrationAnswered(_ reply: Element, to request: Element) -> [Action] {
        // Only tokens that do not exist or have expired count; a server fault does not.
        let condition = reply.stanzaType == "error" ? StanzaError(stanza: reply)?.condition : nil
        guard request.iqPayload?.namespace == Self.preauthNamespace, condition == .itemNotFound || condition == .gone else { return [.send(reply)] }
        self.refusedInvitations += 1
        guard self.refusedInvitations >= Self.maxRefusedInvitations else { return [.send(reply)] }
        return [.send(reply)] + self.closing(StreamError(.policyViolation, text: "too many invitation tokens refused"))
    }

    // MARK: - TLS

    /// The TLS handshake finished; the client now sends a new stream header.
    public mutating func tlsEstablished(channelBinding: [ChannelBindingType: [UInt8]]) -> [Action] {
        self.encrypted = true
        self.channelBinding = channelBinding
        self.headerSent = false
        if case .awaitingTLS = self.state {
            self.state = .awaitingStreamHeader(.encrypted)
        } else if case .awaitingStreamHeader(.encrypted) = self.state {
            // Direct TLS: the header has not arrived yet.
        }
        return []
    }

    public var isEncrypted: Bool { self.encrypted }

    /// The hosted domain this stream was opened to.
    public var streamDomain: String? { self.domain }

    // MARK: - Binding

    public mutating func resourceBound(_ jid: JID) -> [Action] {
        guard case .binding = self.state else { return [] }
        self.state = .established(jid)
        var result = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "result")])
        if let id = self.pendingBindID { result[attribute: "id"] = id }
        result.append(Element("bind", namespace: XMPPNamespace.bind, children: [Element("jid", namespace: XMPPNamespace.bind, text: jid.description)]))
        self.pendingBindID = nil
        return [.send(result)]
    }

    public mutating func bindFailed(_ error: StanzaError) -> [Action] {
        guard case .binding(let account) = self.state else { return [] }
        self.state = .negotiating(.authenticated(account: account, encrypted: self.encrypted))
        var request = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set")])
        if let id = self.pendingBindID { request[attribute: "id"] = id }
        self.pendingBindID = nil
        return [.send(request.errorReply(error))]
    }

    // MARK: - Established stream

    private static let iqTypes: Set<String> = ["get", "set", "result", "error"]

    private var resuming = false
    var managementEnabled = false

    /// The detached session was taken over; the stream now carries it.
    public mutating func resumed(_ jid: JID) -> [Action] {
        guard case .binding = self.state, self.resuming else { return [] }
        self.resuming = false
        self.managementEnabled = true
        self.state = .established(jid)
        return []
    }

    /// The client acknowledged more stanzas than it was sent (XEP-0198 §4).
    public mutating func acknowledgementRejected(h: UInt32) -> [Action] {
        guard !self.isClosed else { return [] }
        let condition = Element("handled-count-too-high", namespace: StreamManagementNamespace.v3, attributes: [("h", String(h))])
        return self.closing(StreamError(.undefinedCondition, text: "acknowledged more stanzas than were sent", applicationCondition: condition))
    }

    /// No session to resume: the client may bind a new one.
    public mutating func resumeFailed() -> [Action] {
        guard case .binding(let account) = self.state, self.resuming else { return [] }
        self.resuming = false
        self.state = .negotiating(.authenticated(account: account, encrypted: self.encrypted))
        return [.send(StreamManagementNamespace.failed(.itemNotFound))]
    }

    private mutating func streamManagement(_ element: Element) -> [Action] {
        guard self.policy.streamManagement else { return self.closing(StreamError(.unsupportedStanzaType)) }
        switch element.name {
        case "enable":
            guard !self.managementEnabled else { return [.send(StreamManagementNamespace.failed(.unexpectedRequest))] }
            self.managementEnabled = true
            let resume = element[attribute: "resume"] == "true" || element[attribute: "resume"] == "1"
            return [.enableStreamManagement(resume: resume)]
        case "r":
            guard self.managementEnabled else { return self.closing(StreamError(.unsupportedStanzaType, text: "enable stream management first")) }
            return [.acknowledgeHandled]
        case "a":
            guard self.managementEnabled, let h = element[attribute: "h"].flatMap(UInt32.init) else {
                return self.closing(StreamError(.unsupportedStanzaType, text: "<a/> needs an 'h' and enabled stream management"))
            }
            return [.acknowledged(h)]
        default:
            return self.closing(StreamError(.unsupportedStanzaType))
        }
    }

    static let csiNamespace = "urn:xmpp:csi:0"
    /// XEP-0445's stream feature, and XEP-0379's element that carries an invitation's token.
    public static let invitationRegistrationFeature = "urn:xmpp:ibr-token:0"
    public static let legacyInvitationRegistrationFeature = "urn:xmpp:invite"
    public static let preauthNamespace = "urn:xmpp:pars:0"

    private mutating func established(_ element: Element, jid: JID) -> [Action] {
        if element.namespace == StreamManagementNamespace.v3 {
            return self.streamManagement(element)
        }
        if element.namespace == Self.csiNamespace && (element.name == "active" || element.name == "inactive") {
            return [.clientState(active: element.name == "active")]
        }
        guard let kind = element.stanzaKind, element.namespace == XMPPNamespace.client else {
            if element.namespace == SASL2.namespace || element.namespace == XMPPNamespace.sasl {
                // XEP-0388 §3.8 (and RFC 6120 §6.4.1): no second authentication on a stream.
                return self.closing(StreamError(.policyViolation, text: "already authenticated"))
            }
            return self.closing(StreamError(.unsupportedStanzaType, text: "unknown top-level element"))
        }
        var stanza = element
        // RFC 6120 §8.1.2.1: a 'from' must be the session's own address, or is stamped.
        if let from = element[attribute: "from"] {
            guard let claimed = try? JID(from), claimed == jid || claimed == jid.bare else {
                return self.closing(StreamError(.invalidFrom, text: "'from' does not match the authenticated address"))
            }
        }
        stanza[attribute: "from"] = jid.description
        if let to = element[attribute: "to"] {
            guard let parsed = try? JID(to) else {
                if element.isErrorStanza { return [] }
                var bounced = element
                bounced[attribute: "to"] = nil
                bounced[attribute: "from"] = nil
                return [.send(bounced.errorReply(StanzaError(.jidMalformed)))]
            }
            stanza[attribute: "to"] = parsed.description
        }
        if kind == .iq {
            guard let type = element.stanzaType, Self.iqTypes.contains(type), element.id != nil else {
                if element.isErrorStanza { return [] }
                var reply = element.errorReply(StanzaError(.badRequest))
                reply[attribute: "from"] = nil
                reply[attribute: "to"] = nil
                return [.send(reply)]
            }
            if (type == "get" || type == "set") && element.iqPayload == nil {
                var reply = element.errorReply(StanzaError(.badRequest, text: "an IQ get or set carries exactly one child"))
                reply[attribute: "to"] = nil
                return [.send(reply)]
            }
            if type == "set", element.to == nil || element.to == jid.domain,
                element.iqPayload?.name == "session", element.iqPayload?.namespace == XMPPNamespace.session
            {
                var result = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "result")])
                if let id = element.id { result[attribute: "id"] = id }
                return [.send(result)]
            }
        }
        return [.route(stanza)]
    }

    // MARK: - Closing

    /// The peer closed its stream (`</stream:stream>`).
    public mutating func streamClosed() -> [Action] {
        guard !self.isClosed else { return [] }
        return self.closing(nil)
    }

    /// The parser rejected the input.
    public mutating func parseFailed(_ error: XMLStreamError) -> [Action] {
        guard !self.isClosed else { return [] }
        return self.headerIfNotSent() + self.closing(StreamError(error.condition, text: error.detail))
    }

    /// RFC 6120 §4.9.1.2: an error before our header (a new stream, or one restarted after
    /// TLS or SASL) still goes out after a header, or the client cannot read it.
    private mutating func headerIfNotSent() -> [Action] {
        guard !self.headerSent else { return [] }
        var reply = StreamHeader(contentNamespace: XMPPNamespace.client)
        reply.attributes = [Attribute(name: "version", value: "1.0")]
        if let domain = self.domain ?? (self.policy.hostedDomains.count == 1 ? self.policy.hostedDomains.first : nil) {
            reply.attributes.insert(Attribute(name: "from", value: domain), at: 0)
        }
        self.headerSent = true
        return [.sendStreamHeader(reply)]
    }

    /// A stream the server will not serve (too many unauthenticated connections): the header
    /// goes out first, as RFC 6120 §4.9.1.1 asks, then the error; no features are offered.
    public mutating func streamRefused(_ header: StreamHeader, streamID: String, condition: StreamErrorCondition) -> [Action] {
        let opened = self.streamOpened(header, streamID: streamID)
        guard !self.isClosed else { return opened }
        let headerOnly = opened.filter { if case .sendStreamHeader = $0 { true } else { false } }
        return headerOnly + self.closing(StreamError(condition))
    }

    /// The server is stopping, or another session took this one's place.
    public mutating func shutdown(_ condition: StreamErrorCondition) -> [Action] {
        guard !self.isClosed else { return [] }
        return self.headerIfNotSent() + self.closing(StreamError(condition))
    }

    mutating func closing(_ error: StreamError?) -> [Action] {
        self.state = .closed
        return [.close(error)]
    }
}

/// XEP-0198 names and failure elements.
public enum StreamManagementNamespace {
    public static let v3 = "urn:xmpp:sm:3"

    /// `<a h='…'/>`: how many stanzas the sender has handled.
    public static func answer(h: UInt32) -> Element {
        Element("a", namespace: v3, attributes: [("h", String(h))])
    }

    /// `<r/>`: asks the other side how many it has handled.
    public static let request = Element(name: "r", namespace: v3)

    public static func failed(_ condition: StanzaErrorCondition) -> Element {
        Element("failed", namespace: v3, children: [Element(name: condition.rawValue, namespace: XMPPNamespace.stanzaErrors)])
    }
}

/// A login mechanism a client chose: a password one (SASL, SASL2) or a XEP-0484 token one.
public enum LoginMechanism: Sendable, Hashable {
    case sasl(SASLMechanismName)
    case fast(HTMechanism)

    public static let allCases: [LoginMechanism] = SASLMechanismName.allCases.map(Self.sasl) + HTMechanism.allCases.map(Self.fast)

    public var name: String {
        switch self {
        case .sasl(let mechanism): mechanism.rawValue
        case .fast(let mechanism): mechanism.rawValue
        }
    }
}
