import XMPPCore

/// XEP-0478: the limits a server enforces on what it reads, told to the client in the stream
/// features so that it can avoid them (an avatar too big for the stanza limit, a connection
/// idle past the point where the server checks on it) instead of meeting a stream error.
public struct StreamLimits: Sendable, Hashable {
    public static let namespace = "urn:xmpp:stream-limits:0"

    /// The largest stanza read before and after authentication.
    public var maxBytesBeforeAuthentication: Int
    public var maxBytes: Int
    /// Silence after which the server checks the stream (XEP-0199 ping); nil when it never does.
    public var idleSeconds: Int?

    public init(maxBytesBeforeAuthentication: Int, maxBytes: Int, idleSeconds: Int?) {
        self.maxBytesBeforeAuthentication = maxBytesBeforeAuthentication
        self.maxBytes = maxBytes
        self.idleSeconds = idleSeconds
    }

    /// The `<limits/>` feature for a stream before or after authentication.
    public func element(authenticated: Bool) -> Element {
        var limits = Element(
            "limits", namespace: Self.namespace,
            children: [Element("max-bytes", namespace: Self.namespace, text: String(authenticated ? self.maxBytes : self.maxBytesBeforeAuthentication))])
        if let idleSeconds { limits.append(Element("idle-seconds", namespace: Self.namespace, text: String(idleSeconds))) }
        return limits
    }
}
