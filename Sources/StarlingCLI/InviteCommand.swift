import ArgumentParser
import Foundation
import XMPPCore
import XMPPServer

/// `starling invite`: invitations (XEP-0401), kept hashed in the database like API tokens.
struct InviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Create, list and revoke invitations to register (and to become someone's contact).",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an invitation and print its xmpp: URI and landing page URL (the database keeps only a digest).")

        @Option(name: .long, help: "How many accounts it may make (1 to \(InvitationRequest.mostUses)).")
        var reusable: Int = 1

        @Option(name: .long, help: "Lifetime: days (7d) or hours (12h), at most 366d; invites.lifetime_days by default.")
        var expires: String?

        @Option(name: .customLong("roster-of"), help: "An account of this server the new users become contacts of, both ways.")
        var rosterOf: String?

        @OptionGroup var options: ConfigurationOptions

        func validate() throws {
            guard (1...InvitationRequest.mostUses).contains(self.reusable) else {
                throw ValidationError("--reusable must be from 1 to \(InvitationRequest.mostUses), not \(self.reusable)")
            }
            if let expires = self.expires { _ = try Lifetime.parse(expires) }
            if let rosterOf = self.rosterOf {
                guard let jid = try? JID(rosterOf), jid.localpart != nil, jid.resourcepart == nil else {
                    throw ValidationError("--roster-of must be an account's address such as alice@example.org, not \(rosterOf)")
                }
            }
        }

        func run() async throws {
            let configuration = try self.options.load()
            guard configuration.invites.enabled else { throw CLIError("invitations are off (invites.enabled: false in the configuration)") }
            let lifetime = try self.expires.map(Lifetime.parse) ?? TimeInterval(configuration.invites.lifetimeDays * 86_400)
            let inviter = try self.rosterOf.map { try JID($0).bare }
            try await StorageCommand.run(self.options) { storage, hosts in
                let domain = inviter?.domainpart ?? self.options.domain ?? hosts[0]
                guard hosts.contains(domain) else { throw CLIError("\(domain) is not a domain this server hosts (\(hosts.joined(separator: ", ")))") }
                if let inviter, try await !storage.accounts.accountExists(inviter) {
                    throw CLIError("no account \(inviter): --roster-of needs an existing account")
                }
                let request = InvitationRequest(kind: .account, domain: domain, inviter: inviter, uses: self.reusable, lifetime: lifetime, createdBy: "cli")
                if let problem = request.problem { throw CLIError(problem) }
                let store = InvitationStore(backend: storage)
                try await store.purgeExpired()
                let (token, invitation) = try await store.create(request)
                print(InvitationLinks.uri(invitation, token: token))
                if let landing = InvitationLinks.landingURL(base: InvitationLinks.configuredBase(configuration, domain: domain), token: token) {
                    print(landing)
                }
                FileHandle.standardError.write(
                    Data("invitation \(invitation.id) for \(invitation.usesLeft) account(s) expires \(ISO8601DateFormatter().string(from: invitation.expiresAt)); it is shown only now\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List invitations not used up (never their tokens).")

        @OptionGroup var options: ConfigurationOptions

        func run() async throws {
            try await StorageCommand.run(self.options) { storage in
                let invitations = try await InvitationStore(backend: storage).list()
                if invitations.isEmpty { print("no invitations") }
                let format = ISO8601DateFormatter()
                let now = Date()
                for invitation in invitations {
                    let state = invitation.isExpired(at: now) ? "expired" : "expires"
                    let roster = invitation.inviter.map { "  roster of \($0)" } ?? ""
                    print("\(invitation.id)  \(invitation.kind.rawValue)  \(invitation.domain)  uses left \(invitation.usesLeft)  \(state) \(format.string(from: invitation.expiresAt))\(roster)")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an invitation by its id, as `starling invite list` shows it.")

        @Argument(help: "The invitation's id (16 lowercase hex digits).")
        var id: String

        @OptionGroup var options: ConfigurationOptions

        func validate() throws {
            guard self.id.utf8.count == 16, self.id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw ValidationError("\(self.id) is not an invitation id: ids are 16 lowercase hex digits, as `starling invite list` shows them")
            }
        }

        func run() async throws {
            try await StorageCommand.run(self.options) { storage in
                guard try await InvitationStore(backend: storage).revoke(id: self.id) else { throw CLIError("no invitation \(self.id)") }
                print("revoked invitation \(self.id)")
            }
        }
    }
}
