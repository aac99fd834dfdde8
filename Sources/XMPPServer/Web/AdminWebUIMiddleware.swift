import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Carries the admin web UI (`AdminWebUI`) over Hummingbird on a `kind: admin` listener,
/// behind the admin API's middleware: the path shape check and the per-address rate limit of
/// `AdminAPIGuard` come first, then the form body is read (64 KiB at most), and every answer
/// gets the headers that keep the pages out of caches, frames and other sites' scripts.
struct AdminWebUIMiddleware: RouterMiddleware {
    typealias Context = HTTPRequestContext

    let ui: AdminWebUI
    let guardian: AdminAPIGuard
    /// The listener speaks TLS itself, or behind a proxy that does.
    let secure: Bool
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let target = request.head.path ?? "/"
        let path = String(target.prefix { $0 != "?" })
        if path == "/" && request.method == .get { return Self.redirect("/admin/") }
        guard AdminWebUI.serves(path) else { return try await next(request, context) }
        // "/admin/" is the dashboard: one trailing slash is no empty segment.
        guard AdminAPIGuard.isPlainPath(path.hasSuffix("/") ? String(path.dropLast()) : path) else { return Self.plain(400, "The path has an encoded, relative or empty segment.") }
        if let refusal = self.guardian.rateRefusal(context.remoteAddress) {
            var response = Self.plain(refusal.status, "Too many requests from this address; wait a little.")
            if let retry = refusal.headers["Retry-After"], let name = HTTPFields.Element.Name("Retry-After") { response.headers[name] = retry }
            return response
        }
        var form: [String: String] = [:]
        if request.method == .post {
            let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard type == "application/x-www-form-urlencoded" else { return Self.plain(415, "Send forms as application/x-www-form-urlencoded.") }
            guard let body = try? await request.body.collect(upTo: AdminWebUI.maximumBodyBytes) else {
                return Self.plain(413, "A form may have at most \(AdminWebUI.maximumBodyBytes) bytes.")
            }
            form = FormEncoding.decode(Substring(String(buffer: body)))
        }
        let query = target.firstIndex(of: "?").map { FormEncoding.decode(target[target.index(after: $0)...]) } ?? [:]
        let call = AdminWebUI.Request(
            method: request.method.rawValue, path: path, query: query, form: form, cookie: Self.cookie(request.headers[values: .cookie]),
            origin: request.headers[.origin], host: request.head.authority, remoteAddress: context.remoteAddress,
            secure: self.secure)
        let answer = await self.ui.handle(call)
        if request.method != .get || answer.status >= 400 {
            var metadata: Logger.Metadata = ["method": "\(call.method)", "path": "\(path)", "status": "\(answer.status)", "ip": "\(call.remoteAddress)"]
            if let account = answer.account { metadata["account"] = "\(account)" }
            self.logger.log(level: answer.status >= 400 ? .warning : .notice, "admin web UI request", metadata: metadata)
        }
        return Self.response(answer)
    }

    /// The session cookie's value among the request's cookies.
    static func cookie(_ headers: [String]) -> String? {
        for header in headers {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == AdminWebSessions.cookieName {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    static func response(_ answer: AdminWebUI.Response) -> Response {
        var headers = Self.securityHeaders()
        if let location = answer.location { headers[.location] = location }
        if let cookie = answer.setCookie { headers[.setCookie] = cookie }
        guard let html = answer.html else { return Response(status: .init(code: answer.status), headers: headers) }
        headers[.contentType] = answer.contentType
        return Response(status: .init(code: answer.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    private static func redirect(_ location: String) -> Response {
        var headers = Self.securityHeaders()
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    private static func plain(_ status: Int, _ text: String) -> Response {
        var headers = Self.securityHeaders()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    /// Pages run no script and load only this origin's stylesheet; no other site may frame
    /// them, no cache keeps them, no Referer carries their addresses elsewhere. (`same-origin`,
    /// not `no-referrer`: under `no-referrer` browsers send `Origin: null` with the forms.)
    private static func securityHeaders() -> HTTPFields {
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        let fields = [
            ("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
            ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
        ]
        for (name, value) in fields {
            if let field = HTTPFields.Element.Name(name) { headers[field] = value }
        }
        return headers
    }
}
