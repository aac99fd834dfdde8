import Foundation
import Testing
import XMPPCore
import XMPPStorage

@testable import XMPPServer

@Suite("Invitations: stored hashed, counted, expiring, revocable")
struct InvitationStoreTests {
    static func request(uses: Int = 1, lifetime: TimeInterval = 3_600, inviter: String? = nil) throws -> InvitationRequest {
        InvitationRequest(kind: .account, domain: "example.org", inviter: try inviter.map { try JID($0) }, uses: uses, lifetime: lifetime, createdBy: "test")
    }

    @Test("the stored document holds the secret's digest, never the token")
    func storedHashed() async throws {
        let backend = InMemoryStorage()
        let (token, invitation) = try await InvitationStore(backend: backend).create(try Self.request())
        let stored = try await backend.moduleData.transaction(module: "invites") { try $0.document("invitations", key: token.id)?.value }
        #expect(stored?.contains(token.secret) == false)
        #expect(stored?.contains(invitation.secretDigest) == true)
        #expect(token.description.count == 48)
    }

    @Test("a reusable invitation is used as often as it says, then it is gone")
    func usesCounted() async throws {
        let store = InvitationStore(backend: InMemoryStorage())
        let (token, _) = try await store.create(try Self.request(uses: 2))
        #expect(try await store.redeem(token.description, domains: ["example.org"]).map(\.usesLeft) == .success(2))
        #expect(try await store.check(token.description, domains: ["example.org"]).map(\.usesLeft) == .success(1))
        #expect(try await store.redeem(token.description, domains: ["example.org"]).map(\.usesLeft) == .success(1))
        #expect(try await store.redeem(token.description, domains: ["example.org"]) == .failure(.invalid))
        #expect(try await store.list().isEmpty)
    }

    @Test("redeemed for an inviter, only that inviter's invitation is used; another's is left as it was")
    func redeemForInviter() async throws {
        let store = InvitationStore(backend: InMemoryStorage())
        let (token, _) = try await store.create(try Self.request(inviter: "alice@example.org"))
        #expect(try await store.redeem(token.description, domains: ["example.org"], inviter: "bob@example.org") == .failure(.invalid))
        #expect(try await store.check(token.description, domains: ["example.org"]).map(\.usesLeft) == .success(1))
        #expect(try await store.redeem(token.description, domains: ["example.org"], inviter: "alice@example.org").map(\.inviter) == .success("alice@example.org"))
    }

    @Test("a use given back after a failed registration counts again; a revoked invitation stays gone")
    func giveBack() async throws {
        let store = InvitationStore(backend: InMemoryStorage())
        let (token, _) = try await store.create(try Self.request())
        let used = try await store.redeem(token.description, domains: ["example.org"]).get()
        try await store.giveBack(used)
        #expect(try await store.check(token.description, domains: ["example.org"]).map(\.usesLeft) == .success(1))

        let (other, _) = try await store.create(try Self.request(uses: 3))
        let taken = try await store.redeem(other.description, domains: ["example.org"]).get()
        #expect(try await store.revoke(id: other.id))
        try await store.giveBack(taken)
        #expect(try await store.check(other.description, domains: ["example.org"]) == .failure(.invalid))
    }

    @Test("wrong secret, another domain, malformed text: invalid; past its lifetime: expired")
    func refusals() async throws {
        let store = InvitationStore(backend: InMemoryStorage())
        let start = Date()
        let (token, _) = try await store.create(try Self.request(lifetime: 60), now: start)
        let stranger = InvitationToken.generate()
        let wrongSecret = token.id + stranger.secret
        for presented in [wrongSecret, stranger.description, "", token.id, token.description.uppercased(), token.description + "0", "../" + token.description] {
            #expect(try await store.check(presented, domains: ["example.org"], now: start) == .failure(.invalid), "\(presented)")
        }
        #expect(try await store.check(token.description, domains: ["example.net"], now: start) == .failure(.invalid))
        #expect(try await store.redeem(token.description, domains: ["example.org"], now: start.addingTimeInterval(60)) == .failure(.expired))
        #expect(try await store.check(token.description, domains: ["example.org"], now: start.addingTimeInterval(59)).map(\.id) == .success(token.id))
    }

    @Test("requests out of bounds are named: uses, lifetime, an inviter of another domain, a contact invitation without one")
    func requestProblems() throws {
        #expect(try Self.request(uses: 0).problem != nil)
        #expect(try Self.request(uses: InvitationRequest.mostUses + 1).problem != nil)
        #expect(try Self.request(lifetime: 0).problem != nil)
        #expect(try Self.request(lifetime: InvitationRequest.longestLifetime + 1).problem != nil)
        #expect(try Self.request(inviter: "alice@example.net").problem?.contains("not an account of example.org") == true)
        #expect(InvitationRequest(kind: .contact, domain: "example.org", lifetime: 60, createdBy: "t").problem != nil)
        #expect(try Self.request(uses: 5, inviter: "alice@example.org").problem == nil)
    }

    @Test("the xmpp: URIs of XEP-0401 and XEP-0379, and the landing page URL")
    func links() async throws {
        let store = InvitationStore(backend: InMemoryStorage())
        let (accountToken, account) = try await store.create(try Self.request())
        #expect(InvitationLinks.uri(account, token: accountToken) == "xmpp:example.org?register;preauth=\(accountToken)")
        let (rosterToken, roster) = try await store.create(try Self.request(inviter: "alice@example.org"))
        #expect(InvitationLinks.uri(roster, token: rosterToken) == "xmpp:alice@example.org?roster;preauth=\(rosterToken);ibr=y")
        let contactRequest = InvitationRequest(kind: .contact, domain: "example.org", inviter: try JID("alice@example.org"), lifetime: 60, createdBy: "t")
        let (contactToken, contact) = try await store.create(contactRequest)
        #expect(InvitationLinks.uri(contact, token: contactToken) == "xmpp:alice@example.org?roster;preauth=\(contactToken)")
        #expect(InvitationLinks.landingURL(base: "https://chat.example.org", token: contactToken) == "https://chat.example.org/invite/\(contactToken)")
        #expect(InvitationLinks.landingURL(base: nil, token: contactToken) == nil)
    }
}
