/// Why the stream parser gave up; each case maps onto the stream error condition RFC 6120
/// §4.9.3 prescribes for it.
public enum XMLStreamError: Error, Sendable, Hashable {
    /// Not well-formed XML, invalid UTF-8, or characters XML forbids.
    case notWellFormed(String)
    /// A DTD, comment, processing instruction or entity declaration (RFC 6120 §11.1).
    case restrictedXML(String)
    /// A prefix with no namespace declaration in scope.
    case badNamespacePrefix(String)
    /// A configured limit was exceeded.
    case limitExceeded(String)
    /// The XML declaration named an encoding other than UTF-8.
    case unsupportedEncoding(String)

    public var condition: StreamErrorCondition {
        switch self {
        case .notWellFormed: .notWellFormed
        case .restrictedXML: .restrictedXML
        case .badNamespacePrefix: .badNamespacePrefix
        case .limitExceeded: .policyViolation
        case .unsupportedEncoding: .unsupportedEncoding
        }
    }

    public var detail: String {
        switch self {
        case .notWellFormed(let detail), .restrictedXML(let detail), .badNamespacePrefix(let detail),
            .limitExceeded(let detail), .unsupportedEncoding(let detail):
            detail
        }
    }
}
