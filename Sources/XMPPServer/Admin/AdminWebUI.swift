import Foundation
import Logging
import XMPPCore

/// The admin web UI: server-rendered pages and plain forms over `AdminOperations`, on the
/// `kind: admin` listener beside the API. This type decides every request from a value
/// (`Request`) to a value (`Response`); `AdminWebUIMiddleware` carries them over HTTP.
///
/// Why it is safe to expose: an administrator logs in with the account's password, checked
/// against the SCRAM verifier with the XMPP logins' lockout, and only over HTTPS or from this
/// machine (Prosody's `secure_interfaces` rule); the session cookie is `HttpOnly; Secure;
/// SameSite=Strict`; every form carries the session's CSRF token and every POST from a browser
/// must come from this origin; paths pass the API guard's shape check and rate limit.
public struct AdminWebUI: Sendable {
    public static let prefix = "/admin"
    static let maximumBodyBytes = 64 * 1024

    let operations: AdminOperations
    let sessions: AdminWebSessions
    let logger: Logger

    init(operations: AdminOperations, sessions: AdminWebSessions = AdminWebSessions(), logger: Logger) {
        self.operations = operations
        self.sessions = sessions
        self.logger = logger
    }

    public struct Request: Sendable {
        public var method: String
        /// The path as sent, without the query.
        public var path: String
        public var query: [String: String]
        /// The decoded `application/x-www-form-urlencoded` body of a POST.
        public var form: [String: String]
        /// The value of the session cookie, when the browser sent one.
        public var cookie: String?
        public var origin: String?
        /// The Host header, which with `secure` makes this listener's own origin.
        public var host: String?
        public var remoteAddress: String
        /// The request came over TLS.
        public var secure: Bool
    }

    public struct Response: Sendable, Equatable {
        public var status: Int
        public var html: String?
        public var location: String?
        public var setCookie: String?
        public var contentType = "text/html; charset=utf-8"
        /// The account the request acted as, for the audit log.
        public var account: String?
    }

    /// Whether the path is the UI's (the API's prefix is not).
    static func serves(_ path: String) -> Bool {
        (path == Self.prefix || path.hasPrefix(Self.prefix + "/")) && !(path == AdminAPI.prefix || path.hasPrefix(AdminAPI.prefix + "/"))
    }

    /// Passwords travel only inside TLS or over loopback, where they do not leave the machine.
    static func isSecureEnough(_ request: Request) -> Bool {
        request.secure || request.remoteAddress == "127.0.0.1" || request.remoteAddress == "::1" || request.remoteAddress.hasPrefix("127.")
            || request.remoteAddress == "::ffff:127.0.0.1"
    }

    /// A POST a browser sends carries Origin; one from a page elsewhere (or an opaque `null`
    /// origin) is refused whatever else it carries.
    static func isSameOrigin(_ request: Request) -> Bool {
        guard let origin = request.origin else { return true }
        guard let host = request.host else { return false }
        return origin == "\(request.secure ? "https" : "http")://\(host)"
    }

    public func handle(_ request: Request) async -> Response {
        if request.path == "/admin/style.css" && request.method == "GET" {
            return Response(status: 200, html: AdminWebPages.stylesheet, contentType: "text/css; charset=utf-8")
        }
        if request.method == "POST" && !Self.isSameOrigin(request) {
            return self.refusal(403, "This form was sent from another site, so it was refused.")
        }
        if request.path == "/admin/login" { return await self.login(request) }
        guard let cookie = request.cookie, let session = self.sessions.session(cookie: cookie), let account = session.account else {
            if request.method == "GET" { return Response(status: 303, location: "/admin/login") }
            return self.refusal(403, "Your session ended; log in again.")
        }
        guard self.operations.isAdministrator(account), await self.operations.credentialStamp(of: account) == session.credentialStamp else {
            self.sessions.end(cookie: cookie)
            return Response(status: 303, location: "/admin/login")
        }
        let frame = AdminWebPages.Frame(account: account, csrfToken: session.csrfToken, notice: session.notice)
        var response: Response
        if request.method == "POST" {
            guard AdminWebSessions.csrfMatches(request.form["csrf"], session) else {
                return self.refusal(403, "The form lacks this session's CSRF token; reload the page and try again.", frame: frame)
            }
            response = await self.act(request, cookie: cookie, account: account, frame: frame)
        } else if request.method == "GET" {
            response = await self.show(request, frame: frame)
        } else {
            response = Response(status: 405, html: AdminWebPages.message("Not allowed", "Use GET or POST here.", frame: frame))
        }
        response.account = account.description
        return response
    }

