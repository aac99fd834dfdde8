import Foundation

/// The web UI's chat-room pages (XEP-0045 rooms, through `AdminOperations`).
extension AdminWebPages {
    static func rooms(_ page: AdminRoomPage, services: [String], frame: Frame) -> String {
        var html = "<p>\(page.total) room\(page.total == 1 ? "" : "s") on \(escape(services.isEmpty ? "no chat-room service" : services.joined(separator: ", "))).</p>"
        html += self.table(
            ["Room", "Name", "Occupants", "Kind"],
            page.rooms.map { room in
                var kind = [room.persistent ? "persistent" : "temporary", room.isPublic ? "public" : "hidden"]
                if room.membersOnly { kind.append("members only") }
                if room.passwordProtected { kind.append("password") }
                return [
                    "<a href=\"/admin/room?jid=\(queryValue(room.jid))\">\(escape(room.jid))</a>", escape(room.name), "\(room.occupants)",
                    escape(kind.joined(separator: ", ")),
                ]
            }, empty: "No rooms.")
        if let next = page.next { html += "<p><a href=\"/admin/rooms?after=\(queryValue(next))\">Next page</a></p>" }
        return self.page("Rooms", path: "/admin/rooms", frame: frame, body: html)
    }

    static func room(_ room: AdminRoomDetails, frame: Frame) -> String {
        let configuration = room.configuration
        var html = self.table(
            ["", ""],
            [
                ["Name", escape(configuration.name)], ["Description", escape(configuration.description)],
                ["Subject", escape(room.subject) + (room.subjectBy.map { " (set by \(escape($0)))" } ?? "")],
                [
                    "Kind",
                    escape(
                        [
                            configuration.persistent ? "persistent" : "temporary", configuration.isPublic ? "public" : "hidden",
                            configuration.membersOnly ? "members only" : "open", configuration.moderated ? "moderated" : "unmoderated",
                            configuration.passwordProtected ? "password-protected" : "no password", room.locked ? "locked until configured" : "",
                        ].filter { !$0.isEmpty }.joined(separator: ", ")),
                ],
                ["Real addresses visible to", escape(configuration.realJIDsVisibleTo)],
                ["Archive", configuration.archived ? "on" : "off"],
                ["Occupant limit", configuration.maxOccupants.map(String.init) ?? "the service's"],
            ], empty: "")
        html += "<h2>Occupants</h2>"
        html += self.table(
            ["Nickname", "Role", "Affiliation", "Address", "Clients"],
            room.occupants.map { [escape($0.nick), escape($0.role), escape($0.affiliation), escape($0.jid), escape($0.sessions.joined(separator: ", "))] },
            empty: "Nobody is in the room.")
        html += "<h2>Affiliations</h2>"
        html += self.table(
            ["Address", "Affiliation", "Registered nickname", "Reason"],
            room.affiliations.map { [escape($0.jid), escape($0.affiliation), escape($0.nick ?? ""), escape($0.reason ?? "")] }, empty: "None.")
        html += """
            <h2>Destroy</h2><form method="post" action="/admin/room"><fieldset>\(self.csrfField(frame))
            <input type="hidden" name="jid" value="\(escape(room.jid))"><input type="hidden" name="action" value="destroy">
            <label>Reason told to the occupants <input type="text" name="reason"></label>
            <label><input type="checkbox" name="confirm" value="yes" required> Destroy \(escape(room.jid)), its configuration and its archive</label>
            <button type="submit" class="danger">Destroy room</button></fieldset></form>
            """
        return self.page(room.jid, path: "/admin/rooms", frame: frame, body: html)
    }
}
