import Synchronization
import XMPPCore

/// The client side of SCRAM, used by Starling's client library and by the tests that check
/// the server against the RFC test vectors.
public struct SCRAMClient: Sendable {
    public enum Binding: Sendable, Hashable {
        /// `n`: the client does not support channel binding.
        case unsupported
        /// `y`: the client supports it but the server offered no -PLUS mechanism.
        case serverDoesNotSupport
        /// `p=type`: bind to this TLS channel.
        case bound(ChannelBindingType, [UInt8])
    }

    /// Whether to check the server's XEP-0474 hash of what it advertised (`h=` in server-first).
    public enum DowngradeCheck: Sendable, Hashable {
        case off
        /// Check `h=` against what this client saw when the server sends one; servers that do
        /// not implement XEP-0474 send none and are accepted.
        case ifOffered(SCRAMDowngradeProtection)
        /// Refuse a server-first without `h=` too.
        case required(SCRAMDowngradeProtection)
    }

    public enum ClientError: Error, Sendable, Hashable {
        case unexpectedMessage
        case malformedChallenge
        case nonceMismatch
        case iterationCountTooLow(Int)
        /// A server asking for more work than this client will do (a hang, not a login).
        case iterationCountTooHigh(Int)
        case serverSignatureMismatch
        /// The mechanisms or channel-binding types the server says it advertised are not the
        /// ones this client saw: someone edited the stream features (XEP-0474).
        case downgradeDetected
        /// `DowngradeCheck.required`, and the server sent no `h=`.
        case downgradeProtectionMissing
        case serverError(String)
        case invalidPassword(SASLPasswordError)
    }

    private enum State: Sendable {
        case initial
        case sentClientFirst
        case sentClientFinal(expectedServerSignature: [UInt8])
        case finished
    }

    public let hash: SCRAMHash
    private let username: String
    private let password: String
    private let authzid: String?
    private let binding: Binding
    private let clientNonce: String
    private let minimumIterations: Int
    /// The most iterations a server may ask for before the client refuses (a hang, not security).
    public static let defaultMaximumIterations = 1_000_000
    private let maximumIterations: Int
    private let saltedPasswordCache: SCRAMSaltedPasswordCache?
    private let downgradeCheck: DowngradeCheck
    private var state: State = .initial
    private var clientFirstBare = ""

    /// The salted password computed during the exchange, which a client may cache.
    public private(set) var saltedPassword: [UInt8]?

    public init(
        hash: SCRAMHash,
        username: String,
        password: String,
        authzid: String? = nil,
        binding: Binding = .unsupported,
        clientNonce: String = SASLRandom.nonce(),
        minimumIterations: Int = SCRAMCredentials.minimumIterations,
        maximumIterations: Int = SCRAMClient.defaultMaximumIterations,
        saltedPasswordCache: SCRAMSaltedPasswordCache? = nil,
        downgradeCheck: DowngradeCheck = .off
    ) {
        self.hash = hash
        self.username = username
        self.password = password
        self.authzid = authzid
        self.binding = binding
        self.clientNonce = clientNonce
        self.minimumIterations = minimumIterations
        self.maximumIterations = maximumIterations
        self.saltedPasswordCache = saltedPasswordCache
        self.downgradeCheck = downgradeCheck
    }

    private var gs2Header: String {
        let flag =
            switch self.binding {
            case .unsupported: "n"
            case .serverDoesNotSupport: "y"
            case .bound(let type, _): "p=\(type.rawValue)"
            }
        return flag + "," + (self.authzid.map { "a=" + SCRAMServer.encodeSASLName($0) } ?? "") + ","
    }

    public mutating func clientFirstMessage() -> [UInt8] {
        self.clientFirstBare = "n=\(SCRAMServer.encodeSASLName(self.username)),r=\(self.clientNonce)"
        self.state = .sentClientFirst
        return Array((self.gs2Header + self.clientFirstBare).utf8)
    }

