import XMPPCore
import XMPPSASL

/// How a peer proved a domain.
public enum AuthenticationMethod: String, Sendable, Hashable {
    case saslExternal = "sasl-external"
    case dialback
    case dialbackWithCertificate = "dialback+certificate"
}

public enum S2SNamespace {
    public static let dialback = "jabber:server:dialback"
    public static let dialbackFeature = "urn:xmpp:features:dialback"
}

/// Policy for streams other servers open to us.
public struct S2SInboundPolicy: Sendable {
    public var hostedDomains: Set<String>
    public var tlsAvailable: Bool
    public var tlsRequired: Bool
    public var dialbackAllowed: Bool

    public init(hostedDomains: Set<String>, tlsAvailable: Bool = true, tlsRequired: Bool = true, dialbackAllowed: Bool = true) {
        self.hostedDomains = hostedDomains
        self.tlsAvailable = tlsAvailable
        self.tlsRequired = tlsRequired
        self.dialbackAllowed = dialbackAllowed
    }
}

/// A stream another server opened to us (RFC 6120 §4–§6 with `jabber:server`), authenticated
/// by SASL EXTERNAL with the peer's certificate or by Server Dialback (XEP-0220), as a pure
/// state machine.
public struct S2SInboundStateMachine: Sendable {
    public enum Action: Sendable, Hashable {
        case sendStreamHeader(StreamHeader)
        case send(Element)
        case startTLS
        case restartStream
        /// Ask the authoritative server of `from` whether `key` is right (XEP-0220 §2.3).
        case verifyDialbackKey(from: String, to: String, key: String, streamID: String)
        /// A peer asks us, the authoritative server, about a key we issued (XEP-0220 §2.4).
        case answerDialbackVerify(from: String, to: String, id: String, key: String)
        /// The peer may now send stanzas from this domain.
        case authenticated(domain: String, method: AuthenticationMethod)
        case route(Element)
        case close(StreamError?)
    }

    private enum Phase: Sendable, Hashable {
        case plaintext, encrypted, saslAuthenticated
    }

    private enum State: Sendable {
        case awaitingHeader(Phase)
        case open(Phase)
        case awaitingTLS
        case closed
    }

    public let policy: S2SInboundPolicy
    private var state: State
    private var encrypted: Bool
    private var streamID = ""
    private var localDomain: String?
    private var headerFrom: String?
    /// What the peer's certificate proves (set by the handler after TLS).
    private var certificate = CertificateIdentity.none
    /// Domains the peer may send from on this stream.
    public private(set) var authenticatedDomains: Set<String> = []

    public init(policy: S2SInboundPolicy, directTLS: Bool = false) {
        self.policy = policy
        self.encrypted = directTLS
        self.state = .awaitingHeader(directTLS ? .encrypted : .plaintext)
    }

    public var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    public mutating func tlsEstablished(certificate: CertificateIdentity) -> [Action] {
        self.encrypted = true
        self.certificate = certificate
        if case .awaitingTLS = self.state { self.state = .awaitingHeader(.encrypted) }
        return []
    }


    public mutating func streamOpened(_ header: StreamHeader, streamID: String) -> [Action] {
        guard case .awaitingHeader(let phase) = self.state else { return self.closing(StreamError(.invalidXML)) }
        self.streamID = streamID
        let to = header[attribute: "to"].flatMap { try? JID.prepareDomainpart($0) }
        self.headerFrom = header[attribute: "from"].flatMap { try? JID.prepareDomainpart($0) }
        var reply = StreamHeader(contentNamespace: XMPPNamespace.server, declaredPrefixes: ["db": S2SNamespace.dialback])
        reply.attributes = [Attribute(name: "id", value: streamID), Attribute(name: "version", value: "1.0")]
        if let to { reply.attributes.insert(Attribute(name: "from", value: to), at: 0) }
        if let from = self.headerFrom { reply.attributes.append(Attribute(name: "to", value: from)) }
        let actions: [Action] = [.sendStreamHeader(reply)]
        guard header.name == "stream", header.namespace == XMPPNamespace.stream, header.contentNamespace == XMPPNamespace.server else {
            return actions + self.closing(StreamError(.invalidNamespace))
        }
        guard let to, self.policy.hostedDomains.contains(to) else {
            return actions + self.closing(StreamError(.hostUnknown))
        }
        self.localDomain = to
        // Pre-1.0 peers (no version) can only do dialback without features.
        let versioned = header[attribute: "version"].flatMap { $0.split(separator: ".").first.flatMap { Int($0) } }.map { $0 >= 1 } ?? false
        self.state = .open(phase)
        guard versioned else {
            guard self.policy.dialbackAllowed, !self.policy.tlsRequired else {
                return actions + self.closing(StreamError(.unsupportedVersion))
            }
            return actions
        }
        return actions + [.send(self.features(phase))]
    }

