import Foundation
import NIOConcurrencyHelpers
import NIOCore

// HTTP routes that modules own (XEP-0363 upload), in Starling's own value types: a module
// answers requests under its path prefix without knowing which HTTP server carries them.

/// Request headers, names compared without regard to case (RFC 9110 §5.1).
public struct ModuleHTTPHeaders: Sendable {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// The first value of the header, nil when absent.
    public subscript(name: String) -> String? {
        self.fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Every value of the header, in order (a header may be repeated).
    public func values(_ name: String) -> [String] {
        self.fields.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    public mutating func add(_ name: String, _ value: String) {
        self.fields.append((name, value))
    }
}

/// A piece of a request body as it arrived, read without copying it.
public struct ModuleHTTPBodyChunk: Sendable {
    let buffer: ByteBuffer

    public init(_ bytes: [UInt8]) {
        self.buffer = ByteBuffer(bytes: bytes)
    }

    init(buffer: ByteBuffer) {
        self.buffer = buffer
    }

    public var count: Int { self.buffer.readableBytes }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try self.buffer.withUnsafeReadableBytes(body)
    }
}

/// A request body, streamed: uploads go to disk as they arrive, never whole into memory.
public struct ModuleHTTPRequestBody: AsyncSequence, Sendable {
    public typealias Element = ModuleHTTPBodyChunk
    private let makeSource: @Sendable () -> any ModuleHTTPChunkSource

    init(makeSource: @escaping @Sendable () -> any ModuleHTTPChunkSource) {
        self.makeSource = makeSource
    }

    /// A body of these chunks (for tests and for requests with no body).
    public init(chunks: [[UInt8]] = []) {
        let chunks = chunks.map { ModuleHTTPBodyChunk($0) }
        self.makeSource = { ArrayChunkSource(chunks: chunks) }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var source: any ModuleHTTPChunkSource
        public mutating func next() async throws -> ModuleHTTPBodyChunk? {
            try await self.source.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(source: self.makeSource())
    }
}

/// Where a body's chunks come from (the HTTP server's stream, or a list in tests).
protocol ModuleHTTPChunkSource {
    mutating func next() async throws -> ModuleHTTPBodyChunk?
}

private struct ArrayChunkSource: ModuleHTTPChunkSource {
    var chunks: [ModuleHTTPBodyChunk]
    mutating func next() async throws -> ModuleHTTPBodyChunk? {
        self.chunks.isEmpty ? nil : self.chunks.removeFirst()
    }
}

/// One HTTP request to a module's route.
public struct ModuleHTTPRequest: Sendable {
    /// Upper-case method name: GET, HEAD, PUT, OPTIONS…
    public var method: String
    /// The path as sent, still percent-encoded, without the query: a module decides itself
    /// what an encoded `/` or `..` means (for upload: a refusal).
    public var path: String
    /// The query as sent (after `?`), still percent-encoded.
    public var query: String?
    public var headers: ModuleHTTPHeaders
    public var body: ModuleHTTPRequestBody

    public init(method: String, path: String, query: String? = nil, headers: ModuleHTTPHeaders = ModuleHTTPHeaders(), body: ModuleHTTPRequestBody = ModuleHTTPRequestBody()) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// Produces a response body piece by piece (a file read in chunks): `read` fills the buffer
/// and returns how many bytes it wrote, 0 at the end; `close` is called once, always.
public protocol ModuleHTTPBodySource: Sendable {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    func close()
}

public struct ModuleHTTPResponse: Sendable {
    public enum Body: Sendable {
        case empty
        case bytes([UInt8])
        /// `length` bytes from `source`, written as they are read.
        case stream(length: Int, source: any ModuleHTTPBodySource)
    }

    public var status: Int
    public var headers: ModuleHTTPHeaders
    public var body: Body

    public init(status: Int, headers: ModuleHTTPHeaders = ModuleHTTPHeaders(), body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

public typealias ModuleHTTPHandler = @Sendable (ModuleHTTPRequest) async -> ModuleHTTPResponse

/// The routes modules registered, by path prefix; the HTTP listener asks it for every
/// request no built-in route took.
final class ModuleHTTPRoutes: @unchecked Sendable {
    private let lock = NIOLock()
    private var routes: [(prefix: String, handler: ModuleHTTPHandler)] = []

    /// False when the prefix is taken already.
    func add(prefix: String, handler: @escaping ModuleHTTPHandler) -> Bool {
        self.lock.withLock {
            guard !self.routes.contains(where: { $0.prefix == prefix }) else { return false }
            self.routes.append((prefix, handler))
            // Longest prefix first, so that /a/b/ wins over /a/.
            self.routes.sort { $0.prefix.count > $1.prefix.count }
            return true
        }
    }

    func handler(for path: String) -> ModuleHTTPHandler? {
        self.lock.withLock { self.routes.first { path.hasPrefix($0.prefix) }?.handler }
    }

    var isEmpty: Bool { self.lock.withLock { self.routes.isEmpty } }
}

/// The HTTP listeners the server bound, so that a module can point clients at them (the
/// upload service's default URL) once their ports are known.
public final class HTTPEndpoints: @unchecked Sendable {
    private let lock = NIOLock()
    private var bound: [(secure: Bool, port: Int)] = []

    func add(secure: Bool, port: Int) {
        self.lock.withLock { self.bound.append((secure, port)) }
    }

    /// `https://<host>:<port>` of the first HTTPS listener, else `http://…` of the first plain
    /// one; nil when the server has no HTTP listener.
    public func baseURL(host: String) -> String? {
        self.lock.withLock {
            guard let endpoint = self.bound.first(where: \.secure) ?? self.bound.first else { return nil }
            return "\(endpoint.secure ? "https" : "http")://\(host):\(endpoint.port)"
        }
    }
}
