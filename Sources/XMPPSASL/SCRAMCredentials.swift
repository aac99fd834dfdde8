import Crypto
import _CryptoExtras
import XMPPCore

/// The hash functions SCRAM is used with (RFC 5802, RFC 7677, and SHA-512 by the same rules).
public enum SCRAMHash: String, Sendable, Hashable, CaseIterable, Codable {
    case sha1 = "SHA-1"
    case sha256 = "SHA-256"
    case sha512 = "SHA-512"

    public var outputByteCount: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha512: 64
        }
    }

    public func hash(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha1: Array(Insecure.SHA1.hash(data: data))
        case .sha256: Array(SHA256.hash(data: data))
        case .sha512: Array(SHA512.hash(data: data))
        }
    }

    public func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        let symmetricKey = SymmetricKey(data: key)
        switch self {
        case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: symmetricKey))
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: symmetricKey))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: symmetricKey))
        }
    }

    /// `Hi()` of RFC 5802 §2.2, which is PBKDF2 with one block.
    public func saltedPassword(_ password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let function: KDF.Insecure.PBKDF2.HashFunction =
            switch self {
            case .sha1: .insecureSHA1
            case .sha256: .sha256
            case .sha512: .sha512
            }
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: password, salt: salt, using: function, outputByteCount: self.outputByteCount, unsafeUncheckedRounds: iterations)
            return key.withUnsafeBytes { Array($0) }
        } catch {
            // PBKDF2 only fails for parameters we never pass; fall back to the textbook loop.
            var block = self.hmac(key: password, salt + [0, 0, 0, 1])
            var result = block
            for _ in 1..<max(iterations, 1) {
                block = self.hmac(key: password, block)
                for index in result.indices { result[index] ^= block[index] }
            }
            return result
        }
    }
}

/// What the server keeps for one account and one hash: never the password itself.
public struct SCRAMCredentials: Sendable, Hashable, Codable {
    public var hash: SCRAMHash
    public var salt: [UInt8]
    public var iterations: Int
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    public init(hash: SCRAMHash, salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.hash = hash
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    public static let defaultIterations = 4096
    public static let minimumIterations = 4096

    /// Derives credentials from a password, prepared with the OpaqueString profile.
    public static func derive(password: String, hash: SCRAMHash, salt: [UInt8]? = nil, iterations: Int = defaultIterations) throws(SASLPasswordError) -> SCRAMCredentials {
        let prepared = try SASLPassword.prepare(password)
        let salt = salt ?? SASLRandom.bytes(16)
        let salted = hash.saltedPassword(Array(prepared.utf8), salt: salt, iterations: iterations)
        return self.from(saltedPassword: salted, hash: hash, salt: salt, iterations: iterations)
    }

    /// Credentials from a SaltedPassword (RFC 5802 §3): what a XEP-0480 upgrade task hands the
    /// server. The SaltedPassword itself is not kept.
    public static func from(saltedPassword salted: [UInt8], hash: SCRAMHash, salt: [UInt8], iterations: Int) -> SCRAMCredentials {
        let clientKey = hash.hmac(key: salted, Array("Client Key".utf8))
        let serverKey = hash.hmac(key: salted, Array("Server Key".utf8))
        return SCRAMCredentials(hash: hash, salt: salt, iterations: iterations, storedKey: hash.hash(clientKey), serverKey: serverKey)
    }

    /// Checks a plain password against these credentials (for SASL PLAIN).
    public func verify(password: String) -> Bool {
        guard let prepared = try? SASLPassword.prepare(password) else { return false }
        let salted = self.hash.saltedPassword(Array(prepared.utf8), salt: self.salt, iterations: self.iterations)
        let candidate = Self.from(saltedPassword: salted, hash: self.hash, salt: self.salt, iterations: self.iterations)
        return constantTimeEquals(candidate.storedKey, self.storedKey)
    }

    /// Credentials for all three hashes, so every SCRAM mechanism works for the account.
    public static func deriveAll(password: String, iterations: Int = defaultIterations) throws(SASLPasswordError) -> [SCRAMCredentials] {
        var result: [SCRAMCredentials] = []
        for hash in SCRAMHash.allCases {
            result.append(try self.derive(password: password, hash: hash, iterations: iterations))
        }
        return result
    }
}

public enum SASLPasswordError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case invalid

    public var description: String {
        switch self {
        case .empty: "the password is empty"
        case .invalid: "the password contains characters that are not allowed (control characters or unassigned code points)"
        }
    }
}

/// Passwords are prepared with the PRECIS OpaqueString profile (RFC 8265 §4.2).
public enum SASLPassword {
    public static func prepare(_ password: String) throws(SASLPasswordError) -> String {
        guard !password.isEmpty else { throw .empty }
        do {
            return try PRECIS.opaqueString(password)
        } catch {
            throw .invalid
        }
    }
}

/// Compares secrets (digests, proofs) without telling how much of a guess matched.
public func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices {
        difference |= lhs[index] ^ rhs[index]
    }
    return difference == 0
}

/// Random bytes and nonces from the system generator.
public enum SASLRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        // Eight bytes per draw: each draw is a getrandom(2) call, and a login needs several
        // nonces and stream IDs.
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next()) { bytes.append(contentsOf: $0) }
        }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// A printable nonce without ',' (RFC 5802 §5.1, `r=`).
    public static func nonce() -> String {
        Base64.encode(self.bytes(18))
    }
}
