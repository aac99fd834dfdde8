import Foundation
import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStream

/// XEP-0484 token logins and issuing for one stream: the storage round trips the machine asks
/// for (`verifyFASTToken`, `issueFASTToken`). Tokens and initiator hashes are never logged;
/// only digests are stored (`FASTTokenStore`).
extension ClientStream {
    func verifyFASTToken(_ attempt: FASTTokenAttempt) {
        // A token login counts against the same lockout as a password: guessing tokens is
        // guessing credentials.
        if self.refuseIfLockedOut(username: attempt.username) { return }
        guard let domain = self.machine.streamDomain, let account = try? JID(localpart: attempt.username, domainpart: domain) else {
            self.run(self.machine.fastTokenVerified(.rejected))
            return
        }
        let tokens = self.server.fastTokens
        let rotateBefore = Int64(self.server.configuration.c2s.fast.rotateBeforeSeconds)
        self.roundTrip {
            () async -> Result<FASTTokenVerdict, StorageFailure> in
            do {
                let now = Int64(Date().timeIntervalSince1970)
                return .success(try await tokens.authenticate(attempt, account: account, now: now, rotateBefore: rotateBefore))
            } catch {
                return .failure(StorageFailure(description: "\(error)"))
            }
        } then: { stream, outcome in
            switch outcome {
            case .success(let verdict):
                return stream.machine.fastTokenVerified(verdict)
            case .failure(let error):
                // The store could not answer: not the client's fault, so not a failed login.
                stream.log(.error, "cannot check a FAST token", metadata: ["error": "\(error.description)"])
                return stream.machine.authenticationRefused()
            }
        }
    }

    func issueFASTToken(_ issue: FAST.TokenIssue) {
        let token = FASTTokenIssuer.newToken()
        let expiry = Int64(Date().timeIntervalSince1970) + Int64(self.server.configuration.c2s.fast.tokenLifetimeSeconds)
        let slot = FASTTokenSlot(digest: FASTTokenIssuer.digest(of: token), mechanism: issue.mechanism, expiry: expiry)
        let tokens = self.server.fastTokens
        self.roundTrip {
            () async -> String? in
            do {
                try await tokens.issue(slot, account: issue.account, userAgentID: issue.userAgentID)
                return nil
            } catch {
                return "\(error)"
            }
        } then: { stream, error in
            if let error {
                // The login stands; the client just gets no token this time.
                stream.log(.error, "cannot store a FAST token", metadata: ["error": "\(error)"])
                return stream.machine.fastTokenIssued(nil)
            }
            stream.log(.info, "FAST token issued", metadata: ["mechanism": "\(issue.mechanism.rawValue)"])
            return stream.machine.fastTokenIssued(FAST.IssuedToken(token: token, expiry: ClientStream.dateTime(expiry)))
        }
    }

    /// XEP-0082 date-time in UTC, whole seconds.
    static func dateTime(_ secondsSince1970: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(secondsSince1970)))
    }
}

/// A storage error as text: what crosses back to the event loop from a round trip.
struct StorageFailure: Error, Sendable {
    var description: String
}
