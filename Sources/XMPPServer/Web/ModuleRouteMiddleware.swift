import Hummingbird
import HummingbirdCore
import NIOCore

/// Hands requests under a module's path prefix (`registrar.addHTTPRoute`) to the module, in
/// Starling's own request and response types; everything else goes on to Hummingbird's routes.
///
/// It is added to the router first, so it sees requests for the built-in routes too and for
/// paths no route knows (Hummingbird runs router middleware before its not-found answer). The
/// prefix is matched against the path as sent, never a decoded one.
struct ModuleRouteMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: ModuleHTTPRoutes

    /// Installs the middleware when some module registered a route.
    static func install(on router: Hummingbird.Router<Context>, core: ServerCore) {
        guard let routes = core.router.registrar?.httpRoutes, !routes.isEmpty else { return }
        router.add(middleware: ModuleRouteMiddleware(routes: routes))
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let target = request.head.path ?? "/"
        let path: Substring
        let query: Substring?
        if let mark = target.firstIndex(of: "?") {
            path = target[..<mark]
            query = target[target.index(after: mark)...]
        } else {
            path = target[...]
            query = nil
        }
        guard let handler = self.routes.handler(for: String(path)) else {
            return try await next(request, context)
        }
        var headers = ModuleHTTPHeaders()
        for field in request.headers { headers.add(field.name.canonicalName, field.value) }
        let body = request.body
        let moduleRequest = ModuleHTTPRequest(
            method: request.method.rawValue, path: String(path), query: query.map(String.init), headers: headers,
            body: ModuleHTTPRequestBody { RequestBodySource(iterator: body.makeAsyncIterator()) })
        return Self.response(await handler(moduleRequest))
    }

    static func response(_ response: ModuleHTTPResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in response.headers.fields {
            // HTTPField by way of its collection: Hummingbird re-exports HTTPFields only.
            guard let field = HTTPFields.Element.Name(name) else { continue }
            fields.append(HTTPFields.Element(name: field, value: value))
        }
        let status = HTTPResponse.Status(code: response.status)
        switch response.body {
        case .empty:
            return Response(status: status, headers: fields, body: ResponseBody())
        case .bytes(let bytes):
            return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        case .stream(let length, let source):
            return Response(status: status, headers: fields, body: ResponseBody(contentLength: length) { writer in
                defer { source.close() }
                var remaining = length
                while remaining > 0 {
                    var buffer = ByteBufferAllocator().buffer(capacity: min(remaining, moduleResponseChunkBytes))
                    let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: min(remaining, moduleResponseChunkBytes)) { space in
                        try source.read(into: UnsafeMutableRawBufferPointer(rebasing: space.prefix(remaining)))
                    }
                    // A source that ends early (a file cut short) ends the connection rather
                    // than leaving the client waiting for bytes announced and never sent.
                    guard read > 0 else { throw ModuleBodyEndedEarly() }
                    remaining -= read
                    try await writer.write(buffer)
                }
                try await writer.finish(nil)
            })
        }
    }
}

/// What one read of a streamed response asks for: large enough that a loopback transfer is
/// not bound by calls, small enough that many downloads at once stay small.
private let moduleResponseChunkBytes = 256 * 1024

struct ModuleBodyEndedEarly: Error {}

/// A request body from Hummingbird's stream, chunk by chunk as the socket delivers them.
private struct RequestBodySource: ModuleHTTPChunkSource {
    var iterator: RequestBody.AsyncIterator

    mutating func next() async throws -> ModuleHTTPBodyChunk? {
        try await self.iterator.next().map { ModuleHTTPBodyChunk(buffer: $0) }
    }
}
