import Foundation
import XMPPCore

/// The admin web UI's pages as HTML, from the values `AdminOperations` returns. Everything a
/// page shows that came from outside (addresses, names, client strings, messages) passes
/// through `escape`; pages carry no script, so the essential actions are plain forms.
enum AdminWebPages {
    /// What every page's frame needs: who is logged in, the CSRF token for its forms, and a
    /// message left by the last action.
    struct Frame {
        var account: JID?
        var csrfToken: String
        var notice: AdminWebSessions.Notice?
    }

    static let stylesheet = """
        body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
        header{background:#22313f;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
        header a{color:#fff;text-decoration:none}header a.here{text-decoration:underline}
        header strong{margin-right:1em}header form{margin-left:auto}
        main{padding:1em 1.4em;max-width:72em}
        table{border-collapse:collapse;background:#fff;margin:.5em 0 1.2em}
        th,td{border:1px solid #d0d5db;padding:.3em .6em;text-align:left;vertical-align:top}
        th{background:#eceff3}
        .tiles{display:flex;flex-wrap:wrap;gap:.8em;margin-bottom:1em}
        .tile{background:#fff;border:1px solid #d0d5db;padding:.6em 1em;min-width:10em}
        .tile b{display:block;font-size:1.5em}
        .notice{padding:.5em 1em;border:1px solid #7a9;background:#eaf6ee}
        .notice.error{border-color:#c66;background:#fbeaea}
        form.inline{display:inline}
        fieldset{background:#fff;border:1px solid #d0d5db;margin:.5em 0 1em;max-width:40em}
        label{display:block;margin:.3em 0}
        input[type=text],input[type=password],input[type=search],textarea,select{width:100%;box-sizing:border-box;padding:.3em}
        button{padding:.3em .9em;margin-top:.3em}
        button.danger{background:#b3261e;color:#fff;border:1px solid #8c1d17}
        """

    static func escape(_ text: String) -> String {
        var output = ""
        XMLSerializer.escape(text, attribute: true, into: &output)
        return output
    }

    /// A query string value, for links that carry an address.
    static func queryValue(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~@")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static let sections: [(path: String, title: String)] = [
        ("/admin/", "Dashboard"), ("/admin/accounts", "Accounts"), ("/admin/sessions", "Sessions"), ("/admin/rooms", "Rooms"), ("/admin/invitations", "Invitations"),
        ("/admin/status", "Server status"),
    ]

    static func page(_ title: String, path: String, frame: Frame, refreshSeconds: Int? = nil, body: String) -> String {
        var html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        if let refreshSeconds { html += "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">" }
        html += "<meta name=\"viewport\" content=\"width=device-width\"><title>\(escape(title)) · Starling</title>"
        html += "<link rel=\"stylesheet\" href=\"/admin/style.css\"></head><body><header><strong>Starling</strong>"
        if let account = frame.account {
            for section in self.sections {
                html += "<a href=\"\(section.path)\"\(section.path == path ? " class=\"here\"" : "")>\(section.title)</a>"
            }
            html += "<form method=\"post\" action=\"/admin/logout\">\(self.csrfField(frame))"
            html += "<span>\(escape(account.description))</span> <button type=\"submit\">Log out</button></form>"
        }
        html += "</header><main><h1>\(escape(title))</h1>"
        if let notice = frame.notice {
            html += "<p class=\"notice\(notice.isError ? " error" : "")\" id=\"notice\">\(escape(notice.text))</p>"
        }
        return html + body + "</main></body></html>\n"
    }

    static func csrfField(_ frame: Frame) -> String {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(escape(frame.csrfToken))\">"
    }

