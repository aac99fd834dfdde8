import Crypto
import Testing
import XMPPCore
@testable import XMPPSASL

/// HT-SHA-256 and the two-slot token record, without storage.
@Suite("HT-SHA-256 and FAST token records")
struct FASTTokenRecordTests {
    let binding: [UInt8] = Array(repeating: 5, count: 32)

    /// Issued tokens are always longer than the HMAC block, which makes the digest the key;
    /// test names are padded the same way.
    private func long(_ name: String) -> String { FASTTokenIssuer.prefix + name + String(repeating: "x", count: 80) }

    private func attempt(_ name: String, mechanism: HTMechanism = .exporter, count: Int? = nil, invalidate: Bool = false) -> FASTTokenAttempt {
        let cb = mechanism == .unbound ? [] : self.binding
        let token = self.long(name)
        return FASTTokenAttempt(
            username: "alice", userAgentID: "ua", mechanism: mechanism, initiatorHash: HTSHA256.initiatorHash(key: Array(token.utf8), channelBinding: cb),
            channelBinding: cb, count: count, invalidate: invalidate)
    }

    private func slot(_ name: String, mechanism: HTMechanism = .exporter, expiry: Int64 = 10_000) -> FASTTokenSlot {
        FASTTokenSlot(digest: FASTTokenIssuer.digest(of: self.long(name)), mechanism: mechanism, expiry: expiry)
    }

    @Test("an issued token is longer than the HMAC block, so HMAC with its SHA-256 equals HMAC with the token")
    func digestIsTheHMACKey() {
        let token = FASTTokenIssuer.newToken()
        #expect(token.hasPrefix("secret-token:fast-") && token.utf8.count > 64)
        #expect(!token.contains("+") && !token.contains("/") && !token.contains("="))
        #expect(
            HTSHA256.initiatorHash(key: FASTTokenIssuer.digest(of: token), channelBinding: self.binding)
                == HTSHA256.initiatorHash(key: Array(token.utf8), channelBinding: self.binding))
        // The definition, spelled out with CryptoKit's HMAC over "Initiator" || cb-data.
        let direct = HMAC<SHA256>.authenticationCode(for: Array("Initiator".utf8) + self.binding, using: SymmetricKey(data: Array(token.utf8)))
        #expect(Array(direct) == HTSHA256.initiatorHash(key: Array(token.utf8), channelBinding: self.binding))
        #expect(FASTTokenIssuer.newToken() != token)
    }

    @Test("initial responses parse as authcid NUL 32-byte hash; a NUL inside the hash is fine")
    func initialResponse() throws {
        let hash: [UInt8] = [0] + Array(repeating: 1, count: 31)
        #expect(try HTSHA256.parseInitialResponse(Array("alice".utf8) + [0] + hash).get() == HTSHA256.InitialResponse(username: "alice", initiatorHash: hash))
        #expect(HTSHA256.parseInitialResponse([0] + hash) == .failure(.malformedRequest))
        #expect(HTSHA256.parseInitialResponse(Array("alice".utf8)) == .failure(.malformedRequest))
    }

    @Test("new is tried first and becomes current when used; current keeps working until then")
    func slots() {
        var record = FASTTokenRecord(current: self.slot("old-token"))
        record.issue(self.slot("new-token"))
        guard case .accepted = record.authenticate(self.attempt("old-token"), now: 0, rotateBefore: 0) else {
            Issue.record("the current token stopped working before the new one was used")
            return
        }
        guard case .accepted(let responder, _) = record.authenticate(self.attempt("new-token"), now: 0, rotateBefore: 0) else {
            Issue.record("the new token was refused")
            return
        }
        #expect(responder == HTSHA256.responderHash(key: Array(self.long("new-token").utf8), channelBinding: self.binding))
        #expect(record.new == nil && record.current?.digest == Base64.encode(FASTTokenIssuer.digest(of: self.long("new-token"))))
        #expect(record.authenticate(self.attempt("old-token"), now: 0, rotateBefore: 0) == .rejected)
    }

    @Test("wrong token, wrong mechanism, expiry, count replay, invalidate, rotation due")
    func checks() {
        var record = FASTTokenRecord(current: self.slot("t"))
        #expect(record.authenticate(self.attempt("other"), now: 0, rotateBefore: 0) == .rejected)
        #expect(record.authenticate(self.attempt("t", mechanism: .unbound), now: 0, rotateBefore: 0) == .rejected)
        #expect(record.authenticate(self.attempt("t", count: 5), now: 0, rotateBefore: 0) != .rejected)
        #expect(record.authenticate(self.attempt("t", count: 5), now: 0, rotateBefore: 0) == .rejected)
        #expect(record.authenticate(self.attempt("t", count: 4), now: 0, rotateBefore: 0) == .rejected)
        #expect(record.authenticate(self.attempt("t", count: 6), now: 0, rotateBefore: 0) != .rejected)
        guard case .accepted(_, let due) = record.authenticate(self.attempt("t"), now: 9_000, rotateBefore: 1_000) else {
            Issue.record("refused")
            return
        }
        #expect(due)
        #expect(record.authenticate(self.attempt("t"), now: 10_000, rotateBefore: 0) == .expired)
        #expect(record.isEmpty)
        var invalidated = FASTTokenRecord(current: self.slot("t"))
        #expect(invalidated.authenticate(self.attempt("t", invalidate: true), now: 0, rotateBefore: 0) != .rejected)
        #expect(invalidated.isEmpty)
        #expect(invalidated.authenticate(self.attempt("t"), now: 0, rotateBefore: 0) == .rejected)
    }
}
