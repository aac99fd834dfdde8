import Crypto
import Foundation
import XMPPCore
import XMPPSASL

/// What a password login as an administrator (the web UI's) came to.
public enum AdminLoginOutcome: Sendable, Equatable {
    case admitted(JID)
    /// A wrong address or password, an account that is not an administrator or is disabled:
    /// one answer for all, so that a guesser learns nothing from it. The caller waits
    /// `delaySeconds` before answering, as an XMPP login failure does.
    case refused(delaySeconds: Double)
    /// The address or the account failed too often lately (the XMPP logins' lockout).
    case lockedOut
}

extension AdminOperations {
    /// Checks an administrator's password the way SASL PLAIN does (against the stored SCRAM
    /// verifier, never a stored password), counted by the same per-address and per-account
    /// failure limits as XMPP logins, so that the web UI is no easier to guess at than c2s.
    public func verifyAdministrator(_ address: String, password: String, from remoteAddress: String) async -> AdminLoginOutcome {
        let account = (try? JID(address.trimmingCharacters(in: .whitespaces)))?.bare
        let accountKey = account?.description ?? address
        if self.core.abuse.isLockedOut(address: remoteAddress, account: accountKey) { return .lockedOut }
        // The password is checked before anything else about the account, so that how long the
        // answer takes does not tell who is an administrator.
        var verified = false
        if let account {
            verified = await ClientStream.verifyPlainPassword(password, of: account, in: self.core.storage.accounts, upgrading: [], iterations: 0)
        }
        if let account, verified, self.administrators.contains(account), !self.core.disabledAccounts.contains(account) {
            self.core.logger.notice("administrator logged in to the web UI", metadata: ["account": "\(account)", "ip": "\(remoteAddress)"])
            return .admitted(account)
        }
        self.core.logger.warning("refused a web UI login", metadata: ["account": "\(accountKey)", "ip": "\(remoteAddress)"])
        return .refused(delaySeconds: self.core.abuse.authenticationFailed(address: remoteAddress, account: accountKey))
    }

    /// The configuration's `admins` as they are now (a reload may change them).
    var administrators: Set<JID> {
        self.core.administrators.withLock { $0 }
    }

    /// A digest of the account's stored password verifier (nil when it has none, or no longer
    /// exists): it changes with the password, so a web UI session can notice it is stale.
    public func credentialStamp(of account: JID) async -> String? {
        for hash in [SCRAMHash.sha256, .sha512, .sha1] {
            guard let credentials = try? await self.core.storage.accounts.credentials(for: account.bare, hash: hash) else { continue }
            return Base16.encode(SHA256.hash(data: Data(credentials.storedKey + credentials.salt)))
        }
        return nil
    }

    /// Whether the account may still administer the server: an administrator who is removed
    /// from `admins` or disabled loses a web UI session at its next request.
    public func isAdministrator(_ account: JID) -> Bool {
        self.administrators.contains(account.bare) && !self.core.disabledAccounts.contains(account.bare)
    }
}