    // MARK: - Login

    private func login(_ request: Request) async -> Response {
        let secureEnough = Self.isSecureEnough(request)
        let existing = request.cookie.flatMap { self.sessions.session(cookie: $0) }
        switch request.method {
        case "GET":
            if existing?.account != nil { return Response(status: 303, location: "/admin/") }
            if let existing {
                let frame = AdminWebPages.Frame(account: nil, csrfToken: existing.csrfToken, notice: existing.notice)
                return Response(status: 200, html: AdminWebPages.login(frame: frame, secureEnough: secureEnough))
            }
            let (cookie, session) = self.sessions.begin()
            let frame = AdminWebPages.Frame(account: nil, csrfToken: session.csrfToken)
            return Response(status: 200, html: AdminWebPages.login(frame: frame, secureEnough: secureEnough), setCookie: Self.cookie(cookie))
        case "POST":
            guard secureEnough else { return self.refusal(403, "Passwords are only taken over HTTPS or from this machine.") }
            guard let cookie = request.cookie, let session = existing, AdminWebSessions.csrfMatches(request.form["csrf"], session) else {
                return self.refusal(403, "The login form lacks its CSRF token or its session; open the login page again.")
            }
            let address = request.form["account"] ?? ""
            switch await self.operations.verifyAdministrator(address, password: request.form["password"] ?? "", from: request.remoteAddress) {
            case .admitted(let account):
                let stamp = await self.operations.credentialStamp(of: account)
                let (newCookie, _) = self.sessions.logIn(replacing: cookie, account: account, credentialStamp: stamp)
                return Response(status: 303, location: "/admin/", setCookie: Self.cookie(newCookie), account: account.description)
            case .refused(let delay):
                try? await Task.sleep(for: .seconds(delay))
                let frame = AdminWebPages.Frame(
                    account: nil, csrfToken: session.csrfToken, notice: .init(text: "Wrong address or password, or not an administrator.", isError: true))
                return Response(status: 401, html: AdminWebPages.login(frame: frame, account: address, secureEnough: true))
            case .lockedOut:
                let frame = AdminWebPages.Frame(
                    account: nil, csrfToken: session.csrfToken, notice: .init(text: "Too many failed logins from here; wait and try again.", isError: true))
                return Response(status: 429, html: AdminWebPages.login(frame: frame, account: address, secureEnough: true))
            }
        default:
            return self.refusal(405, "Use GET or POST here.")
        }
    }

    static func cookie(_ value: String, expire: Bool = false) -> String {
        "\(AdminWebSessions.cookieName)=\(value); Path=\(Self.prefix); HttpOnly; Secure; SameSite=Strict\(expire ? "; Max-Age=0" : "")"
    }

    private func refusal(_ status: Int, _ text: String, frame: AdminWebPages.Frame = .init(account: nil, csrfToken: "")) -> Response {
        Response(status: status, html: AdminWebPages.message("Refused", text, frame: frame))
    }

    // MARK: - Pages

