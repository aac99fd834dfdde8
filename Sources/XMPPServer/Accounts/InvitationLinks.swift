import Foundation

/// The two forms an invitation is handed on in: the `xmpp:` URI a client opens (XEP-0401 §5,
/// XEP-0379 §3) and the HTTPS landing page for someone who has no client yet.
public enum InvitationLinks {
    /// Where landing pages live under the HTTP listener.
    public static let landingPrefix = "/invite/"

    public static func uri(_ invitation: Invitation, token: InvitationToken) -> String {
        guard let inviter = invitation.inviter else {
            return "xmpp:\(invitation.domain)?register;preauth=\(token)"
        }
        return "xmpp:\(inviter)?roster;preauth=\(token)" + (invitation.mayRegister ? ";ibr=y" : "")
    }

    /// nil when the server has no HTTP listener and no `invites.public_url`.
    public static func landingURL(base: String?, token: InvitationToken) -> String? {
        base.map { $0 + Self.landingPrefix + token.description }
    }

    /// The landing pages' base as the configuration gives it: `invites.public_url`, else the
    /// first HTTP listener (HTTPS first) at the domain's name. For the CLI, which runs without
    /// the server's bound ports; the server itself uses the ports it bound.
    public static func configuredBase(_ configuration: ServerConfiguration, domain: String) -> String? {
        if let url = configuration.invites.publicURL { return url }
        let http = configuration.listeners.filter { $0.kind == .http }
        guard let listener = http.first(where: { $0.tls == .direct }) ?? http.first else { return nil }
        return "\(listener.tls == .direct ? "https" : "http")://\(domain):\(listener.port)"
    }
}
