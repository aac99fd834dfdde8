import XMPPCore
import XMPPSASL

/// A stream we open to another server: STARTTLS, then SASL EXTERNAL, or Server Dialback when
/// EXTERNAL is not possible (XEP-0220), as a pure state machine. The same machine serves the
/// short-lived streams that only carry a `db:verify` question to an authoritative server.
public struct S2SOutboundStateMachine: Sendable {
    public enum Purpose: Sendable, Hashable {
        /// Authenticate `local` to `remote` and then carry stanzas.
        case stanzas
        /// Ask whether `key` is valid for a stream `remote` opened to us (XEP-0220 §2.3).
        case verify(originating: String, streamID: String, key: String)
    }

    public enum Action: Sendable, Hashable {
        case sendStreamHeader(StreamHeader)
        case send(Element)
        case startTLS
        case restartStream
        /// Send `db:result` with the key for this stream ID.
        case sendDialbackKey(streamID: String)
        /// Stanzas may flow now.
        case established
        /// The answer to a `db:verify` question.
        case verified(Bool)
        /// The stream could not be set up; queued stanzas bounce with this condition.
        case failed(StanzaErrorCondition, reason: String)
        case close(StreamError?)
    }

    private enum State: Sendable {
        case connecting
        case awaitingHeader
        case awaitingFeatures
        case awaitingProceed
        case awaitingTLS
        case authenticatingExternal
        case awaitingDialbackResult
        case awaitingVerify
        case established
        case closed
    }

    public let local: String
    public let remote: String
    public let purpose: Purpose
    public let tlsRequired: Bool
    public let dialbackAllowed: Bool
    private var state: State = .connecting
    private var encrypted = false
    private var saslDone = false
    private var externalFailed = false
    private var streamID: String?
    private var versioned = true

    public init(local: String, remote: String, purpose: Purpose = .stanzas, tlsRequired: Bool = true, dialbackAllowed: Bool = true) {
        self.local = local
        self.remote = remote
        self.purpose = purpose
        self.tlsRequired = tlsRequired
        self.dialbackAllowed = dialbackAllowed
    }

    public var isEstablished: Bool {
        if case .established = self.state { return true }
        return false
    }

    private var header: StreamHeader {
        var header = StreamHeader(contentNamespace: XMPPNamespace.server, declaredPrefixes: ["db": S2SNamespace.dialback])
        header.attributes = [Attribute(name: "from", value: self.local), Attribute(name: "to", value: self.remote), Attribute(name: "version", value: "1.0")]
        return header
    }

    public mutating func connected() -> [Action] {
        self.state = .awaitingHeader
        return [.sendStreamHeader(self.header)]
    }

    public mutating func tlsEstablished() -> [Action] {
        self.encrypted = true
        // With direct TLS the header went out already (TLS holds it until the handshake ends).
        guard case .awaitingTLS = self.state else { return [] }
        self.state = .awaitingHeader
        return [.sendStreamHeader(self.header)]
    }

    public mutating func streamOpened(_ header: StreamHeader) -> [Action] {
        guard case .awaitingHeader = self.state else { return self.failing(.remoteServerNotFound, "unexpected stream header") }
        guard header.contentNamespace == XMPPNamespace.server else { return self.failing(.remoteServerNotFound, "the peer does not speak jabber:server") }
        self.streamID = header[attribute: "id"]
        self.versioned = header[attribute: "version"] != nil
        if !self.versioned {
            // A pre-1.0 server sends no features: dialback straight away, if plaintext is allowed.
            guard !self.tlsRequired else { return self.failing(.remoteServerNotFound, "the peer cannot do TLS") }
            return self.authenticateWithDialback()
        }
        self.state = .awaitingFeatures
        return []
    }

