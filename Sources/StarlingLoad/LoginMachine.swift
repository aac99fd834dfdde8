import XMPPCore
import XMPPSASL

/// One simulated client's way from TCP connect to a bound, available session (RFC 6120 §5–7):
/// STARTTLS or direct TLS, SASL PLAIN or SCRAM-SHA-1, resource binding, initial presence; or,
/// for setting up a run, in-band registration (XEP-0077). With `Profile.sasl2` or `.fast` the
/// login is XEP-0388 SASL2 with XEP-0386 Bind 2 (and XEP-0484 tokens), in `LoginMachine+SASL2`.
/// A value type fed with stream events; the channel handler carries out the actions it returns.
struct LoginMachine {
    /// How the client logs in: the round trips a reconnect costs differ between them.
    enum Profile: String, CaseIterable {
        /// RFC 6120: SASL, stream restart, resource binding.
        case rfc6120
        /// SASL2 and Bind 2: the session is bound in the SASL exchange, no restart.
        case sasl2
        /// SASL2 and Bind 2 with a FAST token (HT-SHA-256-NONE) when one is held, else SCRAM
        /// asking for one.
        case fast
    }

    enum Mechanism: String, CaseIterable {
        case scramSHA1 = "SCRAM-SHA-1"
        case plain = "PLAIN"
    }

    enum Security: String, CaseIterable {
        case starttls
        case directTLS = "direct"
    }

    enum Purpose {
        case login
        case register
    }

    enum Action: Equatable {
        case send(String)
        case startTLS
        /// Forget the parser's state: a new stream follows (after TLS or authentication).
        case resetParser
        /// Negotiation is over: send the initial presence, and the session is ready. Every
        /// `send` before it was a request the client waited on (the round trips a login costs).
        case ready(initialPresence: String)
        case registered
        /// The server issued a FAST token (XEP-0484), to be used on the next login.
        case issuedToken(String)
        case failed(String)
    }

    enum Stage {
        case plaintext
        case encrypted
        case authenticated
    }

    enum State {
        case connecting
        case awaitingTLSHandshake
        case awaitingFeatures(Stage)
        case awaitingProceed
        case awaitingRegistration
        case authenticating(SCRAMClient?)
        /// A SASL2 exchange: SCRAM (or PLAIN when nil), or a FAST token whose Responder hash
        /// the success must carry.
        case authenticatingSASL2(SCRAMClient?, fastToken: String?)
        case awaitingBind
        case finished
    }

    let username: String
    let password: String
    let domain: String
    let mechanism: Mechanism
    let security: Security
    let purpose: Purpose
    let resource: String
    let saltedPasswordCache: SCRAMSaltedPasswordCache?
    let profile: Profile
    /// The FAST token to log in with (profile `.fast`); without one the login asks for one.
    let fastToken: String?
    var state = State.connecting

    init(
        username: String, password: String, domain: String, mechanism: Mechanism, security: Security, purpose: Purpose,
        resource: String = "load", saltedPasswordCache: SCRAMSaltedPasswordCache? = nil, profile: Profile = .rfc6120,
        fastToken: String? = nil
    ) {
        self.profile = profile
        self.fastToken = fastToken
        self.username = username
        self.password = password
        self.domain = domain
        self.mechanism = mechanism
        self.security = security
        self.purpose = purpose
        self.resource = resource
        self.saltedPasswordCache = saltedPasswordCache
    }

    var isFinished: Bool {
        if case .finished = self.state { return true }
        return false
    }

    var streamHeader: String {
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='\(self.domain)' version='1.0'>"
    }

    mutating func connected() -> [Action] {
        guard case .connecting = self.state else { return [] }
        switch self.security {
        case .directTLS:
            self.state = .awaitingTLSHandshake
            return []
        case .starttls:
            self.state = .awaitingFeatures(.plaintext)
            return [.send(self.streamHeader)]
        }
    }

    mutating func tlsEstablished() -> [Action] {
        guard case .awaitingTLSHandshake = self.state else { return self.fail("TLS handshake finished out of turn") }
        self.state = .awaitingFeatures(.encrypted)
        return [.resetParser, .send(self.streamHeader)]
    }

    mutating func streamClosed() -> [Action] {
        self.fail("the server closed the stream")
    }

