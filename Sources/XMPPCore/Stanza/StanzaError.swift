/// The defined stanza error conditions of RFC 6120 §8.3.3, each with its usual type.
public enum StanzaErrorCondition: String, Sendable, Hashable, CaseIterable {
    case badRequest = "bad-request"
    case conflict
    case featureNotImplemented = "feature-not-implemented"
    case forbidden
    case gone
    case internalServerError = "internal-server-error"
    case itemNotFound = "item-not-found"
    case jidMalformed = "jid-malformed"
    case notAcceptable = "not-acceptable"
    case notAllowed = "not-allowed"
    case notAuthorized = "not-authorized"
    case policyViolation = "policy-violation"
    case recipientUnavailable = "recipient-unavailable"
    case redirect
    case registrationRequired = "registration-required"
    case remoteServerNotFound = "remote-server-not-found"
    case remoteServerTimeout = "remote-server-timeout"
    case resourceConstraint = "resource-constraint"
    case serviceUnavailable = "service-unavailable"
    case subscriptionRequired = "subscription-required"
    case undefinedCondition = "undefined-condition"
    case unexpectedRequest = "unexpected-request"

    public var defaultType: StanzaErrorType {
        switch self {
        case .badRequest, .jidMalformed, .notAcceptable, .policyViolation, .redirect: .modify
        case .forbidden, .notAuthorized, .registrationRequired, .subscriptionRequired: .auth
        case .recipientUnavailable, .remoteServerTimeout, .resourceConstraint, .unexpectedRequest: .wait
        default: .cancel
        }
    }
}

public enum StanzaErrorType: String, Sendable, Hashable {
    case auth, cancel, `continue`, modify, wait
}

/// A stanza error (RFC 6120 §8.3).
public struct StanzaError: Error, Sendable, Hashable {
    public var condition: StanzaErrorCondition
    public var type: StanzaErrorType
    public var text: String?
    /// Application-specific condition elements, such as XEP-0191's `<blocked/>`.
    public var applicationCondition: Element?

    public init(_ condition: StanzaErrorCondition, type: StanzaErrorType? = nil, text: String? = nil, applicationCondition: Element? = nil) {
        self.condition = condition
        self.type = type ?? condition.defaultType
        self.text = text
        self.applicationCondition = applicationCondition
    }

    public func element(namespace: String) -> Element {
        var error = Element("error", namespace: namespace, attributes: [("type", self.type.rawValue)])
        error.append(Element(name: self.condition.rawValue, namespace: XMPPNamespace.stanzaErrors))
        if let text {
            error.append(Element("text", namespace: XMPPNamespace.stanzaErrors, text: text))
        }
        if let applicationCondition {
            error.append(applicationCondition)
        }
        return error
    }

    /// Reads the `<error/>` child of a stanza of type error.
    public init?(stanza: Element) {
        guard let error = stanza.child(named: "error") else { return nil }
        let conditionElement = error.elements.first { $0.namespace == XMPPNamespace.stanzaErrors && $0.name != "text" }
        self.condition = conditionElement.flatMap { StanzaErrorCondition(rawValue: $0.name) } ?? .undefinedCondition
        self.type = error[attribute: "type"].flatMap(StanzaErrorType.init(rawValue:)) ?? self.condition.defaultType
        self.text = error.child(named: "text", namespace: XMPPNamespace.stanzaErrors)?.text
        self.applicationCondition = error.elements.first { $0.namespace != XMPPNamespace.stanzaErrors }
    }
}
