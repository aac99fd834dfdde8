import Foundation
import Yams

extension ServerConfiguration {
    /// Invitations: registration stays closed to everyone without one (unless
    /// `modules.registration` opens it), and an invitation can make its holder a contact.
    public struct InviteSettings: Sendable, Hashable {
        /// What an ordinary user's "invite a contact" command (XEP-0401) hands out.
        public enum UserInvites: String, Sendable, Hashable, CaseIterable {
            /// Nothing: only administrators invite.
            case none
            /// A subscription to the inviter, for someone who has an account anywhere (XEP-0379).
            case contacts
            /// That, and an account on this server for someone who has none.
            case accounts
        }

        /// Invitations work at all (registration by token, the commands, the landing page).
        public var enabled = true
        /// How long a new invitation stays good unless its maker says otherwise.
        public var lifetimeDays = 7
        public var userInvites = UserInvites.contacts
        /// Where the landing pages are, when the HTTP listener is behind a proxy; by default
        /// the HTTP listener's own address.
        public var publicURL: String?

        public init() {}
    }
}

extension ConfigurationLoader.Reader {
    mutating func readInvites(_ node: Node, into settings: inout ServerConfiguration.InviteSettings) {
        guard let entries = self.mapping(node, "invites", known: ["enabled", "lifetime_days", "user_invites", "public_url"]) else { return }
        for (key, value) in entries {
            switch key {
            case "enabled": settings.enabled = self.bool(value, "invites.enabled") ?? settings.enabled
            case "lifetime_days": settings.lifetimeDays = self.int(value, "invites.lifetime_days", range: 1...366) ?? settings.lifetimeDays
            case "user_invites": settings.userInvites = self.choice(value, "invites.user_invites", ServerConfiguration.InviteSettings.UserInvites.self) ?? settings.userInvites
            default:
                guard let url = self.optionalString(value, "invites.public_url") else {
                    settings.publicURL = nil
                    continue
                }
                if url.hasPrefix("https://") || url.hasPrefix("http://"), !url.contains(where: \.isWhitespace) {
                    settings.publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url
                } else {
                    self.fail("invites.public_url", "expected an http:// or https:// URL such as https://chat.example.org")
                }
            }
        }
    }
}