    /// A form that posts one action, with its hidden fields.
    static func actionForm(_ path: String, frame: Frame, fields: [String: String], button: String, danger: Bool = false, inline: Bool = true) -> String {
        var html = "<form method=\"post\" action=\"\(path)\"\(inline ? " class=\"inline\"" : "")>\(self.csrfField(frame))"
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            html += "<input type=\"hidden\" name=\"\(escape(name))\" value=\"\(escape(value))\">"
        }
        return html + "<button type=\"submit\"\(danger ? " class=\"danger\"" : "")>\(escape(button))</button></form>"
    }

    static func table(_ headings: [String], _ rows: [[String]], empty: String) -> String {
        guard !rows.isEmpty else { return "<p>\(escape(empty))</p>" }
        // A key/value table (no headings) has no heading row.
        var html = "<table>" + (headings.allSatisfy(\.isEmpty) ? "" : "<tr>" + headings.map { "<th>\(escape($0))</th>" }.joined() + "</tr>")
        for row in rows { html += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>" }
        return html + "</table>"
    }

    // MARK: - Login

    static func login(frame: Frame, account: String = "", secureEnough: Bool) -> String {
        guard secureEnough else {
            return self.page(
                "Log in", path: "/admin/login", frame: frame,
                body: "<p class=\"notice error\">Passwords are only taken over HTTPS or from this machine. "
                    + "Give the admin listener <code>tls: direct</code>, or reach it through an SSH tunnel.</p>")
        }
        let body = """
            <form method="post" action="/admin/login"><fieldset>\(self.csrfField(frame))
            <label>Administrator address <input type="text" name="account" value="\(escape(account))" autocomplete="username" required></label>
            <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
            <button type="submit">Log in</button></fieldset></form>
            <p>Only accounts listed in <code>admins</code> of the configuration may log in.</p>
            """
        return self.page("Log in", path: "/admin/login", frame: frame, body: body)
    }

    // MARK: - Dashboard

    static func dashboard(_ statistics: AdminServerStatistics, frame: Frame) -> String {
        func tile(_ label: String, _ value: String, id: String) -> String {
            "<div class=\"tile\" id=\"\(id)\"><b>\(escape(value))</b>\(escape(label))</div>"
        }
        var html = "<div class=\"tiles\">"
        html += tile("connected sessions", "\(statistics.sessions)", id: "sessions")
        html += tile("messages/s", String(format: "%.1f", statistics.messagesPerSecond), id: "message-rate")
        html += tile("memory (RSS)", statistics.residentMemoryBytes.map { Self.bytes($0) } ?? "unknown", id: "memory")
        html += tile("uptime", Self.duration(statistics.uptimeSeconds), id: "uptime")
        html += tile("federation links", "\(statistics.s2sOutboundLinks) out, \(statistics.s2sInboundStreams) in", id: "federation")
        html += tile("accounts", "\(statistics.registeredAccounts)", id: "accounts")
        html += tile("rooms in use (occupants)", "\(statistics.activeRooms) (\(statistics.roomOccupants))", id: "rooms")
        html += "</div><h2>Connections by transport</h2>"
        html += self.table(
            ["Transport", "Sessions"], statistics.sessionsByTransport.sorted { $0.key < $1.key }.map { [escape($0.key), "\($0.value)"] },
            empty: "No one is connected.")
        html += "<h2>Federation peers</h2>"
        html += self.table(["Remote domain"], statistics.s2sPeers.map { [escape($0)] }, empty: "No outbound server-to-server links.")
        html += "<p>\(statistics.messagesRouted) messages routed since \(escape(ISO8601DateFormatter().string(from: statistics.startedAt))). "
        html += "This page reloads every 15 seconds.</p>"
        return self.page("Dashboard", path: "/admin/", frame: frame, refreshSeconds: 15, body: html)
    }

    static func bytes(_ count: Int) -> String {
        count >= 1 << 30 ? String(format: "%.2f GiB", Double(count) / Double(1 << 30)) : String(format: "%.1f MiB", Double(count) / Double(1 << 20))
    }

    static func duration(_ seconds: Int) -> String {
        let days = seconds / 86_400
        let hours = seconds % 86_400 / 3600
        let minutes = seconds % 3600 / 60
        if days > 0 { return "\(days) d \(hours) h" }
        if hours > 0 { return "\(hours) h \(minutes) min" }
        return "\(minutes) min \(seconds % 60) s"
    }

    // MARK: - Accounts

    static func accounts(_ page: AdminAccountPage, search: String, hosts: [String], frame: Frame) -> String {
        var html = """
            <form method="get" action="/admin/accounts"><label>Search <input type="search" name="search" value="\(escape(search))"></label>
            <button type="submit">Search</button></form>
            <p>\(page.total) account\(page.total == 1 ? "" : "s")\(search.isEmpty ? "" : " match").</p>
            """
        html += self.table(
            ["Address", "Sessions", "State"],
            page.accounts.map { account in
                ["<a href=\"/admin/account?jid=\(queryValue(account.jid))\">\(escape(account.jid))</a>", "\(account.sessions)", account.disabled ? "disabled" : "active"]
            }, empty: "No accounts.")
        if let next = page.next {
            html += "<p><a href=\"/admin/accounts?search=\(queryValue(search))&amp;after=\(queryValue(next))\">Next page</a></p>"
        }
        html += """
            <h2>New account</h2><form method="post" action="/admin/accounts"><fieldset>\(self.csrfField(frame))
            <label>Address <input type="text" name="jid" placeholder="user@\(escape(hosts.first ?? "example.org"))" required></label>
            <label>Password <input type="password" name="password" autocomplete="new-password" required></label>
            <button type="submit">Create account</button></fieldset></form>
            """
        return self.page("Accounts", path: "/admin/accounts", frame: frame, body: html)
    }

    static func account(_ details: AdminAccountDetails, fastClients: [AdminFASTClient], frame: Frame) -> String {
        let jid = details.jid
        var html = "<p>\(details.disabled ? "Disabled" : "Active"); \(details.offlineMessages) offline message(s), "
        html += "\(details.archivedMessages) archived message(s)"
        for (name, count) in details.moduleData.sorted(by: { $0.key < $1.key }) { html += ", \(escape(name)): \(count)" }
        html += ".</p><h2>Sessions</h2>" + self.sessionTable(details.sessions, frame: frame)
        html += "<h2>Password</h2><form method=\"post\" action=\"/admin/account\"><fieldset>\(self.csrfField(frame))"
        html += "<input type=\"hidden\" name=\"jid\" value=\"\(escape(jid))\"><input type=\"hidden\" name=\"action\" value=\"password\">"
        html += "<label>New password <input type=\"password\" name=\"password\" autocomplete=\"new-password\" required></label>"
        html += "<button type=\"submit\">Change password</button></fieldset></form>"
        html += "<h2>Fast reconnection tokens (XEP-0484)</h2>"
        html += self.table(
            ["Client", "Mechanisms", "Expires"],
            fastClients.map { [escape($0.userAgent), escape($0.mechanisms.joined(separator: ", ")), escape(ISO8601DateFormatter().string(from: $0.expiresAt))] },
            empty: "None.")
        if !fastClients.isEmpty {
            html += self.actionForm("/admin/account", frame: frame, fields: ["jid": jid, "action": "revoke-fast"], button: "Revoke all tokens")
        }
        html += "<h2>Access</h2>"
        html += self.actionForm(
            "/admin/account", frame: frame, fields: ["jid": jid, "action": details.disabled ? "enable" : "disable"],
            button: details.disabled ? "Enable account" : "Disable account (ends its sessions)")
        html += """
            <h2>Delete</h2><form method="post" action="/admin/account"><fieldset>\(self.csrfField(frame))
            <input type="hidden" name="jid" value="\(escape(jid))"><input type="hidden" name="action" value="delete">
            <label><input type="checkbox" name="confirm" value="yes" required> Delete \(escape(jid)) and everything it stores</label>
            <button type="submit" class="danger">Delete account</button></fieldset></form>
            """
        return self.page(jid, path: "/admin/accounts", frame: frame, body: html)
    }

    // MARK: - Sessions

    static func sessionTable(_ sessions: [AdminSession], frame: Frame) -> String {
        self.table(
            ["Address", "From", "Transport", "Client", "Presence", "Stream management", ""],
            sessions.map { session in
                [
                    escape(session.jid), escape(session.address ?? "—"),
                    escape(session.transport.map { "\($0.rawValue)\(session.encrypted == true ? ", TLS" : "")" } ?? "—"),
                    escape(session.client ?? "—"), session.available ? "available (\(session.priority))" : "unavailable",
                    escape(session.streamManagement.rawValue),
                    self.actionForm("/admin/sessions", frame: frame, fields: ["jid": session.jid], button: "Kick", danger: true),
                ]
            }, empty: "No sessions.")
    }

    static func sessions(_ sessions: [AdminSession], frame: Frame) -> String {
        let html = "<p>\(sessions.count) session\(sessions.count == 1 ? "" : "s").</p>" + self.sessionTable(sessions, frame: frame)
        return self.page("Sessions", path: "/admin/sessions", frame: frame, body: html)
    }

    // MARK: - Server status

    static func status(_ statistics: AdminServerStatistics, hosts: [String], logLevel: String, levels: [String], frame: Frame) -> String {
        var html = self.table(
            ["", ""],
            [
                ["Hosted domains", escape(hosts.joined(separator: ", "))],
                ["Started", escape(ISO8601DateFormatter().string(from: statistics.startedAt))],
                ["Uptime", escape(Self.duration(statistics.uptimeSeconds))],
                ["Accounts", "\(statistics.registeredAccounts) (\(statistics.disabledAccounts) disabled)"],
                ["Sessions", "\(statistics.sessions)"],
                ["Memory (RSS)", escape(statistics.residentMemoryBytes.map { Self.bytes($0) } ?? "unknown")],
            ], empty: "")
        html += "<h2>Configuration</h2><p>Read the configuration file and the certificate again, as SIGHUP does: new connections get "
        html += "a renewed certificate; the log level and <code>admins</code> apply at once; other changes are named as needing a restart.</p>"
        html += self.actionForm("/admin/status", frame: frame, fields: ["action": "reload"], button: "Reload configuration")
        html += "<h2>Log level</h2><form method=\"post\" action=\"/admin/status\"><fieldset>\(self.csrfField(frame))"
        html += "<input type=\"hidden\" name=\"action\" value=\"log-level\"><label>Level <select name=\"level\">"
        for level in levels { html += "<option\(level == logLevel ? " selected" : "")>\(escape(level))</option>" }
        html += "</select></label><button type=\"submit\">Set</button></fieldset></form>"
        html += """
            <h2>Announcement to everyone online</h2><form method="post" action="/admin/status"><fieldset>\(self.csrfField(frame))
            <input type="hidden" name="action" value="announce">
            <label>Subject <input type="text" name="subject"></label>
            <label>Message <textarea name="body" rows="3" required></textarea></label>
            <button type="submit">Send</button></fieldset></form>
            """
        return self.page("Server status", path: "/admin/status", frame: frame, body: html)
    }

    static func message(_ title: String, _ text: String, frame: Frame) -> String {
        self.page(title, path: "", frame: frame, body: "<p>\(escape(text))</p><p><a href=\"/admin/\">Back to the dashboard</a></p>")
    }
}
