import XMPPCore

/// SASL failure conditions of RFC 6120 §6.5.
public enum SASLFailure: String, Error, Sendable, Hashable, CaseIterable {
    case aborted
    case accountDisabled = "account-disabled"
    case credentialsExpired = "credentials-expired"
    case encryptionRequired = "encryption-required"
    case incorrectEncoding = "incorrect-encoding"
    case invalidAuthzid = "invalid-authzid"
    case invalidMechanism = "invalid-mechanism"
    case malformedRequest = "malformed-request"
    case mechanismTooWeak = "mechanism-too-weak"
    case notAuthorized = "not-authorized"
    case temporaryAuthFailure = "temporary-auth-failure"

    public var element: Element {
        var failure = Element(name: "failure", namespace: XMPPNamespace.sasl)
        failure.append(Element(name: self.rawValue, namespace: XMPPNamespace.sasl))
        return failure
    }
}

/// The mechanisms Starling implements, by their registered names.
public enum SASLMechanismName: String, Sendable, Hashable, CaseIterable {
    case scramSHA512Plus = "SCRAM-SHA-512-PLUS"
    case scramSHA256Plus = "SCRAM-SHA-256-PLUS"
    case scramSHA1Plus = "SCRAM-SHA-1-PLUS"
    case scramSHA512 = "SCRAM-SHA-512"
    case scramSHA256 = "SCRAM-SHA-256"
    case scramSHA1 = "SCRAM-SHA-1"
    case plain = "PLAIN"

    public var scramHash: SCRAMHash? {
        switch self {
        case .scramSHA512, .scramSHA512Plus: .sha512
        case .scramSHA256, .scramSHA256Plus: .sha256
        case .scramSHA1, .scramSHA1Plus: .sha1
        case .plain: nil
        }
    }

    public var usesChannelBinding: Bool {
        switch self {
        case .scramSHA512Plus, .scramSHA256Plus, .scramSHA1Plus: true
        default: false
        }
    }
}

/// Channel binding types (RFC 5929, RFC 9266).
public enum ChannelBindingType: String, Sendable, Hashable, CaseIterable {
    case tlsServerEndPoint = "tls-server-end-point"
    case tlsExporter = "tls-exporter"
    case tlsUnique = "tls-unique"
}
