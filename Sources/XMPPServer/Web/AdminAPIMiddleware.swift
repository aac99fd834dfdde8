import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Carries the admin API (`AdminAPI`) over Hummingbird on a `kind: admin` listener: every
/// request under the prefix passes `AdminAPIGuard` and a token check before any call runs,
/// unknown paths included, and every answer is audited in the log (who, what, outcome; never
/// the token).
struct AdminAPIMiddleware: RouterMiddleware {
    typealias Context = HTTPRequestContext

    let api: AdminAPI
    let tokens: AdminTokenStore
    let guardian: AdminAPIGuard
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let target = request.head.path ?? "/"
        let path = String(target.prefix { $0 != "?" })
        guard path == AdminAPI.prefix || path.hasPrefix(AdminAPI.prefix + "/") else {
            return try await next(request, context)
        }
        let head = AdminAPIRequestHead(
            method: request.method.rawValue, path: path, authorization: request.headers[.authorization], origin: request.headers[.origin],
            contentType: request.headers[.contentType], remoteAddress: context.remoteAddress)
        let (reply, tokenID) = await self.answer(request, head: head, target: target)
        var metadata: Logger.Metadata = [
            "method": "\(head.method)", "path": "\(path)", "status": "\(reply.status)", "ip": "\(head.remoteAddress)",
        ]
        if let tokenID { metadata["token"] = "\(tokenID)" }
        self.logger.log(level: reply.status >= 400 ? .warning : .notice, "admin API call", metadata: metadata)
        return Self.response(reply)
    }

    private func answer(_ request: Request, head: AdminAPIRequestHead, target: String) async -> (Reply, String?) {
        if let refusal = self.guardian.precheck(head) { return (.refused(refusal), nil) }
        let presented: String
        switch self.guardian.bearer(head) {
        case .failure(let refusal): return (.refused(refusal), nil)
        case .success(let token): presented = token
        }
        let checked: Result<AdminTokenRecord, AdminTokenRefusal>
        do {
            checked = try await self.tokens.check(presented)
        } catch {
            self.logger.error("cannot check an admin API token", metadata: ["error": "\(error)"])
            return (.api(.error(503, "storage", "cannot check the token now; try again")), nil)
        }
        let record: AdminTokenRecord
        switch self.guardian.admit(head, checked) {
        case .failure(let refusal): return (.refused(refusal), nil)
        case .success(let admitted): record = admitted
        }
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: AdminAPI.maximumBodyBytes).readableBytesView)
        } catch {
            return (.api(.error(413, "body_too_large", "a body may have at most \(AdminAPI.maximumBodyBytes) bytes")), record.id)
        }
        let segments = head.path.dropFirst(AdminAPI.prefix.count).split(separator: "/").compactMap { String($0).removingPercentEncoding }
        let call = AdminAPI.Call(method: head.method, segments: segments, query: Self.query(target), body: body)
        return (.api(await self.api.handle(call)), record.id)
    }

    /// The query's parameters, decoded; a name given twice keeps its first value.
    static func query(_ target: String) -> [String: String] {
        guard let mark = target.firstIndex(of: "?") else { return [:] }
        return FormEncoding.decode(target[target.index(after: mark)...])
    }

    enum Reply {
        case api(AdminAPI.Reply)
        case refused(AdminAPIRefusal)

        var status: Int {
            switch self {
            case .api(let reply): reply.status
            case .refused(let refusal): refusal.status
            }
        }
    }

    static func response(_ reply: Reply) -> Response {
        var headers = HTTPFields()
        // Answers are about one operator's server: no cache keeps them, no page frames them.
        headers[.cacheControl] = "no-store"
        if let noSniff = HTTPFields.Element.Name("X-Content-Type-Options") { headers[noSniff] = "nosniff" }
        let status: Int
        let json: [UInt8]?
        switch reply {
        case .api(let answer):
            status = answer.status
            json = answer.json
        case .refused(let refusal):
            status = refusal.status
            json = AdminAPI.Reply.error(refusal.status, refusal.code, refusal.message).json
            for (name, value) in refusal.headers {
                if let field = HTTPFields.Element.Name(name) { headers[field] = value }
            }
        }
        guard let json else { return Response(status: HTTPResponse.Status(code: status), headers: headers) }
        headers[.contentType] = "application/json"
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
    }
}
