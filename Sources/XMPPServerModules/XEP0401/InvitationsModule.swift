import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0401: invitations made with ad-hoc commands (`urn:xmpp:invite#invite` for every local
/// user, `urn:xmpp:invite#create-account` for administrators), the landing page a link opens,
/// and the mutual subscription between inviter and the account an invitation made. XEP-0379
/// (an existing account presenting a contact invitation) is in `PresenceModule`.
public struct InvitationsModule: ServerModule {
    public let name = "invites"
    static let inviteNode = "urn:xmpp:invite#invite"
    static let createAccountNode = "urn:xmpp:invite#create-account"
    static let preauthNamespace = "urn:xmpp:pars:0"
    static let openInvitationsPerUser = 20
    private let commands: AdHocCommandRegistry

    /// `commands` is the ad-hoc module's registry the commands go into.
    public init(commands: AdHocCommandRegistry) {
        self.commands = commands
    }

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let settings = context.configuration.invites
        guard settings.enabled else { return }
        let store = InvitationStore(backend: context.storage)
        let lifetime = TimeInterval(settings.lifetimeDays * 86_400)

        if settings.userInvites != .none {
            self.commands.add(
                AdHocCommand(node: Self.inviteNode, name: "Invite a contact", isAllowed: { context.hosts.contains($0.domainpart) && $0.localpart != nil }) {
                    step in
                    let inviter = step.requester.bare
                    let request = InvitationRequest(
                        kind: .contact, domain: inviter.domainpart, inviter: inviter,
                        allowsRegistration: settings.userInvites == .accounts || context.isAdmin(inviter), lifetime: lifetime,
                        createdBy: inviter.description)
                    // A user may hold a few open invitations, not fill the database with them.
                    try await store.purgeExpired()
                    let open = try await store.list().filter { $0.createdBy == inviter.description }.count
                    if !context.isAdmin(inviter) && open >= Self.openInvitationsPerUser {
                        return .failed("you have \(open) invitations open; wait until they are used or expire (\(settings.lifetimeDays) days)")
                    }
                    return try await Self.completed(request, store: store, context: context)
                })
        }
        self.commands.add(
            AdHocCommand(node: Self.createAccountNode, name: "Invite someone to make an account", isAllowed: { context.isAdmin($0) }) { step in
                let request = InvitationRequest(kind: .account, domain: step.domain, lifetime: lifetime, createdBy: step.requester.bare.description)
                return try await Self.completed(request, store: store, context: context)
            })

        registrar.onEvent { event in
            guard case .invitationAccepted(let account, let inviter) = event else { return }
            await Self.befriend(account, inviter, context: context)
        }
        registrar.addHTTPRoute(prefix: InvitationLinks.landingPrefix) { request in
            await InvitationLandingPage.answer(request, store: store, hosts: context.hosts)
        }
    }

    /// The result form XEP-0401 §4 describes: the URI, the landing page and the expiry.
    private static func completed(_ request: InvitationRequest, store: InvitationStore, context: ModuleContext) async throws -> AdHocOutcome {
        if let problem = request.problem { return .failed(problem) }
        let (token, invitation) = try await store.create(request)
        context.logger.info("invitation created", metadata: ["id": "\(invitation.id)", "by": "\(request.createdBy)", "kind": "\(invitation.kind.rawValue)"])
        let base = context.configuration.invites.publicURL ?? context.httpEndpoints.baseURL(host: invitation.domain)
        var fields = [DataForm.Field("uri", label: "Invite URI", values: [InvitationLinks.uri(invitation, token: token)])]
        if let landing = InvitationLinks.landingURL(base: base, token: token) {
            fields.append(DataForm.Field("landing-url", label: "Invite web page", values: [landing]))
        }
        fields.append(DataForm.Field("expire", label: "Valid until", values: [ISO8601DateFormatter().string(from: invitation.expiresAt)]))
        return .completed(DataForm(type: "result", fields: fields))
    }

    /// Whether a subscription request carries a contact invitation of `account` (XEP-0379
    /// `<preauth/>`); a good one is used up by this.
    static func acceptsContact(_ request: Element, account: JID, context: ModuleContext) async -> Bool {
        guard context.configuration.invites.enabled,
            let token = request.child(named: "preauth", namespace: Self.preauthNamespace)?[attribute: "token"]
        else { return false }
        let store = InvitationStore(backend: context.storage)
        guard case .success(let invitation) = try? await store.redeem(token, domains: [account.domainpart], inviter: account.bare.description) else {
            context.logger.notice("subscription request with an invitation that is not valid", metadata: ["account": "\(account)"])
            return false
        }
        context.logger.info("contact invitation accepted", metadata: ["account": "\(account)", "id": "\(invitation.id)"])
        return true
    }

    /// Both rosters get the other with subscription `both`, pushed to whoever is online.
    static func befriend(_ account: JID, _ inviter: JID, context: ModuleContext) async {
        guard (try? await context.storage.accounts.accountExists(inviter)) == true else { return }
        let mutual = SubscriptionState(to: true, from: true)
        for (owner, contact) in [(inviter, account), (account, inviter)] {
            let store = context.storage.rosters
            var item = (try? await store.item(of: owner, contact: contact)) ?? RosterItem(jid: contact)
            item.state = mutual
            item.inRoster = true
            item.pendingRequest = nil
            guard let version = try? await store.setItem(item, of: owner) else {
                context.logger.error("could not add the invited contact", metadata: ["account": "\(owner)", "contact": "\(contact)"])
                continue
            }
            RosterXML.push(RosterXML.element(item), version: version, account: owner, context: context)
        }
        context.logger.info("invitation accepted", metadata: ["account": "\(account)", "inviter": "\(inviter)"])
    }
}
