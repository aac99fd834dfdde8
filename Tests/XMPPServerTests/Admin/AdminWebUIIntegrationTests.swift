import Foundation
import Testing
import XMPPClient
import XMPPCore
@testable import XMPPServer

/// The admin web UI over a real `kind: admin` listener, as a browser without JavaScript uses
/// it: a cookie jar of one cookie, forms posted with their hidden CSRF field. (A real Chromium
/// drives it in scripts/check-admin-ui.sh.)
@Suite("Admin web UI over real sockets")
struct AdminWebUIIntegrationTests {
    /// What a browser keeps between requests to the UI.
    struct Browser {
        let port: Int
        var cookie: String?
        var origin: String { "http://localhost:\(self.port)" }

        typealias Answer = (status: Int, headers: [String: String], body: String)

        mutating func get(_ path: String) async throws -> Answer {
            try await self.send("GET", path, headers: [:], body: "")
        }

        /// Posts a form as a browser does: url-encoded, with this origin.
        mutating func post(_ path: String, _ fields: [String: String], headers: [String: String] = [:]) async throws -> Answer {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            let body = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
                .joined(separator: "&")
            var headers = headers
            if headers["Content-Type"] == nil { headers["Content-Type"] = "application/x-www-form-urlencoded" }
            if headers["Origin"] == nil { headers["Origin"] = self.origin }
            return try await self.send("POST", path, headers: headers, body: body)
        }

        private mutating func send(_ method: String, _ path: String, headers: [String: String], body: String) async throws -> Answer {
            var headers = headers
            if let cookie, headers["Cookie"] == nil { headers["Cookie"] = "\(AdminWebSessions.cookieName)=\(cookie)" }
            let answer = try await httpRequest(port: self.port, method: method, path: path, headers: headers, body: body)
            if let set = answer.headers["set-cookie"], let value = set.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last {
                self.cookie = set.contains("Max-Age=0") ? nil : String(value)
            }
            return answer
        }

        /// The CSRF token the page's forms carry.
        static func csrf(_ page: String) -> String? {
            guard let range = page.range(of: "name=\"csrf\" value=\"") else { return nil }
            return String(page[range.upperBound...].prefix { $0 != "\"" })
        }

        /// Opens the login page and logs in; returns the CSRF token of the dashboard's forms.
        mutating func logIn(_ account: String = "admin@localhost", password: String = "admin-password") async throws -> String {
            let form = try await self.get("/admin/login")
            let token = try #require(Self.csrf(form.body))
            let answer = try await self.post("/admin/login", ["csrf": token, "account": account, "password": password])
            #expect(answer.status == 303 && answer.headers["location"] == "/admin/", "login answered \(answer.status): \(answer.body)")
            let dashboard = try await self.get("/admin/")
            #expect(dashboard.status == 200)
            return try #require(Self.csrf(dashboard.body))
        }
    }

    static func withUI(_ body: (TestServer, Browser) async throws -> Void) async throws {
        try await withServer(configure: { configuration in
            configuration.admins = ["admin@localhost"]
            configuration.listeners.append(.init(kind: .admin, addresses: ["127.0.0.1"], port: 0, tls: .none))
            configuration.adminAPI.requestsPerSecond = 1000
            configuration.adminAPI.burst = 1000
        }) { server in
            try await server.addUser("admin", password: "admin-password")
            let port = server.server.boundListeners.first { $0.listener.kind == .admin }?.address.port ?? 0
            try await body(server, Browser(port: port))
        }
    }

    @Test("the login sets a cookie that is HttpOnly, Secure and SameSite=Strict, and a new one on success")
    func loginCookie() async throws {
        try await Self.withUI { _, browser in
            var browser = browser
            let form = try await browser.get("/admin/login")
            let cookie = try #require(form.headers["set-cookie"])
            #expect(cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/admin"))
            #expect(form.headers["content-security-policy"]?.contains("frame-ancestors 'none'") == true)
            #expect(form.headers["cache-control"] == "no-store")
            let before = browser.cookie
            _ = try await browser.logIn()
            #expect(browser.cookie != nil && browser.cookie != before, "logging in must replace the pre-login session")
            // The pre-login cookie is worth nothing afterwards (session fixation).
            var planted = Browser(port: browser.port, cookie: before)
            #expect(try await planted.get("/admin/sessions").status == 303)
        }
    }