    private func show(_ request: Request, frame: AdminWebPages.Frame) async -> Response {
        let operations = self.operations
        do throws(AdminError) {
            switch request.path {
            case "/admin", "/admin/":
                return Response(status: 200, html: AdminWebPages.dashboard(try await operations.statistics(), frame: frame))
            case "/admin/accounts":
                let search = request.query["search"] ?? ""
                let page = try await operations.listAccounts(search: search.isEmpty ? nil : search, after: request.query["after"], limit: 100)
                return Response(status: 200, html: AdminWebPages.accounts(page, search: search, hosts: operations.hosts, frame: frame))
            case "/admin/account":
                let address = request.query["jid"] ?? ""
                guard try await operations.accountExists(address) else { throw AdminError.notFound("there is no account \(address)") }
                let usage = try await operations.storageUsage(of: address)
                let details = AdminAccountDetails(
                    jid: usage.account, disabled: try operations.isDisabled(address), sessions: try await operations.listSessions(of: address),
                    offlineMessages: usage.offlineMessages, archivedMessages: usage.archivedMessages, moduleData: usage.moduleData)
                return Response(status: 200, html: AdminWebPages.account(details, fastClients: try await operations.fastTokenClients(of: address), frame: frame))
            case "/admin/sessions":
                return Response(status: 200, html: AdminWebPages.sessions(try await operations.listSessions(), frame: frame))
            case "/admin/rooms":
                let page = try await operations.listRooms(after: request.query["after"], limit: 100)
                return Response(status: 200, html: AdminWebPages.rooms(page, services: operations.roomServices, frame: frame))
            case "/admin/room":
                return Response(status: 200, html: AdminWebPages.room(try await operations.room(request.query["jid"] ?? ""), frame: frame))
            case "/admin/invitations":
                return Response(status: 200, html: AdminWebPages.invitations(try await operations.listInvitations(), hosts: operations.hosts, frame: frame))
            case "/admin/status":
                let html = AdminWebPages.status(
                    try await operations.statistics(), hosts: operations.hosts, logLevel: operations.logLevel.rawValue,
                    levels: Logger.Level.allCases.map(\.rawValue), frame: frame)
                return Response(status: 200, html: html)
            default:
                return Response(status: 404, html: AdminWebPages.message("Not found", "There is no such page.", frame: frame))
            }
        } catch {
            return Self.failure(error, frame: frame)
        }
    }

    static func failure(_ error: AdminError, frame: AdminWebPages.Frame) -> Response {
        let status =
            switch error {
            case .invalid: 400
            case .notFound: 404
            case .conflict: 409
            case .storage: 503
            case .badConfiguration: 422
            }
        return Response(status: status, html: AdminWebPages.message("Not done", error.description, frame: frame))
    }

    // MARK: - Actions

