import Crypto
import XMPPCore

/// The HT-SHA-256 mechanisms of draft-schmaus-kitten-sasl-ht-08, as XEP-0484 (FAST) uses them:
/// one message each way, no password, a token both sides know.
///
/// ```
/// C: authcid NUL initiator-hashed-token     initiator-hashed-token = HMAC-SHA-256(token, "Initiator" || cb-data)
/// S: responder-hashed-token                 responder-hashed-token = HMAC-SHA-256(token, "Responder" || cb-data)
/// ```
///
/// The suffix names the channel binding: NONE (no cb-data), ENDP (`tls-server-end-point`),
/// EXPR (`tls-exporter`, RFC 9266). They are offered only inside the SASL2 `<fast/>` feature,
/// never in the mechanism lists: a token is not a password.
public enum HTMechanism: String, Sendable, Hashable, CaseIterable, Codable {
    case exporter = "HT-SHA-256-EXPR"
    case endpoint = "HT-SHA-256-ENDP"
    case unbound = "HT-SHA-256-NONE"

    /// The channel binding whose data goes into the hashes; nil for NONE.
    public var channelBindingType: ChannelBindingType? {
        switch self {
        case .exporter: .tlsExporter
        case .endpoint: .tlsServerEndPoint
        case .unbound: nil
        }
    }
}

public enum HTSHA256 {
    /// The hash length, which the initiator's message must end with.
    public static let hashLength = SHA256.Digest.byteCount

    /// HMAC-SHA-256(key, "Initiator" || cb-data). `key` is the token's UTF-8 bytes, or (for
    /// tokens longer than SHA-256's 64-byte block, which Starling's always are) the SHA-256 of
    /// them: HMAC hashes a longer key first (RFC 2104 §2), so both give the same value.
    public static func initiatorHash(key: [UInt8], channelBinding: [UInt8]) -> [UInt8] {
        self.hmac(key: key, label: "Initiator", channelBinding: channelBinding)
    }

    /// HMAC-SHA-256(key, "Responder" || cb-data): what the server proves it knows the token with.
    public static func responderHash(key: [UInt8], channelBinding: [UInt8]) -> [UInt8] {
        self.hmac(key: key, label: "Responder", channelBinding: channelBinding)
    }

    private static func hmac(key: [UInt8], label: String, channelBinding: [UInt8]) -> [UInt8] {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: key))
        mac.update(data: Array(label.utf8))
        mac.update(data: channelBinding)
        return Array(mac.finalize())
    }

    /// What the client sends first: authcid, NUL, the initiator hash.
    public static func initialResponse(username: String, token: String, channelBinding: [UInt8]) -> [UInt8] {
        Array(username.utf8) + [0] + self.initiatorHash(key: Array(token.utf8), channelBinding: channelBinding)
    }

    /// The server's final message, checked in constant time.
    public static func responderMatches(_ received: [UInt8], token: String, channelBinding: [UInt8]) -> Bool {
        constantTimeEquals(received, self.responderHash(key: Array(token.utf8), channelBinding: channelBinding))
    }

    /// The initiator's message split into authcid and hash.
    public struct InitialResponse: Sendable, Hashable {
        public var username: String
        public var initiatorHash: [UInt8]
    }

    /// Parses `authcid NUL hash`: no NUL, an empty authcid or a hash of the wrong length is
    /// `malformed-request`; an authcid that is not UTF-8 is `incorrect-encoding`.
    public static func parseInitialResponse(_ data: [UInt8]) -> Result<InitialResponse, SASLFailure> {
        // The hash is binary and may contain NUL; the authcid may not (it is a UTF-8 name).
        guard let separator = data.firstIndex(of: 0), separator > 0 else { return .failure(.malformedRequest) }
        let hash = Array(data[(separator + 1)...])
        guard hash.count == self.hashLength else { return .failure(.malformedRequest) }
        guard let username = String(validating: data[..<separator], as: UTF8.self) else { return .failure(.incorrectEncoding) }
        return .success(InitialResponse(username: username, initiatorHash: hash))
    }
}

/// Issuing tokens. A token is `secret-token:fast-` (RFC 8959's URI scheme, so secret scanners
/// know it) and the base64url of 64 random bytes: 104 bytes, longer than SHA-256's HMAC block,
/// so HMAC keys with SHA-256(token) and the server keeps only that digest (see `digest`).
public enum FASTTokenIssuer {
    public static let prefix = "secret-token:fast-"

    public static func newToken() -> String {
        self.prefix + Base64.encodeURL(SASLRandom.bytes(64))
    }

    /// SHA-256 of the token's UTF-8 bytes: the HMAC key for any token longer than 64 bytes.
    /// Secret-equivalent for HT (whoever has it can log in), but not the token itself.
    public static func digest(of token: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)))
    }
}
