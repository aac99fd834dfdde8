import Foundation
import Testing
import XMPPCore
@testable import XMPPServer

@Suite("Admin web UI sessions and request decisions")
struct AdminWebSessionsTests {
    @Test("a session lives while used, ends when idle or old, and its notice is shown once")
    func lifetime() throws {
        let sessions = AdminWebSessions()
        let start = Date(timeIntervalSince1970: 1_000_000)
        let (cookie, session) = sessions.begin(account: try JID("admin@localhost"), now: start)
        #expect(session.csrfToken.count == 64 && cookie.count == 64 && cookie != session.csrfToken)
        #expect(sessions.session(cookie: cookie, now: start.addingTimeInterval(20 * 60))?.account == (try JID("admin@localhost")))
        sessions.leave(.init(text: "done"), for: cookie)
        #expect(sessions.session(cookie: cookie, now: start.addingTimeInterval(21 * 60))?.notice?.text == "done")
        #expect(sessions.session(cookie: cookie, now: start.addingTimeInterval(22 * 60))?.notice == nil)
        // Idle past 30 minutes.
        #expect(sessions.session(cookie: cookie, now: start.addingTimeInterval(53 * 60)) == nil)
        // Used every 20 minutes, it still ends after 12 hours.
        let (busy, _) = sessions.begin(now: start)
        var now = start
        var alive = 0
        while now.timeIntervalSince(start) < 13 * 3600, sessions.session(cookie: busy, now: now) != nil {
            alive += 1
            now.addTimeInterval(20 * 60)
        }
        #expect(alive == 36)
        #expect(sessions.session(cookie: "not-a-cookie", now: start) == nil)
    }

    @Test("a flood of visitors' sessions keeps at most the capacity, dropping the least recently seen, never an administrator's")
    func capacity() throws {
        let sessions = AdminWebSessions()
        let start = Date()
        let administrator = sessions.begin(account: try JID("admin@localhost"), now: start).cookie
        let first = sessions.begin(now: start).cookie
        for index in 1...AdminWebSessions.capacity { _ = sessions.begin(now: start.addingTimeInterval(Double(index))) }
        #expect(sessions.session(cookie: first, now: start.addingTimeInterval(1000)) == nil)
        #expect(sessions.session(cookie: administrator, now: start.addingTimeInterval(1000))?.account == (try JID("admin@localhost")))
    }

    @Test("logging in replaces the session; ending an account's sessions ends them all")
    func logInAndEnd() throws {
        let sessions = AdminWebSessions()
        let admin = try JID("admin@localhost")
        let (anonymous, before) = sessions.begin()
        let (cookie, after) = sessions.logIn(replacing: anonymous, account: admin, credentialStamp: "stamp")
        #expect(sessions.session(cookie: anonymous) == nil && before.csrfToken != after.csrfToken)
        let (second, _) = sessions.begin(account: admin)
        sessions.end(account: admin)
        #expect(sessions.session(cookie: cookie) == nil && sessions.session(cookie: second) == nil)
    }

    @Test("CSRF tokens must match exactly")
    func csrf() {
        let session = AdminWebSessions().begin().session
        #expect(AdminWebSessions.csrfMatches(session.csrfToken, session))
        #expect(!AdminWebSessions.csrfMatches(nil, session))
        #expect(!AdminWebSessions.csrfMatches("", session))
        #expect(!AdminWebSessions.csrfMatches(String(session.csrfToken.dropLast()) + "x", session))
        #expect(!AdminWebSessions.csrfMatches(session.csrfToken + "0", session))
    }

    static func request(origin: String?, host: String? = "admin.example:5285", remote: String = "203.0.113.9", secure: Bool = true) -> AdminWebUI.Request {
        AdminWebUI.Request(method: "POST", path: "/admin/accounts", query: [:], form: [:], cookie: nil, origin: origin, host: host, remoteAddress: remote, secure: secure)
    }

    @Test("only this origin may post, and passwords are taken over TLS or loopback only")
    func origins() {
        #expect(AdminWebUI.isSameOrigin(Self.request(origin: nil)))
        #expect(AdminWebUI.isSameOrigin(Self.request(origin: "https://admin.example:5285")))
        #expect(!AdminWebUI.isSameOrigin(Self.request(origin: "http://admin.example:5285")))
        #expect(!AdminWebUI.isSameOrigin(Self.request(origin: "https://evil.example")))
        #expect(!AdminWebUI.isSameOrigin(Self.request(origin: "null")))
        #expect(!AdminWebUI.isSameOrigin(Self.request(origin: "https://admin.example:5285", host: nil)))
        #expect(AdminWebUI.isSecureEnough(Self.request(origin: nil)))
        #expect(!AdminWebUI.isSecureEnough(Self.request(origin: nil, secure: false)))
        #expect(AdminWebUI.isSecureEnough(Self.request(origin: nil, remote: "127.0.0.1", secure: false)))
        #expect(AdminWebUI.isSecureEnough(Self.request(origin: nil, remote: "::1", secure: false)))
        #expect(AdminWebUI.serves("/admin") && AdminWebUI.serves("/admin/accounts") && !AdminWebUI.serves("/admin/api/v1/status") && !AdminWebUI.serves("/administrator"))
    }

    @Test("the session cookie is found among others")
    func cookieHeader() {
        #expect(AdminWebUIMiddleware.cookie(["a=1; starling_admin=abc; b=2"]) == "abc")
        #expect(AdminWebUIMiddleware.cookie(["a=1", "starling_admin=def"]) == "def")
        #expect(AdminWebUIMiddleware.cookie(["starling_adminx=1"]) == nil)
    }
}
