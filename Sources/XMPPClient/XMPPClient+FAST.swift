import XMPPCore
import XMPPSASL
import XMPPStream

/// A XEP-0484 token as the client keeps it. The token is a password-equivalent secret for as
/// long as it is valid: store it like one, and never log it (the description leaves it out).
public struct FASTToken: Sendable, Hashable, CustomStringConvertible {
    public var token: String
    /// The mechanism it was issued for; it works with no other.
    public var mechanism: HTMechanism
    /// XEP-0082 date-time after which the server refuses it.
    public var expiry: String
    /// XEP-0484 `count`: sent when set; raise it for every login with the token.
    public var count: Int?

    public init(token: String, mechanism: HTMechanism, expiry: String, count: Int? = nil) {
        self.token = token
        self.mechanism = mechanism
        self.expiry = expiry
        self.count = count
    }

    public var description: String { "FASTToken(\(self.mechanism.rawValue), expiry: \(self.expiry))" }
}

/// One SASL2 login's FAST side in the client: a token login when a token is configured and
/// usable here, the `<request-token/>` for a password login, and the `<token/>` in `<success/>`.
struct FASTLogin {
    let connection: XMPPConnection
    let configuration: XMPPClientConfiguration
    /// The mechanism a token is asked for in the password login; nil: none is asked for.
    let requested: HTMechanism?
    /// The mechanism the token login used, once it succeeded.
    private(set) var usedMechanism: HTMechanism?

    init(_ connection: XMPPConnection, _ configuration: XMPPClientConfiguration, offered: [HTMechanism]) async throws {
        self.connection = connection
        self.configuration = configuration
        if (configuration.requestFASTToken || configuration.fastToken != nil) && configuration.userAgent?.id == nil {
            throw XMPPClient.LoginError.fastNeedsUserAgentID
        }
        var requested: HTMechanism?
        if configuration.requestFASTToken {
            for mechanism in configuration.fastMechanisms where offered.contains(mechanism) {
                if try await Self.binding(for: mechanism, on: connection) != nil {
                    requested = mechanism
                    break
                }
            }
        }
        self.requested = requested
        self.offered = offered
    }

    private let offered: [HTMechanism]

    /// `<request-token/>` for the password login, when a token is wanted and one is offered.
    var tokenRequest: [Element] {
        guard let requested else { return [] }
        return [Element("request-token", namespace: FAST.namespace, attributes: [("mechanism", requested.rawValue)])]
    }

    /// The channel-binding data a mechanism hashes on this connection; nil when unavailable.
    private static func binding(for mechanism: HTMechanism, on connection: XMPPConnection) async throws -> [UInt8]? {
        guard let type = mechanism.channelBindingType else { return [] }
        return try await connection.channelBinding(type)
    }

    /// Logs in with the configured token. Returns `<success/>`; nil when there is no usable
    /// token or the server refused it and a password is there to fall back to.
    mutating func authenticateWithToken(extras: [Element], roundTrips: inout Int) async throws -> Element? {
        guard let token = self.configuration.fastToken, self.offered.contains(token.mechanism),
            let binding = try await Self.binding(for: token.mechanism, on: self.connection)
        else { return nil }
        let username = self.configuration.account.localpart ?? ""
        var authenticate = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", token.mechanism.rawValue)])
        let initial = HTSHA256.initialResponse(username: username, token: token.token, channelBinding: binding)
        authenticate.append(Element("initial-response", namespace: SASL2.namespace, text: Base64.encode(initial)))
        for extra in extras { authenticate.append(extra) }
        var fast = Element(name: "fast", namespace: FAST.namespace)
        if let count = token.count { fast[attribute: "count"] = String(count) }
        if self.configuration.invalidateFASTToken { fast[attribute: "invalidate"] = "true" }
        authenticate.append(fast)
        if self.configuration.requestFASTToken {
            authenticate.append(Element("request-token", namespace: FAST.namespace, attributes: [("mechanism", token.mechanism.rawValue)]))
        }
        try await self.connection.send(authenticate)
        let answer = try await self.connection.nextElement(timeout: self.configuration.timeout)
        roundTrips += 1
        guard answer.name == "success", answer.namespace == SASL2.namespace else {
            if self.configuration.password.isEmpty { throw XMPPClient.LoginError.authenticationFailed(XMPPClient.failure(answer)) }
            return nil
        }
        // The server proves it knows the token (and, with a binding, that it is this TLS
        // connection's other end) before anything it says is believed.
        guard let data = answer.child(named: "additional-data", namespace: SASL2.namespace).flatMap({ Base64.decode($0.text) }),
            HTSHA256.responderMatches(data, token: token.token, channelBinding: binding)
        else {
            throw XMPPClient.LoginError.fastServerNotVerified
        }
        self.usedMechanism = token.mechanism
        return answer
    }

    /// Records on the client what the login gave: the mechanism and any token issued.
    func finish(_ client: XMPPClient, success: Element) {
        client.fastMechanism = self.usedMechanism
        guard let issued = success.child(named: "token", namespace: FAST.namespace), let value = issued[attribute: "token"],
            let mechanism = self.usedMechanism ?? self.requested
        else { return }
        // After a token login the token (rotated or asked for) is for the mechanism used; after
        // a password login, for the one asked for.
        client.fastToken = FASTToken(token: value, mechanism: mechanism, expiry: issued[attribute: "expiry"] ?? "")
    }
}
