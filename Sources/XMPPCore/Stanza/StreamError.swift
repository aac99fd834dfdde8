/// The defined stream error conditions of RFC 6120 §4.9.3.
public enum StreamErrorCondition: String, Sendable, Hashable, CaseIterable {
    case badFormat = "bad-format"
    case badNamespacePrefix = "bad-namespace-prefix"
    case conflict
    case connectionTimeout = "connection-timeout"
    case hostGone = "host-gone"
    case hostUnknown = "host-unknown"
    case improperAddressing = "improper-addressing"
    case internalServerError = "internal-server-error"
    case invalidFrom = "invalid-from"
    case invalidNamespace = "invalid-namespace"
    case invalidXML = "invalid-xml"
    case notAuthorized = "not-authorized"
    case notWellFormed = "not-well-formed"
    case policyViolation = "policy-violation"
    case remoteConnectionFailed = "remote-connection-failed"
    case reset
    case resourceConstraint = "resource-constraint"
    case restrictedXML = "restricted-xml"
    case seeOtherHost = "see-other-host"
    case systemShutdown = "system-shutdown"
    case undefinedCondition = "undefined-condition"
    case unsupportedEncoding = "unsupported-encoding"
    case unsupportedFeature = "unsupported-feature"
    case unsupportedStanzaType = "unsupported-stanza-type"
    case unsupportedVersion = "unsupported-version"
}

/// A stream error (RFC 6120 §4.9): sent, then the stream is closed.
public struct StreamError: Error, Sendable, Hashable {
    public var condition: StreamErrorCondition
    /// Human-readable detail; never includes credentials or raw peer input.
    public var text: String?
    /// An application-specific condition, such as XEP-0198's `<handled-count-too-high/>`.
    public var applicationCondition: Element?

    public init(_ condition: StreamErrorCondition, text: String? = nil, applicationCondition: Element? = nil) {
        self.condition = condition
        self.text = text
        self.applicationCondition = applicationCondition
    }

    public var element: Element {
        var error = Element(name: "error", namespace: XMPPNamespace.stream)
        error.append(Element(name: self.condition.rawValue, namespace: XMPPNamespace.streamErrors))
        if let text {
            error.append(Element("text", namespace: XMPPNamespace.streamErrors, text: text))
        }
        if let applicationCondition {
            error.append(applicationCondition)
        }
        return error
    }

    /// Reads a received `<stream:error/>`.
    public init?(element: Element) {
        guard element.name == "error", element.namespace == XMPPNamespace.stream else { return nil }
        let conditionElement = element.elements.first { $0.namespace == XMPPNamespace.streamErrors && $0.name != "text" }
        self.condition = conditionElement.flatMap { StreamErrorCondition(rawValue: $0.name) } ?? .undefinedCondition
        self.text = element.child(named: "text", namespace: XMPPNamespace.streamErrors)?.text
        self.applicationCondition = element.elements.first { $0.namespace != XMPPNamespace.streamErrors }
    }
}
