import Foundation
import XMPPCore

/// An invitation as the admin fronts show it: never its token, except once, when it is made.
public struct AdminInvitation: Sendable, Hashable, Codable {
    public var id: String
    public var domain: String
    public var kind: String
    /// Whose contacts the new accounts become.
    public var rosterOf: String?
    public var usesLeft: Int
    public var expiresAt: Date
    /// The `xmpp:` URI and the landing page: only in the answer that made the invitation.
    public var uri: String?
    public var landingURL: String?

    init(_ invitation: Invitation, token: InvitationToken? = nil, landingBase: String? = nil) {
        self.id = invitation.id
        self.domain = invitation.domain
        self.kind = invitation.kind.rawValue
        self.rosterOf = invitation.inviter
        self.usesLeft = invitation.usesLeft
        self.expiresAt = invitation.expiresAt
        self.uri = token.map { InvitationLinks.uri(invitation, token: $0) }
        self.landingURL = token.flatMap { InvitationLinks.landingURL(base: landingBase, token: $0) }
    }
}

/// Invitations to register (XEP-0401), for the API and the CLI alike.
extension AdminOperations {
    private func invitationStore() throws(AdminError) -> InvitationStore {
        guard let store = self.core.invitations else { throw .invalid("invitations are off (invites.enabled: false)") }
        return store
    }

    /// Makes an account invitation for `domain` (the first hosted one when nil); with
    /// `rosterOf`, each new account and that one become contacts.
    public func createInvitation(
        domain: String?, rosterOf: String?, uses: Int, lifetime: TimeInterval?, createdBy: String
    ) async throws(AdminError) -> AdminInvitation {
        let store = try self.invitationStore()
        var inviter: JID?
        if let rosterOf {
            guard let jid = try? JID(rosterOf), jid.localpart != nil, jid.resourcepart == nil else {
                throw .invalid("rosterOf must be an account's address such as alice@example.org")
            }
            inviter = jid.bare
        }
        let domain = domain ?? inviter?.domainpart ?? self.core.hosts[0]
        guard self.core.hosts.contains(domain) else { throw .invalid("this server does not serve \(domain)") }
        let days = self.core.configuration.invites.lifetimeDays
        let request = InvitationRequest(
            kind: .account, domain: domain, inviter: inviter, uses: uses, lifetime: lifetime ?? TimeInterval(days * 86_400), createdBy: createdBy)
        if let problem = request.problem { throw .invalid(problem) }
        do {
            if let inviter, try await !self.core.storage.accounts.accountExists(inviter) { throw AdminError.notFound("there is no account \(inviter)") }
            try await store.purgeExpired()
            let (token, invitation) = try await store.create(request)
            self.core.logger.info("invitation created", metadata: ["id": "\(invitation.id)", "by": "\(createdBy)", "uses": "\(uses)"])
            let base = self.core.configuration.invites.publicURL ?? self.core.httpEndpoints.baseURL(host: domain)
            return AdminInvitation(invitation, token: token, landingBase: base)
        } catch let failure as AdminError {
            throw failure
        } catch {
            throw .storage("\(error)")
        }
    }

    /// Invitations not used up, oldest first.
    public func listInvitations() async throws(AdminError) -> [AdminInvitation] {
        let store = try self.invitationStore()
        do {
            return try await store.list().map { AdminInvitation($0) }
        } catch {
            throw .storage("\(error)")
        }
    }

    public func revokeInvitation(_ id: String) async throws(AdminError) {
        let store = try self.invitationStore()
        let revoked: Bool
        do {
            revoked = try await store.revoke(id: id)
        } catch {
            throw .storage("\(error)")
        }
        guard revoked else { throw .notFound("there is no invitation \(id)") }
    }
}
