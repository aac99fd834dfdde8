import Foundation

/// The web UI's invitations page (XEP-0401, through `AdminOperations`): the open invitations,
/// a form that makes one, and a revoke button on each.
extension AdminWebPages {
    static func invitations(_ invitations: [AdminInvitation], hosts: [String], frame: Frame) -> String {
        let format = ISO8601DateFormatter()
        var html = "<p>An invitation's link and address are shown once, when it is made; the server keeps only a digest.</p>"
        html += self.table(
            ["Id", "Domain", "Contact of", "Uses left", "Expires", ""],
            invitations.map { invitation in
                [
                    escape(invitation.id), escape(invitation.domain), escape(invitation.rosterOf ?? "—"), "\(invitation.usesLeft)",
                    escape(format.string(from: invitation.expiresAt)),
                    """
                    <form class="inline" method="post" action="/admin/invitations">\(self.csrfField(frame))\
                    <input type="hidden" name="action" value="revoke"><input type="hidden" name="id" value="\(escape(invitation.id))">\
                    <button type="submit" class="danger">Revoke</button></form>
                    """,
                ]
            }, empty: "No open invitations.")
        let domains = hosts.map { "<option>\(escape($0))</option>" }.joined()
        html += """
            <h2>Invite</h2><form method="post" action="/admin/invitations"><fieldset>\(self.csrfField(frame))
            <input type="hidden" name="action" value="create">
            <label>Domain <select name="domain">\(domains)</select></label>
            <label>Accounts it may make <input type="number" name="uses" value="1" min="1" max="\(InvitationRequest.mostUses)"></label>
            <label>Good for (days) <input type="number" name="days" value="7" min="1" max="366"></label>
            <label>Make each new account a contact of (optional) <input type="text" name="roster_of" placeholder="alice@\(escape(hosts.first ?? "example.org"))"></label>
            <button type="submit">Make invitation</button></fieldset></form>
            """
        return self.page("Invitations", path: "/admin/invitations", frame: frame, body: html)
    }
}
