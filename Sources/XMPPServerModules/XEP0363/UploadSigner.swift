import Crypto
import Foundation
import XMPPCore

/// Signs and checks upload URLs with HMAC-SHA256 under the service's secret, so that a URL
/// grants exactly what the slot allowed: a PUT of that size and content type to that path
/// until it expires, and a GET of that path. Each field is written with its length in front,
/// so no two different slots sign the same bytes.
struct UploadSigner: Sendable {
    enum Verdict: Equatable {
        case valid
        /// Signed by us, but too late (PUT URLs only).
        case expired
        /// Not a signature of ours over these values.
        case invalid
    }

    /// Kept as bytes (SymmetricKey is not Sendable); a key is made for each use, which costs
    /// a copy of 32 bytes.
    private let secret: [UInt8]

    init(secret: [UInt8]) {
        self.secret = secret
    }

    private var key: SymmetricKey { SymmetricKey(data: self.secret) }

    func putSignature(slot: String, filename: String, size: Int, contentType: String, expires: Int) -> String {
        self.sign(["PUT", slot, filename, String(size), contentType, String(expires)])
    }

    func getSignature(slot: String, filename: String) -> String {
        self.sign(["GET", slot, filename])
    }

    func verifyPut(_ signature: String, slot: String, filename: String, size: Int, contentType: String, expires: Int, now: Date) -> Verdict {
        guard self.verify(signature, ["PUT", slot, filename, String(size), contentType, String(expires)]) else { return .invalid }
        // Checked after the signature, so a forged expiry is "invalid", never "expired".
        return Int(now.timeIntervalSince1970) <= expires ? .valid : .expired
    }

    func verifyGet(_ signature: String, slot: String, filename: String) -> Verdict {
        self.verify(signature, ["GET", slot, filename]) ? .valid : .invalid
    }

    private func message(_ fields: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for field in fields {
            bytes += Array("\(field.utf8.count):".utf8)
            bytes += Array(field.utf8)
        }
        return bytes
    }

    private func sign(_ fields: [String]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: self.message(fields), using: self.key)
        return Base64.encodeURL(Array(code))
    }

    private func verify(_ signature: String, _ fields: [String]) -> Bool {
        guard let code = Self.decodeBase64URL(signature), code.count == SHA256.byteCount else { return false }
        // Compares in constant time.
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: self.message(fields), using: self.key)
    }

    static func decodeBase64URL(_ text: String) -> [UInt8]? {
        guard text.utf8.allSatisfy({ $0.isBase64URLCharacter }) else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard).map(Array.init)
    }
}

extension UInt8 {
    fileprivate var isBase64URLCharacter: Bool {
        (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A) || (self >= 0x30 && self <= 0x39) || self == 0x2D || self == 0x5F
    }
}
