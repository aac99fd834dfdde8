import Foundation
import XMPPCore
import XMPPStorage
import XMPPStream

/// In-band registration before authentication (XEP-0077 §3.1), with a limit per IP address:
/// open to everyone, or only to holders of an invitation (XEP-0445), who present its token in
/// a `<preauth/>` request first.
final class RegistrationService: @unchecked Sendable {
    static let namespace = "jabber:iq:register"

    private let accounts: AccountManager
    /// Anyone may register, without an invitation (`modules.registration`).
    private let open: Bool
    private let invitations: InvitationStore?
    private let perHour: Int
    private let recent = LockedBox<[String: [Date]]>([:])
    /// Tells modules of the new account (the welcome message) and of the invitation it used.
    private let created: @Sendable (JID, Invitation?) async -> Void

    init(
        accounts: AccountManager, open: Bool, invitations: InvitationStore?, perHour: Int,
        created: @escaping @Sendable (JID, Invitation?) async -> Void = { _, _ in }
    ) {
        self.accounts = accounts
        self.open = open
        self.invitations = invitations
        self.perHour = perHour
        self.created = created
    }

    /// Answers a registration or `<preauth/>` IQ for the stream's domain. `presented` is the
    /// token the stream accepted earlier; the answer says which token the stream holds after.
    func answer(_ request: Element, domain: String, address: String, presented: String?) async -> (reply: Element, presented: String?) {
        if request.iqPayload?.namespace == C2SStreamStateMachine.preauthNamespace {
            return await self.preauthenticate(request, domain: domain, presented: presented)
        }
        // The form (a get) is no secret: clients ask for it before they present a token.
        guard self.open || presented != nil || request.stanzaType == "get" else {
            return (request.errorReply(StanzaError(.notAllowed, text: "registration on this server needs an invitation")), nil)
        }
        return (await self.register(request, domain: domain, address: address, presented: presented), presented)
    }

    /// XEP-0445 §3: the token is checked now and used when the account is made.
    private func preauthenticate(_ request: Element, domain: String, presented: String?) async -> (reply: Element, presented: String?) {
        guard let invitations = self.invitations, request.stanzaType == "set", let token = request.iqPayload?[attribute: "token"] else {
            return (request.errorReply(StanzaError(.badRequest, text: "expected <preauth token='…'/> in an IQ set")), presented)
        }
        do {
            switch try await invitations.check(token, domains: [domain]) {
            case .success(let invitation) where invitation.mayRegister:
                return (request.iqResult(), token)
            case .success:
                return (request.errorReply(StanzaError(.notAllowed, text: "this invitation makes contacts, not accounts")), presented)
            case .failure(.expired):
                return (request.errorReply(StanzaError(.gone, text: "this invitation has expired")), presented)
            case .failure(.invalid):
                return (request.errorReply(StanzaError(.itemNotFound, text: "this invitation is not valid")), presented)
            }
        } catch {
            return (request.errorReply(StanzaError(.internalServerError)), presented)
        }
    }

    private func register(_ request: Element, domain: String, address: String, presented: String?) async -> Element {
        switch request.stanzaType {
        case "get":
            var query = Element(name: "query", namespace: Self.namespace)
            let instructions = self.open || presented != nil ? "Choose a username and password." : "Registration needs an invitation: open its link first."
            query.append(Element("instructions", namespace: Self.namespace, text: instructions))
            query.append(Element(name: "username", namespace: Self.namespace))
            query.append(Element(name: "password", namespace: Self.namespace))
            return request.iqResult(payload: query)
        case "set":
            guard let query = request.iqPayload else { return request.errorReply(StanzaError(.badRequest)) }
            if query.child(named: "remove") != nil {
                return request.errorReply(StanzaError(.notAuthorized, text: "log in to remove an account"))
            }
            guard let username = query.child(named: "username")?.text, !username.isEmpty,
                let password = query.child(named: "password")?.text, !password.isEmpty
            else {
                return request.errorReply(StanzaError(.badRequest, text: "a username and a password are required"))
            }
            guard self.allow(address) else {
                return request.errorReply(StanzaError(.resourceConstraint, text: "too many registrations from this address; try again later"))
            }
            var invitation: Invitation?
            if let presented, let invitations = self.invitations {
                // Used before the account is made, so two registrations cannot share its last use;
                // given back when the account cannot be made.
                switch try? await invitations.redeem(presented, domains: [domain], checkingExpiry: false) {
                case .success(let used): invitation = used
                default: return request.errorReply(StanzaError(.notAllowed, text: "this invitation is not valid any more (used up or revoked)"))
                }
            }
            do {
                let account = try await self.accounts.create("\(username)@\(domain)", password: password)
                await self.created(account, invitation)
                return request.iqResult()
            } catch {
                if let invitation { try? await self.invitations?.giveBack(invitation) }
                switch error {
                case .storage(.accountExists): return request.errorReply(StanzaError(.conflict, text: "that username is taken"))
                case .storage(.confusable): return request.errorReply(StanzaError(.conflict, text: error.description))
                case .malformedAddress, .username: return request.errorReply(StanzaError(.notAcceptable, text: error.description))
                case .password: return request.errorReply(StanzaError(.notAcceptable, text: error.description))
                default: return request.errorReply(StanzaError(.internalServerError))
                }
            }
        default:
            return request.errorReply(StanzaError(.badRequest))
        }
    }

    /// A sliding one-hour window per address.
    private func allow(_ address: String) -> Bool {
        let now = Date()
        return self.recent.withLock { recent in
            var times = (recent[address] ?? []).filter { now.timeIntervalSince($0) < 3600 }
            guard times.count < self.perHour else {
                recent[address] = times
                return false
            }
            times.append(now)
            recent[address] = times
            return true
        }
    }
}