    /// Runs a form's action and sends the browser back to a page (POST, redirect, GET), with
    /// what happened left as the session's notice.
    private func act(_ request: Request, cookie: String, account: JID, frame: AdminWebPages.Frame) async -> Response {
        let form = request.form
        let operations = self.operations
        var back = request.path
        let notice: AdminWebSessions.Notice
        do throws(AdminError) {
            switch (request.path, form["action"]) {
            case ("/admin/logout", _):
                self.sessions.end(cookie: cookie)
                return Response(status: 303, location: "/admin/login", setCookie: Self.cookie("", expire: true))
            case ("/admin/accounts", _):
                let created = try await operations.createAccount(form["jid"] ?? "", password: form["password"] ?? "")
                notice = .init(text: "Created \(created).")
                back = "/admin/account?jid=\(AdminWebPages.queryValue(created.description))"
            case ("/admin/account", let action?):
                let address = form["jid"] ?? ""
                back = "/admin/account?jid=\(AdminWebPages.queryValue(address))"
                switch action {
                case "password":
                    guard try await operations.accountExists(address) else { throw AdminError.notFound("there is no account \(address)") }
                    try await operations.changePassword(address, password: form["password"] ?? "")
                    notice = .init(text: "Changed the password of \(address); its fast reconnection tokens are revoked.")
                case "disable", "enable":
                    try await operations.setDisabled(address, action == "disable")
                    notice = .init(text: action == "disable" ? "Disabled \(address); its sessions ended." : "Enabled \(address).")
                case "revoke-fast":
                    notice = .init(text: "Revoked \(try await operations.revokeFASTTokens(of: address)) token(s) of \(address).")
                case "delete":
                    guard form["confirm"] == "yes" else { throw AdminError.invalid("tick the box to confirm the deletion") }
                    try await operations.deleteAccount(address)
                    notice = .init(text: "Deleted \(address).")
                    back = "/admin/accounts"
                default:
                    throw AdminError.invalid("unknown action \(action)")
                }
            case ("/admin/room", "destroy"):
                let address = form["jid"] ?? ""
                back = "/admin/room?jid=\(AdminWebPages.queryValue(address))"
                guard form["confirm"] == "yes" else { throw AdminError.invalid("tick the box to confirm the destruction") }
                let reason = form["reason"].flatMap { $0.isEmpty ? nil : $0 }
                try await operations.destroyRoom(address, reason: reason)
                notice = .init(text: "Destroyed \(address).")
                back = "/admin/rooms"
            case ("/admin/invitations", "create"):
                guard let uses = Int(form["uses"] ?? "1"), let days = Int(form["days"] ?? "7") else {
                    throw AdminError.invalid("uses and days are whole numbers")
                }
                let rosterOf = form["roster_of"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
                let made = try await operations.createInvitation(
                    domain: form["domain"], rosterOf: rosterOf, uses: uses, lifetime: TimeInterval(days) * 86_400, createdBy: account.description)
                // Shown this once, like the API's answer; the server keeps a digest only.
                notice = .init(text: "Made invitation \(made.id): \(made.landingURL ?? made.uri ?? "")" + (made.landingURL != nil ? " (or, in an app: \(made.uri ?? ""))" : ""))
            case ("/admin/invitations", "revoke"):
                try await operations.revokeInvitation(form["id"] ?? "")
                notice = .init(text: "Revoked invitation \(form["id"] ?? "").")
            case ("/admin/sessions", _):
                let ended = try await operations.kick(form["jid"] ?? "")
                notice = .init(text: "Ended \(ended) session(s) of \(form["jid"] ?? "").")
            case ("/admin/status", "log-level"):
                guard let level = form["level"].flatMap(Logger.Level.init(rawValue:)) else { throw AdminError.invalid("choose a log level from the list") }
                operations.logLevel = level
                notice = .init(text: "The log level is \(level.rawValue) now.")
            case ("/admin/status", "reload"):
                let report = try operations.reload()
                var text = report.applied.isEmpty ? "Reloaded; nothing that applies now had changed." : "Reloaded: " + report.applied.map { "\($0.setting) (\($0.detail))" }.joined(separator: "; ") + "."
                if !report.restartRequired.isEmpty { text += " Needs a restart: \(report.restartRequired.joined(separator: ", "))." }
                if !report.warnings.isEmpty { text += " " + report.warnings.joined(separator: " ") }
                notice = .init(text: text)
            case ("/admin/status", "announce"):
                let body = (form["body"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                guard !body.isEmpty else { throw AdminError.invalid("write a message to announce") }
                let subject = form["subject"].flatMap { $0.isEmpty ? nil : $0 }
                notice = .init(text: "Sent the announcement to \(operations.announce(subject: subject, body: body)) session(s).")
            default:
                return Response(status: 404, html: AdminWebPages.message("Not found", "There is no such action.", frame: frame))
            }
        } catch {
            self.logger.notice("web UI action refused", metadata: ["account": "\(account)", "path": "\(request.path)", "error": "\(error)"])
            self.sessions.leave(.init(text: error.description, isError: true), for: cookie)
            return Response(status: 303, location: back)
        }
        self.logger.notice("web UI action", metadata: ["account": "\(account)", "path": "\(request.path)", "action": "\(form["action"] ?? "")"])
        self.sessions.leave(notice, for: cookie)
        return Response(status: 303, location: back)
    }
}
