import XMPPCore
import XMPPSASL

/// XEP-0484 (Fast Authentication Streamlining Tokens) elements inside SASL2: the `<fast/>`
/// feature, `<request-token/>` and `<fast/>` in `<authenticate/>`, `<token/>` in `<success/>`.
/// Pure values, no state.
public enum FAST {
    public static let namespace = "urn:xmpp:fast:0"

    /// What an `<authenticate/>` says about tokens.
    public struct Request: Sendable, Hashable {
        /// `<request-token mechanism='…'/>`: the mechanism named, as sent (checked against the
        /// offered ones by the machine).
        public var requestedMechanism: String?
        /// `<fast count='…'/>`: must grow from one use of a token to the next.
        public var count: Int?
        /// `<fast invalidate='true'/>`: revoke the token used once the login succeeds.
        public var invalidate: Bool

        public init(requestedMechanism: String? = nil, count: Int? = nil, invalidate: Bool = false) {
            self.requestedMechanism = requestedMechanism
            self.count = count
            self.invalidate = invalidate
        }
    }

    /// Reads the FAST children of `<authenticate/>`; a `count` that is not a number is
    /// `malformed-request`, as is a `<request-token/>` without a mechanism.
    static func parse(_ authenticate: Element) -> Result<Request, SASLFailure> {
        var request = Request()
        if let requestToken = authenticate.child(named: "request-token", namespace: Self.namespace) {
            guard let mechanism = requestToken[attribute: "mechanism"], !mechanism.isEmpty else { return .failure(.malformedRequest) }
            request.requestedMechanism = mechanism
        }
        if let fast = authenticate.child(named: "fast", namespace: Self.namespace) {
            if let count = fast[attribute: "count"] {
                guard let value = Int(count), value >= 0 else { return .failure(.malformedRequest) }
                request.count = value
            }
            request.invalidate = fast[attribute: "invalidate"] == "true" || fast[attribute: "invalidate"] == "1"
        }
        return .success(request)
    }

    /// `<fast/>` for SASL2's `<inline/>`. No `tls-0rtt`: swift-nio-ssl accepts no early data.
    public static func feature(mechanisms: [HTMechanism]) -> Element {
        Element("fast", namespace: Self.namespace, children: mechanisms.map { Element("mechanism", namespace: Self.namespace, text: $0.rawValue) })
    }

    /// `<token/>` for `<success/>`.
    public static func tokenElement(_ token: IssuedToken) -> Element {
        Element("token", namespace: Self.namespace, attributes: [("expiry", token.expiry), ("token", token.token)])
    }

    /// A token the stream issued and stored, for the machine to put into `<success/>`.
    public struct IssuedToken: Sendable, Hashable, CustomStringConvertible {
        public var token: String
        /// XEP-0082 date-time (the machine reads no clock and formats no dates).
        public var expiry: String

        public init(token: String, expiry: String) {
            self.token = token
            self.expiry = expiry
        }

        public var description: String { "IssuedToken(expiry: \(self.expiry))" }
    }

    /// What the stream is asked to issue after a successful login.
    public struct TokenIssue: Sendable, Hashable {
        public var account: JID
        public var userAgentID: String
        public var mechanism: HTMechanism
    }
}