    mutating func received(_ element: Element) -> [Action] {
        if element.name == "error" && element.namespace == XMPPNamespace.stream {
            let condition = element.elements.first { $0.namespace == XMPPNamespace.streamErrors }?.name ?? "unknown"
            return self.fail("stream error <\(condition)/>")
        }
        switch self.state {
        case .awaitingFeatures(let stage) where element.name == "features":
            return self.receivedFeatures(element, stage: stage)
        case .awaitingProceed where element.name == "proceed":
            self.state = .awaitingTLSHandshake
            return [.startTLS]
        case .authenticating(let scram):
            return self.receivedSASL(element, scram: scram)
        case .authenticatingSASL2(let scram, let fastToken):
            return self.receivedSASL2(element, scram: scram, fastToken: fastToken)
        case .awaitingRegistration where element.name == "iq":
            if element.stanzaType == "result" || StanzaError(stanza: element)?.condition == .conflict {
                self.state = .finished
                return [.registered]
            }
            return self.fail("registration refused: \(StanzaError(stanza: element)?.condition.rawValue ?? "no condition")")
        case .awaitingBind where element.name == "iq":
            guard element.stanzaType == "result" else {
                return self.fail("bind refused: \(StanzaError(stanza: element)?.condition.rawValue ?? "no condition")")
            }
            self.state = .finished
            return [.ready(initialPresence: "<presence/>")]
        default:
            return self.fail("unexpected <\(element.name)/> during negotiation")
        }
    }

    private mutating func receivedFeatures(_ features: Element, stage: Stage) -> [Action] {
        switch stage {
        case .plaintext:
            guard features.child(named: "starttls", namespace: XMPPNamespace.tls) != nil else {
                return self.fail("the server offers no STARTTLS")
            }
            self.state = .awaitingProceed
            return [.send("<starttls xmlns='\(XMPPNamespace.tls)'/>")]
        case .encrypted:
            if self.purpose == .register {
                self.state = .awaitingRegistration
                return [
                    .send(
                        "<iq type='set' id='register'><query xmlns='jabber:iq:register'><username>\(self.username)</username><password>\(self.password)</password></query></iq>"
                    )
                ]
            }
            if self.profile != .rfc6120 { return self.authenticateSASL2(features) }
            let offered = features.child(named: "mechanisms", namespace: XMPPNamespace.sasl)?.children(named: "mechanism").map(\.text) ?? []
            guard offered.contains(self.mechanism.rawValue) else {
                return self.fail("the server does not offer \(self.mechanism.rawValue) (offers \(offered.joined(separator: " ")))")
            }
            let (initial, scram) = self.initialPasswordResponse()
            self.state = .authenticating(scram)
            return [.send("<auth xmlns='\(XMPPNamespace.sasl)' mechanism='\(self.mechanism.rawValue)'>\(Base64.encode(initial))</auth>")]
        case .authenticated:
            self.state = .awaitingBind
            return [
                .send(
                    "<iq type='set' id='bind'><bind xmlns='\(XMPPNamespace.bind)'><resource>\(self.resource)</resource></bind></iq>"
                )
            ]
        }
    }

    /// The first SASL message of a password login, and the SCRAM client that continues it.
    func initialPasswordResponse() -> ([UInt8], SCRAMClient?) {
        switch self.mechanism {
        case .plain:
            return (PLAINMessage(username: self.username, password: self.password).bytes, nil)
        case .scramSHA1:
            var client = SCRAMClient(hash: .sha1, username: self.username, password: self.password, saltedPasswordCache: self.saltedPasswordCache)
            return (client.clientFirstMessage(), client)
        }
    }

    private mutating func receivedSASL(_ element: Element, scram: SCRAMClient?) -> [Action] {
        guard element.namespace == XMPPNamespace.sasl else { return self.fail("unexpected <\(element.name)/> during SASL") }
        switch element.name {
        case "challenge":
            guard var client = scram, let challenge = Base64.decode(element.text) else {
                return self.fail("unexpected SASL challenge")
            }
            do {
                let response = try client.receivedServerFirst(challenge)
                self.state = .authenticating(client)
                return [.send("<response xmlns='\(XMPPNamespace.sasl)'>\(Base64.encode(response))</response>")]
            } catch {
                return self.fail("SCRAM: \(error)")
            }
        case "success":
            if var client = scram {
                guard let final = Base64.decode(element.text) else { return self.fail("SCRAM success without server signature") }
                do {
                    try client.receivedServerFinal(final)
                } catch {
                    return self.fail("SCRAM: \(error)")
                }
            }
            self.state = .awaitingFeatures(.authenticated)
            return [.resetParser, .send(self.streamHeader)]
        case "failure":
            return self.fail("authentication failed: \(element.elements.first?.name ?? "no condition")")
        default:
            return self.fail("unexpected <\(element.name)/> during SASL")
        }
    }

    mutating func fail(_ reason: String) -> [Action] {
        let phase = self.phase
        self.state = .finished
        return [.failed("\(reason) (\(phase))")]
    }

    /// Where negotiation stood, for failure reports.
    private var phase: String {
        switch self.state {
        case .connecting: "connecting"
        case .awaitingTLSHandshake: "during the TLS handshake"
        case .awaitingFeatures(let stage): "awaiting \(stage) stream features"
        case .awaitingProceed: "awaiting <proceed/>"
        case .awaitingRegistration: "awaiting the registration result"
        case .authenticating: "during SASL"
        case .authenticatingSASL2(_, let token): token == nil ? "during SASL2" : "during SASL2 with a FAST token"
        case .awaitingBind: "awaiting the bind result"
        case .finished: "finished"
        }
    }
}
