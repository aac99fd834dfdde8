import Foundation
import XMPPSASL

extension AdminOperations {
    /// The clients of an account that can log in with a FAST token (XEP-0484), never the
    /// tokens themselves.
    public func fastTokenClients(of address: String) async throws(AdminError) -> [AdminFASTClient] {
        let account = try self.account(address)
        guard try await self.accountExists(address) else { throw .notFound("there is no account \(account)") }
        do {
            return try await self.core.fastTokens.clients(of: account).map { client in
                let slots = [client.record.current, client.record.new].compactMap { $0 }
                let latest = slots.map(\.expiry).max() ?? 0
                return AdminFASTClient(
                    userAgent: client.userAgentID, mechanisms: Array(Set(slots.map(\.mechanism.rawValue))).sorted(),
                    expiresAt: Date(timeIntervalSince1970: TimeInterval(latest)))
            }
        } catch {
            throw .storage("\(error)")
        }
    }

    /// Revokes every FAST token of the account (a lost phone): its clients must log in with
    /// the password again. Returns how many clients had one.
    @discardableResult
    public func revokeFASTTokens(of address: String) async throws(AdminError) -> Int {
        let account = try self.account(address)
        guard try await self.accountExists(address) else { throw .notFound("there is no account \(account)") }
        do {
            let revoked = try await self.core.fastTokens.revokeAll(of: account)
            self.core.logger.notice("FAST tokens revoked by an administrator", metadata: ["account": "\(account)", "clients": "\(revoked)"])
            return revoked
        } catch {
            throw .storage("\(error)")
        }
    }
}

/// A client that holds a FAST token for an account.
public struct AdminFASTClient: Sendable, Hashable, Codable {
    /// The XEP-0388 user-agent id the token is bound to.
    public var userAgent: String
    /// The HT mechanisms its tokens are for.
    public var mechanisms: [String]
    /// When its newest token expires.
    public var expiresAt: Date
}