    private func features(_ phase: Phase) -> Element {
        var features = Element(name: "features", namespace: XMPPNamespace.stream)
        if phase == .plaintext && self.policy.tlsAvailable {
            var starttls = Element(name: "starttls", namespace: XMPPNamespace.tls)
            if self.policy.tlsRequired { starttls.append(Element(name: "required", namespace: XMPPNamespace.tls)) }
            features.append(starttls)
        }
        let mayAuthenticate = self.encrypted || !self.policy.tlsRequired
        if phase != .saslAuthenticated && self.encrypted, let from = self.headerFrom, self.certificate.covers(from) {
            features.append(Element("mechanisms", namespace: XMPPNamespace.sasl, children: [Element("mechanism", namespace: XMPPNamespace.sasl, text: "EXTERNAL")]))
        }
        if mayAuthenticate && self.policy.dialbackAllowed {
            features.append(Element("dialback", namespace: S2SNamespace.dialbackFeature, children: [Element(name: "errors", namespace: S2SNamespace.dialbackFeature)]))
        }
        return features
    }

    public mutating func elementReceived(_ element: Element) -> [Action] {
        guard case .open(let phase) = self.state else {
            if case .awaitingTLS = self.state { return self.closing(StreamError(.policyViolation)) }
            return self.closing(StreamError(.invalidXML))
        }
        switch (element.namespace, element.name) {
        case (XMPPNamespace.tls, "starttls"):
            guard phase == .plaintext, self.policy.tlsAvailable else {
                return [.send(Element(name: "failure", namespace: XMPPNamespace.tls))] + self.closing(nil)
            }
            self.state = .awaitingTLS
            return [.send(Element(name: "proceed", namespace: XMPPNamespace.tls)), .startTLS]
        case (XMPPNamespace.sasl, "auth"):
            return self.external(element, phase: phase)
        case (S2SNamespace.dialback, "result"):
            return self.dialbackResult(element)
        case (S2SNamespace.dialback, "verify"):
            guard let from = element[attribute: "from"], let to = element[attribute: "to"], let id = element[attribute: "id"] else {
                return self.closing(StreamError(.invalidXML, text: "db:verify needs from, to and id"))
            }
            guard self.policy.hostedDomains.contains(to) else { return self.closing(StreamError(.hostUnknown)) }
            return [.answerDialbackVerify(from: from, to: to, id: id, key: element.text)]
        default:
            return self.stanza(element)
        }
    }

    private mutating func external(_ element: Element, phase: Phase) -> [Action] {
        guard phase == .encrypted, element[attribute: "mechanism"] == "EXTERNAL" else {
            return [.send(SASLFailure.invalidMechanism.element)]
        }
        let text = element.text.filter { !$0.isWhitespace }
        var claimed = self.headerFrom
        if !text.isEmpty && text != "=" {
            guard let decoded = Base64.decode(text), let identity = String(validating: decoded, as: UTF8.self) else {
                return [.send(SASLFailure.incorrectEncoding.element)]
            }
            claimed = try? JID.prepareDomainpart(identity)
        }
        guard let claimed, self.certificate.covers(claimed) else {
            return [.send(SASLFailure.notAuthorized.element)] + self.closing(nil)
        }
        self.authenticatedDomains.insert(claimed)
        self.state = .awaitingHeader(.saslAuthenticated)
        return [.send(Element(name: "success", namespace: XMPPNamespace.sasl)), .authenticated(domain: claimed, method: .saslExternal), .restartStream]
    }