    public mutating func receivedServerFirst(_ message: [UInt8]) throws(ClientError) -> [UInt8] {
        guard case .sentClientFirst = self.state else { throw .unexpectedMessage }
        let text = String(decoding: message, as: UTF8.self)
        var nonce: String?
        var salt: [UInt8]?
        var iterations: Int?
        var downgradeHash: String?
        for attribute in text.split(separator: ",") {
            if attribute.hasPrefix("r=") { nonce = String(attribute.dropFirst(2)) }
            if attribute.hasPrefix("s=") { salt = Base64.decode(attribute.dropFirst(2)) }
            if attribute.hasPrefix("i=") { iterations = Int(attribute.dropFirst(2)) }
            if attribute.hasPrefix("h=") { downgradeHash = String(attribute.dropFirst(2)) }
            if attribute.hasPrefix("e=") { throw .serverError(String(attribute.dropFirst(2))) }
        }
        guard let nonce, let salt, let iterations else { throw .malformedChallenge }
        guard nonce.hasPrefix(self.clientNonce), nonce.count > self.clientNonce.count else { throw .nonceMismatch }
        guard iterations >= self.minimumIterations else { throw .iterationCountTooLow(iterations) }
        guard iterations <= self.maximumIterations else { throw .iterationCountTooHigh(iterations) }
        try self.checkDowngradeProtection(downgradeHash)

        var bindingData = Array(self.gs2Header.utf8)
        if case .bound(_, let data) = self.binding {
            bindingData += data
        }
        let withoutProof = "c=\(Base64.encode(bindingData)),r=\(nonce)"
        let prepared: String
        do {
            prepared = try SASLPassword.prepare(self.password)
        } catch {
            throw .invalidPassword(error)
        }
        let cacheKey = SCRAMSaltedPasswordCache.Key(hash: self.hash, username: self.username, salt: salt, iterations: iterations)
        let salted: [UInt8]
        if let cached = self.saltedPasswordCache?.saltedPassword(for: cacheKey) {
            salted = cached
        } else {
            salted = self.hash.saltedPassword(Array(prepared.utf8), salt: salt, iterations: iterations)
            self.saltedPasswordCache?.store(salted, for: cacheKey)
        }
        self.saltedPassword = salted
        let clientKey = self.hash.hmac(key: salted, Array("Client Key".utf8))
        let storedKey = self.hash.hash(clientKey)
        let authMessage = Array("\(self.clientFirstBare),\(text),\(withoutProof)".utf8)
        let clientSignature = self.hash.hmac(key: storedKey, authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = self.hash.hmac(key: salted, Array("Server Key".utf8))
        self.state = .sentClientFinal(expectedServerSignature: self.hash.hmac(key: serverKey, authMessage))
        return Array("\(withoutProof),p=\(Base64.encode(proof))".utf8)
    }

    /// XEP-0474 §5.2: a hash that differs from ours means the lists we chose from were edited.
    /// A forged hash that matches is caught later: the server's proof check covers server-first.
    private func checkDowngradeProtection(_ received: String?) throws(ClientError) {
        let seen: SCRAMDowngradeProtection
        switch self.downgradeCheck {
        case .off:
            return
        case .ifOffered(let protection):
            guard received != nil else { return }
            seen = protection
        case .required(let protection):
            guard received != nil else { throw .downgradeProtectionMissing }
            seen = protection
        }
        guard received == seen.attributeValue(hash: self.hash) else { throw .downgradeDetected }
    }

    /// Verifies the server's signature in the success data: only then is the server known
    /// to hold the credentials too.
    public mutating func receivedServerFinal(_ message: [UInt8]) throws(ClientError) {
        guard case .sentClientFinal(let expected) = self.state else { throw .unexpectedMessage }
        let text = String(decoding: message, as: UTF8.self)
        if text.hasPrefix("e=") { throw .serverError(String(text.dropFirst(2))) }
        guard text.hasPrefix("v="), let signature = Base64.decode(text.dropFirst(2)) else { throw .malformedChallenge }
        guard constantTimeEquals(signature, expected) else { throw .serverSignatureMismatch }
        self.state = .finished
    }
}

/// Salted passwords a client has already derived, keyed by what the server sent. RFC 5802 §5.1
/// lets a client cache `SaltedPassword` so that reconnecting skips the deliberately slow `Hi()`;
/// a server that changes the salt or the iteration count simply misses the cache. An entry whose
/// password is wrong fails the server's proof check exactly as a wrong password would.
public final class SCRAMSaltedPasswordCache: Sendable {
    public struct Key: Hashable, Sendable {
        public var hash: SCRAMHash
        public var username: String
        public var salt: [UInt8]
        public var iterations: Int

        public init(hash: SCRAMHash, username: String, salt: [UInt8], iterations: Int) {
            self.hash = hash
            self.username = username
            self.salt = salt
            self.iterations = iterations
        }
    }

    private let entries = Mutex<[Key: [UInt8]]>([:])

    public init() {}

    public func saltedPassword(for key: Key) -> [UInt8]? {
        self.entries.withLock { $0[key] }
    }

    public func store(_ saltedPassword: [UInt8], for key: Key) {
        self.entries.withLock { $0[key] = saltedPassword }
    }

    /// Every entry, for a client that keeps the cache across runs.
    public var allEntries: [(Key, [UInt8])] {
        self.entries.withLock { $0.map { ($0.key, $0.value) } }
    }
}
