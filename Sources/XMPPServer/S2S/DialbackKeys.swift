import Crypto
import Foundation
import XMPPCore
import XMPPSASL

/// XEP-0185 dialback keys: HMAC-SHA256 keyed with SHA-256 of a secret that only this server
/// knows, over "receiving originating stream-id", hex-encoded. The secret lives in the data
/// directory so keys stay valid across restarts and across nodes sharing the directory.
public struct DialbackKeys: Sendable {
    private let hashedSecret: [UInt8]

    public init(secret: [UInt8]) {
        self.hashedSecret = Array(SHA256.hash(data: secret))
    }

    static func load(dataDirectory: String) throws -> DialbackKeys {
        let path = dataDirectory + "/s2s-dialback-secret"
        if let existing = FileManager.default.contents(atPath: path), existing.count >= 32 {
            return DialbackKeys(secret: [UInt8](existing))
        }
        let secret = SASLRandom.bytes(32)
        guard FileManager.default.createFile(atPath: path, contents: Data(secret), attributes: [.posixPermissions: 0o600]) else {
            throw CertificateStore.Problem(description: "cannot write \(path)")
        }
        return DialbackKeys(secret: secret)
    }

    public func key(receiving: String, originating: String, streamID: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array("\(receiving) \(originating) \(streamID)".utf8), using: SymmetricKey(data: self.hashedSecret))
        return Base16.encode(code)
    }

    func verify(_ key: String, receiving: String, originating: String, streamID: String) -> Bool {
        let expected = self.key(receiving: receiving, originating: originating, streamID: streamID)
        return expected.utf8.count == key.utf8.count && zip(expected.utf8, key.utf8).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