    @Test("pages need a logged-in administrator: without a cookie, with a forged one, or as a non-admin")
    func pagesNeedLogin() async throws {
        try await Self.withUI { server, browser in
            var browser = browser
            for path in ["/admin/", "/admin/accounts", "/admin/sessions", "/admin/status", "/admin/account?jid=admin@localhost"] {
                let answer = try await browser.get(path)
                #expect(answer.status == 303 && answer.headers["location"] == "/admin/login", "\(path) answered \(answer.status)")
            }
            var forged = Browser(port: browser.port, cookie: String(repeating: "ab", count: 32))
            #expect(try await forged.get("/admin/").headers["location"] == "/admin/login")
            #expect(try await forged.post("/admin/accounts", ["csrf": "x", "jid": "mallory@localhost", "password": "p-123456"]).status == 403)
            #expect(try await server.server.storage.accounts.accountExists(JID("mallory@localhost")) == false)
            // A correct password of an account that is not an administrator is refused like a wrong one.
            try await server.addUser("alice", password: "alice-password")
            let form = try await browser.get("/admin/login")
            let refused = try await browser.post("/admin/login", ["csrf": try #require(Browser.csrf(form.body)), "account": "alice@localhost", "password": "alice-password"])
            #expect(refused.status == 401 && refused.body.contains("Wrong address or password"))
        }
    }

    @Test("a wrong password is refused, and guessing ends in the XMPP logins' lockout")
    func wrongPassword() async throws {
        try await withServer(configure: { configuration in
            configuration.admins = ["admin@localhost"]
            configuration.listeners.append(.init(kind: .admin, addresses: ["127.0.0.1"], port: 0, tls: .none))
            configuration.limits.authenticationLockoutFailures = 3
        }) { server in
            try await server.addUser("admin", password: "admin-password")
            var browser = Browser(port: server.server.boundListeners.first { $0.listener.kind == .admin }?.address.port ?? 0)
            let token = try #require(Browser.csrf(try await browser.get("/admin/login").body))
            var statuses: [Int] = []
            for _ in 0..<3 {
                statuses.append(try await browser.post("/admin/login", ["csrf": token, "account": "admin@localhost", "password": "guess"]).status)
            }
            #expect(statuses == [401, 401, 401])
            // Now even the right password is refused until the window passes.
            let locked = try await browser.post("/admin/login", ["csrf": token, "account": "admin@localhost", "password": "admin-password"])
            #expect(locked.status == 429)
            #expect(try await browser.get("/admin/").status == 303)
        }
    }

    @Test("a form without the session's CSRF token, or from another origin, changes nothing")
    func csrf() async throws {
        try await Self.withUI { server, browser in
            var browser = browser
            let token = try await browser.logIn()
            let fields = ["jid": "eve@localhost", "password": "eve-password"]
            #expect(try await browser.post("/admin/accounts", fields).status == 403)
            #expect(try await browser.post("/admin/accounts", fields.merging(["csrf": String(repeating: "0", count: 64)]) { $1 }).status == 403)
            let elsewhere = try await browser.post("/admin/accounts", fields.merging(["csrf": token]) { $1 }, headers: ["Origin": "https://evil.example"])
            #expect(elsewhere.status == 403)
            #expect(try await browser.post("/admin/accounts", fields.merging(["csrf": token]) { $1 }, headers: ["Origin": "null"]).status == 403)
            // A login form without its token cannot log a browser in either (login CSRF).
            var fresh = Browser(port: browser.port)
            _ = try await fresh.get("/admin/login")
            #expect(try await fresh.post("/admin/login", ["account": "admin@localhost", "password": "admin-password"]).status == 403)
            #expect(try await server.server.storage.accounts.accountExists(JID("eve@localhost")) == false)
            // The same form with the token and from this origin works.
            let created = try await browser.post("/admin/accounts", fields.merging(["csrf": token]) { $1 })
            #expect(created.status == 303)
            #expect(try await server.server.storage.accounts.accountExists(JID("eve@localhost")))
        }
    }

    @Test("an administrator creates an account, sees its session, kicks it, and disables and deletes the account")
    func accountLifecycle() async throws {
        try await Self.withUI { server, browser in
            var browser = browser
            let token = try await browser.logIn()
            let created = try await browser.post("/admin/accounts", ["csrf": token, "jid": "carol@localhost", "password": "carol-password"])
            #expect(created.status == 303 && created.headers["location"] == "/admin/account?jid=carol@localhost")
            let page = try await browser.get("/admin/account?jid=carol@localhost")
            #expect(page.body.contains("Created carol@localhost."))

            let client = try await server.login("carol", password: "carol-password", resource: "phone")
            let sessions = try await browser.get("/admin/sessions")
            #expect(sessions.body.contains("carol@localhost/phone"))
            let dashboard = try await browser.get("/admin/")
            #expect(dashboard.body.contains("id=\"sessions\"><b>1</b>"))
            let kicked = try await browser.post("/admin/sessions", ["csrf": token, "jid": "carol@localhost/phone"])
            #expect(kicked.status == 303)
            #expect(await AdminAPIIntegrationTests.streamEnd(client) == .policyViolation)
            #expect(try await browser.get("/admin/sessions").body.contains("Ended 1 session(s) of carol@localhost/phone."))

            #expect(try await browser.post("/admin/account", ["csrf": token, "jid": "carol@localhost", "action": "disable"]).status == 303)
            await #expect(throws: (any Error).self) { try await server.login("carol", password: "carol-password") }
            // Deleting needs the confirmation box.
            _ = try await browser.post("/admin/account", ["csrf": token, "jid": "carol@localhost", "action": "delete"])
            #expect(try await server.server.storage.accounts.accountExists(JID("carol@localhost")))
            #expect(try await browser.get("/admin/account?jid=carol@localhost").body.contains("tick the box"))
            _ = try await browser.post("/admin/account", ["csrf": token, "jid": "carol@localhost", "action": "delete", "confirm": "yes"])
            #expect(try await server.server.storage.accounts.accountExists(JID("carol@localhost")) == false)
        }
    }

    @Test("the rooms page lists a room with its occupant; the room page shows them; destroying it needs the box and tells the occupant why")
    func rooms() async throws {
        try await Self.withUI { server, browser in
            var browser = browser
            let token = try await browser.logIn()
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            try await alice.createRoom(MUC.room("lobby"), as: "Alice", ["muc#roomconfig_persistentroom": ["1"], "muc#roomconfig_roomname": ["The <Lobby>"]])
            let list = try await browser.get("/admin/rooms")
            #expect(list.body.contains("lobby@conference.localhost") && list.body.contains("The &lt;Lobby&gt;"))
            #expect(try await browser.get("/admin/").body.contains("id=\"rooms\"><b>1 (1)</b>"))
            let page = try await browser.get("/admin/room?jid=lobby@conference.localhost")
            #expect(page.body.contains("Alice") && page.body.contains("alice@localhost") && page.body.contains("moderator"))
            _ = try await browser.post("/admin/room", ["csrf": token, "jid": "lobby@conference.localhost", "action": "destroy", "reason": "Spring cleaning"])
            #expect(try await browser.get("/admin/room?jid=lobby@conference.localhost").body.contains("tick the box"))
            let destroyed = try await browser.post(
                "/admin/room", ["csrf": token, "jid": "lobby@conference.localhost", "action": "destroy", "reason": "Spring cleaning", "confirm": "yes"])
            #expect(destroyed.headers["location"] == "/admin/rooms")
            let presence = try await alice.presence(from: MUC.occupant("lobby", "Alice"), type: "unavailable")
            #expect(presence.child(named: "x", namespace: MUC.user)?.child(named: "destroy")?.child(named: "reason")?.text == "Spring cleaning")
            #expect(try await browser.get("/admin/rooms").body.contains("Destroyed lobby@conference.localhost."))
            #expect(try await browser.get("/admin/room?jid=lobby@conference.localhost").status == 404)
            await alice.close()
        }
    }

    @Test("an administrator makes an invitation and sees its token once, then only its id; bad numbers are an error; revoking removes it")
    func invitations() async throws {
        try await Self.withUI { server, browser in
            var browser = browser
            let token = try await browser.logIn()
            #expect(try await browser.get("/admin/invitations").body.contains("No open invitations."))
            let made = try await browser.post(
                "/admin/invitations", ["csrf": token, "action": "create", "domain": "localhost", "uses": "3", "days": "2", "roster_of": "admin@localhost"])
            #expect(made.headers["location"] == "/admin/invitations")
            let shown = try await browser.get("/admin/invitations").body
            let uri = try #require(shown.components(separatedBy: "xmpp:admin@localhost?roster;preauth=").dropFirst().first?.prefix(48))
            let stored = try await server.server.admin.listInvitations()
            #expect(stored.count == 1 && stored.first?.usesLeft == 3 && stored.first?.rosterOf == "admin@localhost")
            let id = try #require(stored.first?.id)
            #expect(uri.hasPrefix(id))
            // The notice went with that page: the token is not shown again.
            let again = try await browser.get("/admin/invitations").body
            #expect(!again.contains(String(uri)) && again.contains(id))
            _ = try await browser.post("/admin/invitations", ["csrf": token, "action": "create", "domain": "localhost", "uses": "many", "days": "2"])
            #expect(try await browser.get("/admin/invitations").body.contains("uses and days are whole numbers"))
            _ = try await browser.post("/admin/invitations", ["csrf": token, "action": "create", "domain": "localhost", "uses": "1", "days": "400"])
            #expect(try await browser.get("/admin/invitations").body.contains("366 days"))
            _ = try await browser.post("/admin/invitations", ["action": "revoke", "id": id])
            #expect(try await server.server.admin.listInvitations().count == 1, "a form without the CSRF token revoked")
            _ = try await browser.post("/admin/invitations", ["csrf": token, "action": "revoke", "id": id])
            #expect(try await server.server.admin.listInvitations().isEmpty)
            #expect(try await browser.get("/admin/invitations").body.contains("Revoked invitation \(id)."))
        }
    }

    @Test("what pages show is escaped, and bad input is an error on the page, not a crash")
    func escapingAndBadInput() async throws {
        try await Self.withUI { _, browser in
            var browser = browser
            let token = try await browser.logIn()
            let search = try await browser.get("/admin/accounts?search=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            #expect(search.status == 200 && !search.body.contains("<script>") && search.body.contains("&lt;script&gt;"))
            _ = try await browser.post("/admin/accounts", ["csrf": token, "jid": "not an address", "password": "p-123456"])
            let back = try await browser.get("/admin/accounts")
            #expect(back.body.contains("class=\"notice error\""))
            #expect(try await browser.get("/admin/account?jid=nobody@localhost").status == 404)
            #expect(try await browser.get("/admin/%2e%2e/api/v1/status").status == 400)
            #expect(try await browser.get("/admin/nothing-here").status == 404)
            let huge = try await browser.post("/admin/status", ["csrf": token, "action": "announce", "body": String(repeating: "x", count: 70_000)])
            #expect(huge.status == 413)
            #expect(try await browser.post("/admin/status", ["csrf": token, "action": "log-level", "level": "loud"]).status == 303)
            #expect(try await browser.get("/admin/status").body.contains("choose a log level"))
            // The status page's reload button reads the configuration again, as SIGHUP does.
            #expect(try await browser.post("/admin/status", ["csrf": token, "action": "reload"]).status == 303)
            #expect(try await browser.get("/admin/status").body.contains("Reloaded"))
        }
    }

    @Test("a new password or the account's deletion ends its web UI sessions, whatever changed it")
    func staleSessions() async throws {
        try await Self.withUI { server, browser in
            var browser = browser
            _ = try await browser.logIn()
            #expect(try await browser.get("/admin/sessions").status == 200)
            // Changed elsewhere than in the UI: the admin API's operation (the CLI's passwd and
            // XEP-0077 write the same credentials).
            try await server.server.admin.changePassword("admin@localhost", password: "a-new-password")
            #expect(try await browser.get("/admin/sessions").headers["location"] == "/admin/login")
            var again = Browser(port: browser.port)
            _ = try await again.logIn(password: "a-new-password")
            #expect(try await again.get("/admin/sessions").status == 200)
        }
    }

    @Test("logging out ends the session on the server")
    func logout() async throws {
        try await Self.withUI { _, browser in
            var browser = browser
            let token = try await browser.logIn()
            let session = browser.cookie
            let out = try await browser.post("/admin/logout", ["csrf": token])
            #expect(out.status == 303 && out.headers["set-cookie"]?.contains("Max-Age=0") == true)
            var replay = Browser(port: browser.port, cookie: session)
            #expect(try await replay.get("/admin/").headers["location"] == "/admin/login")
        }
    }
}
