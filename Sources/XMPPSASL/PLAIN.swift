/// SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`. Only ever offered over TLS.
public struct PLAINMessage: Sendable, Hashable {
    public var authzid: String?
    public var username: String
    public var password: String

    public init(authzid: String? = nil, username: String, password: String) {
        self.authzid = authzid
        self.username = username
        self.password = password
    }

    public init(parsing message: [UInt8]) throws(SASLFailure) {
        let parts = message.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty, parts[1].count <= 1023, parts[2].count <= 1023,
            let authzid = String(validating: parts[0], as: UTF8.self),
            let username = String(validating: parts[1], as: UTF8.self),
            let password = String(validating: parts[2], as: UTF8.self)
        else { throw .malformedRequest }
        self.authzid = authzid.isEmpty ? nil : authzid
        self.username = username
        self.password = password
    }

    public var bytes: [UInt8] {
        Array((self.authzid ?? "").utf8) + [0] + Array(self.username.utf8) + [0] + Array(self.password.utf8)
    }
}