    private mutating func dialbackResult(_ element: Element) -> [Action] {
        guard self.policy.dialbackAllowed else { return self.closing(StreamError(.unsupportedFeature, text: "dialback is disabled")) }
        guard self.encrypted || !self.policy.tlsRequired else { return self.closing(StreamError(.policyViolation, text: "STARTTLS first")) }
        guard let fromText = element[attribute: "from"], let from = try? JID.prepareDomainpart(fromText), let to = element[attribute: "to"] else {
            return self.closing(StreamError(.improperAddressing))
        }
        guard self.policy.hostedDomains.contains(to) else {
            var error = Element("result", namespace: S2SNamespace.dialback, attributes: [("from", to), ("to", from), ("type", "error")])
            error.append(StanzaError(.itemNotFound).element(namespace: S2SNamespace.dialback))
            return [.send(error)]
        }
        // XEP-0344: a certificate that proves the domain makes the round trip unnecessary.
        if self.certificate.covers(from) {
            return self.dialbackVerified(from: from, to: to, valid: true, method: .dialbackWithCertificate)
        }
        return [.verifyDialbackKey(from: from, to: to, key: element.text, streamID: self.streamID)]
    }

    /// The authoritative server answered (or the certificate decided).
    public mutating func dialbackVerified(from: String, to: String, valid: Bool, method: AuthenticationMethod = .dialback) -> [Action] {
        guard !self.isClosed else { return [] }
        let result = Element("result", namespace: S2SNamespace.dialback, attributes: [("from", to), ("to", from), ("type", valid ? "valid" : "invalid")])
        guard valid else {
            return [.send(result)] + self.closing(StreamError(.notAuthorized, text: "the dialback key did not verify"))
        }
        self.authenticatedDomains.insert(from)
        return [.send(result), .authenticated(domain: from, method: method)]
    }

    private mutating func stanza(_ element: Element) -> [Action] {
        guard element.stanzaKind != nil, element.namespace == XMPPNamespace.server else {
            return self.closing(StreamError(.unsupportedStanzaType))
        }
        guard let from = element.from, let to = element.to else { return self.closing(StreamError(.improperAddressing)) }
        guard self.authenticatedDomains.contains(from.domainpart) else {
            return self.closing(StreamError(.invalidFrom, text: "\(from.domainpart) is not authenticated on this stream"))
        }
        guard self.policy.hostedDomains.contains(to.domainpart) else { return self.closing(StreamError(.hostUnknown)) }
        return [.route(element.relabeling(namespace: XMPPNamespace.server, to: XMPPNamespace.client))]
    }

    public mutating func streamClosed() -> [Action] {
        guard !self.isClosed else { return [] }
        return self.closing(nil)
    }

    public mutating func parseFailed(_ error: XMLStreamError) -> [Action] {
        guard !self.isClosed else { return [] }
        return self.closing(StreamError(error.condition, text: error.detail))
    }

    public mutating func shutdown(_ condition: StreamErrorCondition) -> [Action] {
        guard !self.isClosed else { return [] }
        return self.closing(StreamError(condition))
    }

    private mutating func closing(_ error: StreamError?) -> [Action] {
        self.state = .closed
        return [.close(error)]
    }
}

/// The domains a peer's certificate proves: DNS names of a chain that validated against the
/// trust anchors (RFC 6125, wildcards for one label), and domains whose pinned certificate it is.
public struct CertificateIdentity: Sendable, Hashable {
    public var names: [String]
    public var pinnedDomains: Set<String>

    public init(names: [String] = [], pinnedDomains: Set<String> = []) {
        self.names = names.map { $0.lowercased() }
        self.pinnedDomains = pinnedDomains
    }

    public static let none = CertificateIdentity()

    public func covers(_ domain: String) -> Bool {
        if self.pinnedDomains.contains(domain) { return true }
        for name in self.names {
            if name == domain { return true }
            if name.hasPrefix("*."), let dot = domain.firstIndex(of: ".") {
                if domain[domain.index(after: dot)...] == name.dropFirst(2) { return true }
            }
        }
        return false
    }
}
