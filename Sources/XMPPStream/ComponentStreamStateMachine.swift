import Crypto
import XMPPCore

public enum ComponentNamespace {
    /// XEP-0114: the content namespace of a stream a component opens to a server.
    public static let accept = "jabber:component:accept"
}

/// What the server knows about the components it accepts: each domain's shared secret.
public struct ComponentPolicy: Sendable {
    public var secrets: [String: String]

    public init(secrets: [String: String]) {
        self.secrets = secrets
    }
}

/// XEP-0114 (Jabber Component Protocol) from the server's side, as a pure state machine: the
/// component opens a stream to its own domain, proves the shared secret with
/// SHA-1(stream id + secret), and then sends and receives stanzas from that domain.
public struct ComponentStreamStateMachine: Sendable {
    public enum Action: Sendable, Hashable {
        case sendStreamHeader(StreamHeader)
        case send(Element)
        /// The handshake verified: the handler claims the domain for this stream and answers
        /// with `domainClaimed()` or `domainTaken()`.
        case claimDomain(String)
        /// A stanza from the component, relabelled to `jabber:client` for the router.
        case route(Element)
        case close(StreamError?)
    }

    private enum State: Sendable, Hashable {
        case awaitingHeader
        case awaitingHandshake(domain: String, streamID: String)
        case claiming(domain: String)
        case established(domain: String)
        case closed
    }

    public let policy: ComponentPolicy
    private var state = State.awaitingHeader

    public init(policy: ComponentPolicy) {
        self.policy = policy
    }

    public var isClosed: Bool { self.state == .closed }

    /// The component's domain once the handshake succeeded and the domain is claimed.
    public var domain: String? {
        if case .established(let domain) = self.state { return domain }
        return nil
    }

    public mutating func streamOpened(_ header: StreamHeader, streamID: String) -> [Action] {
        guard self.state == .awaitingHeader else { return self.closing(StreamError(.invalidXML)) }
        let domain = header[attribute: "to"].flatMap { try? JID.prepareDomainpart($0) }
        var reply = StreamHeader(contentNamespace: ComponentNamespace.accept)
        reply.attributes = [Attribute(name: "id", value: streamID)]
        if let domain { reply.attributes.insert(Attribute(name: "from", value: domain), at: 0) }
        let actions: [Action] = [.sendStreamHeader(reply)]
        guard header.name == "stream", header.namespace == XMPPNamespace.stream, header.contentNamespace == ComponentNamespace.accept else {
            return actions + self.closing(StreamError(.invalidNamespace))
        }
        guard let domain, self.policy.secrets[domain] != nil else {
            return actions + self.closing(StreamError(.hostUnknown, text: "no component is configured for this domain"))
        }
        self.state = .awaitingHandshake(domain: domain, streamID: streamID)
        return actions
    }

    public mutating func elementReceived(_ element: Element) -> [Action] {
        switch self.state {
        case .awaitingHandshake(let domain, let streamID):
            return self.handshake(element, domain: domain, streamID: streamID)
        case .established(let domain):
            return self.stanza(element, domain: domain)
        case .claiming:
            preconditionFailure("input is paused while the domain is claimed")
        case .awaitingHeader, .closed:
            return self.closing(StreamError(.invalidXML))
        }
    }

    private mutating func handshake(_ element: Element, domain: String, streamID: String) -> [Action] {
        guard element.name == "handshake", element.namespace == ComponentNamespace.accept else {
            return self.closing(StreamError(.notAuthorized, text: "send the handshake first"))
        }
        guard let secret = self.policy.secrets[domain],
            Self.digestsMatch(element.text.trimmingCharacters(in: " \t\r\n"), Self.expectedDigest(streamID: streamID, secret: secret))
        else {
            return self.closing(StreamError(.notAuthorized, text: "the handshake does not match the shared secret"))
        }
        self.state = .claiming(domain: domain)
        return [.claimDomain(domain)]
    }

    public mutating func domainClaimed() -> [Action] {
        guard case .claiming(let domain) = self.state else { preconditionFailure("no domain is being claimed") }
        self.state = .established(domain: domain)
        return [.send(Element(name: "handshake", namespace: ComponentNamespace.accept))]
    }

    /// Another stream already serves the domain (XEP-0114 §3: `<conflict/>`).
    public mutating func domainTaken() -> [Action] {
        guard case .claiming = self.state else { preconditionFailure("no domain is being claimed") }
        return self.closing(StreamError(.conflict, text: "another connection serves this domain"))
    }

    private mutating func stanza(_ element: Element, domain: String) -> [Action] {
        guard element.namespace == ComponentNamespace.accept, ["message", "presence", "iq"].contains(element.name) else {
            return self.closing(StreamError(.unsupportedStanzaType))
        }
        guard let from = element.from, from.domainpart == domain else {
            return self.closing(StreamError(.invalidFrom, text: "stanzas must come from \(domain) or a JID in it"))
        }
        guard element.to != nil else { return self.closing(StreamError(.improperAddressing)) }
        return [.route(element.relabeling(namespace: ComponentNamespace.accept, to: XMPPNamespace.client))]
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

    /// XEP-0114 §3: lower-case hex SHA-1 of the stream id followed by the secret.
    public static func expectedDigest(streamID: String, secret: String) -> String {
        Base16.encode(Insecure.SHA1.hash(data: Array((streamID + secret).utf8)))
    }

    /// Compared in time independent of where they differ.
    private static func digestsMatch(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.lowercased().utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        return String(self.drop { characters.contains($0) }.reversed().drop { characters.contains($0) }.reversed())
    }
}
