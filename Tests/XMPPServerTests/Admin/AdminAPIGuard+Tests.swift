import Foundation
import Testing

@testable import XMPPServer

@Suite("Admin API guard: path shape, rate, origin, bearer token, scope, body type")
struct AdminAPIGuardTests {
    func head(_ method: String = "GET", _ path: String = "/admin/api/v1/accounts", authorization: String? = nil, origin: String? = nil, contentType: String? = nil, address: String = "127.0.0.1")
        -> AdminAPIRequestHead
    {
        AdminAPIRequestHead(method: method, path: path, authorization: authorization, origin: origin, contentType: contentType, remoteAddress: address)
    }

    func record(_ scope: AdminScope) -> AdminTokenRecord {
        AdminTokenRecord(id: "0123456789abcdef", scope: scope, label: "", createdAt: Date(), expiresAt: Date().addingTimeInterval(60), secretDigest: "")
    }

    @Test("paths that a later layer could decode into something else are refused before any route", arguments: [
        "/admin/api/v1/../../etc/passwd", "/admin/api/v1/%2e%2e/setup", "/admin/api/v1/accounts%2fx", "/admin/api/v1//accounts",
        "/admin/api/v1/./accounts", "/admin/api/v1/accounts/a%00b", "/admin/api/v1/accounts/", "admin", "/admin/api/v1/a\\b",
        "/admin/api/v1/%", "/admin/api/v1/%4", "/admin/api/v1/%41", "/admin/api/v1/%zz", "/admin/api/v1/" + String(repeating: "a", count: 600),
    ])
    func traversal(path: String) {
        #expect(AdminAPIGuard().precheck(self.head("GET", path))?.status == 400)
    }

    @Test("plain paths, addresses and UTF-8 escapes pass", arguments: [
        "/admin/api/v1/accounts", "/admin/api/v1/accounts/alice@localhost", "/admin/api/v1/accounts/jos%C3%A9@example.org", "/admin/api/v1/rooms/a.b-c_d~e",
    ])
    func plainPaths(path: String) {
        #expect(AdminAPIGuard().precheck(self.head("GET", path)) == nil)
    }

    @Test("a burst beyond the limit is answered 429 with Retry-After; another address is not affected")
    func rateLimit() {
        var settings = ServerConfiguration.AdminAPISettings()
        settings.requestsPerSecond = 1
        settings.burst = 3
        let guardian = AdminAPIGuard(settings: settings)
        let now = Date()
        for _ in 0..<3 { #expect(guardian.precheck(self.head(), now: now) == nil) }
        let refusal = guardian.precheck(self.head(), now: now)
        #expect(refusal?.status == 429 && refusal?.headers["Retry-After"] == "1")
        #expect(guardian.precheck(self.head(address: "127.0.0.2"), now: now) == nil)
        #expect(guardian.precheck(self.head(), now: now.addingTimeInterval(1.01)) == nil)
    }

    @Test("a page on another origin is refused; a configured origin is allowed")
    func origin() {
        var settings = ServerConfiguration.AdminAPISettings()
        settings.allowedOrigins = ["https://admin.example.org"]
        let guardian = AdminAPIGuard(settings: settings)
        #expect(guardian.precheck(self.head(origin: "https://evil.example"))?.status == 403)
        #expect(guardian.precheck(self.head(origin: "https://admin.example.org")) == nil)
    }

    @Test("no Authorization header, or not Bearer: 401 with a Bearer challenge")
    func bearer() throws {
        let guardian = AdminAPIGuard()
        guard case .failure(let missing) = guardian.bearer(self.head()) else { Issue.record("a missing token passed"); return }
        #expect(missing.status == 401 && missing.code == "missing_token" && missing.headers["WWW-Authenticate"]?.hasPrefix("Bearer") == true)
        guard case .failure(let basic) = guardian.bearer(self.head(authorization: "Basic YWxpY2U6cHc=")) else { Issue.record("Basic passed"); return }
        #expect(basic.status == 401)
        #expect(try guardian.bearer(self.head(authorization: "bearer sta_x")).get() == "sta_x")
    }

    @Test("a read token cannot write; a write token can read; writes must be JSON")
    func scopes() throws {
        let guardian = AdminAPIGuard()
        guard case .failure(let refusal) = guardian.admit(self.head("POST", contentType: "application/json"), .success(self.record(.read))) else {
            Issue.record("a read token wrote")
            return
        }
        #expect(refusal.status == 403 && refusal.code == "insufficient_scope")
        #expect(throws: Never.self) { try guardian.admit(self.head("GET"), .success(self.record(.write))).get() }
        #expect(throws: Never.self) { try guardian.admit(self.head("DELETE"), .success(self.record(.write))).get() }
        #expect(throws: Never.self) { try guardian.admit(self.head("POST", contentType: "application/json; charset=utf-8"), .success(self.record(.write))).get() }
        guard case .failure(let form) = guardian.admit(self.head("POST", contentType: "application/x-www-form-urlencoded"), .success(self.record(.write))) else {
            Issue.record("a form post passed")
            return
        }
        #expect(form.status == 415)
    }

    @Test("wrong tokens from one address lock it out for a while; other addresses go on")
    func guessing() {
        var settings = ServerConfiguration.AdminAPISettings()
        settings.lockoutFailures = 3
        let guardian = AdminAPIGuard(settings: settings)
        let now = Date()
        for _ in 0..<3 {
            #expect(guardian.precheck(self.head(), now: now) == nil)
            guard case .failure(let refusal) = guardian.admit(self.head(), .failure(.invalid), now: now) else { return }
            #expect(refusal.status == 401 && refusal.code == "invalid_token")
        }
        #expect(guardian.precheck(self.head(), now: now)?.code == "too_many_failures")
        #expect(guardian.precheck(self.head(address: "::1"), now: now) == nil)
        #expect(guardian.precheck(self.head(), now: now.addingTimeInterval(AdminAPIGuard.failureWindow + 1)) == nil)
    }
}