    public mutating func elementReceived(_ element: Element) -> [Action] {
        if let error = StreamError(element: element) {
            return self.failing(.remoteServerNotFound, "stream error <\(error.condition.rawValue)/> from the peer")
        }
        switch self.state {
        case .awaitingFeatures:
            guard element.name == "features", element.namespace == XMPPNamespace.stream else {
                return self.failing(.remoteServerNotFound, "expected stream features")
            }
            return self.negotiate(element)
        case .awaitingProceed:
            guard element.name == "proceed", element.namespace == XMPPNamespace.tls else {
                return self.failing(.remoteServerNotFound, "STARTTLS was refused")
            }
            self.state = .awaitingTLS
            return [.startTLS]
        case .authenticatingExternal:
            if element.name == "success" && element.namespace == XMPPNamespace.sasl {
                self.saslDone = true
                self.state = .awaitingHeader
                return [.restartStream, .sendStreamHeader(self.header)]
            }
            self.externalFailed = true
            guard self.dialbackAllowed else { return self.failing(.remoteServerNotFound, "SASL EXTERNAL failed") }
            return self.authenticateWithDialback()
        case .awaitingDialbackResult:
            guard element.name == "result", element.namespace == S2SNamespace.dialback else { return [] }
            guard element[attribute: "type"] == "valid" else {
                return self.failing(.remoteServerNotFound, "the peer did not accept our dialback key")
            }
            self.state = .established
            return [.established]
        case .awaitingVerify:
            guard element.name == "verify", element.namespace == S2SNamespace.dialback else { return [] }
            self.state = .closed
            return [.verified(element[attribute: "type"] == "valid"), .close(nil)]
        case .established:
            // Servers may answer with stanzas on our outbound stream; only errors matter here.
            return []
        default:
            return self.failing(.remoteServerNotFound, "unexpected <\(element.name)/>")
        }
    }

    private mutating func negotiate(_ features: Element) -> [Action] {
        if !self.encrypted, features.child(named: "starttls", namespace: XMPPNamespace.tls) != nil {
            self.state = .awaitingProceed
            return [.send(Element(name: "starttls", namespace: XMPPNamespace.tls))]
        }
        if !self.encrypted && self.tlsRequired {
            return self.failing(.remoteServerNotFound, "the peer does not offer STARTTLS")
        }
        if case .verify(let originating, let streamID, let key) = self.purpose {
            self.state = .awaitingVerify
            let verify = Element(
                "verify", namespace: S2SNamespace.dialback,
                attributes: [("from", self.local), ("to", originating), ("id", streamID)], text: key)
            return [.send(verify)]
        }
        if self.saslDone {
            self.state = .established
            return [.established]
        }
        let mechanisms = features.child(named: "mechanisms", namespace: XMPPNamespace.sasl)?.children(named: "mechanism").map(\.text) ?? []
        if self.encrypted && !self.externalFailed && mechanisms.contains("EXTERNAL") {
            self.state = .authenticatingExternal
            return [.send(Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", "EXTERNAL")], text: Base64.encode(Array(self.local.utf8))))]
        }
        guard self.dialbackAllowed else { return self.failing(.remoteServerNotFound, "no authentication method in common") }
        return self.authenticateWithDialback()
    }

    private mutating func authenticateWithDialback() -> [Action] {
        guard let streamID = self.streamID else { return self.failing(.remoteServerNotFound, "the peer sent no stream ID") }
        if case .verify(let originating, let id, let key) = self.purpose {
            self.state = .awaitingVerify
            return [.send(Element("verify", namespace: S2SNamespace.dialback, attributes: [("from", self.local), ("to", originating), ("id", id)], text: key))]
        }
        self.state = .awaitingDialbackResult
        return [.sendDialbackKey(streamID: streamID)]
    }

    public mutating func streamClosed() -> [Action] {
        switch self.state {
        case .closed: return []
        case .established:
            self.state = .closed
            return [.close(nil)]
        default:
            return self.failing(.remoteServerNotFound, "the peer closed the stream")
        }
    }

    public mutating func connectionFailed(_ reason: String, timedOut: Bool = false) -> [Action] {
        guard !self.isClosed else { return [] }
        return self.failing(timedOut ? .remoteServerTimeout : .remoteServerNotFound, reason)
    }

    public var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    private mutating func failing(_ condition: StanzaErrorCondition, _ reason: String) -> [Action] {
        self.state = .closed
        if case .verify = self.purpose { return [.verified(false), .close(nil)] }
        return [.failed(condition, reason: reason), .close(nil)]
    }
}
