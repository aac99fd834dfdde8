import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// One `kind: metrics` listener on one address: the Prometheus text exposition of the server's
/// metrics at `GET /metrics`, nothing else. A listener of its own (off by default, on
/// loopback unless configured otherwise) rather than a path on the public HTTP listener, so
/// that what the server counts is never served to the clients it counts.
struct MetricsListener {
    static let path = "/metrics"
    /// The text format Prometheus scrapes (exposition format 0.0.4).
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// A scraper that opens a connection and says nothing is dropped after this long.
    static var http1: HTTP1Channel.Configuration { HTTP1Channel.Configuration(idleTimeout: .seconds(30)) }

    let metrics: ServerMetrics
    /// HTTPS with the server's certificate (the current one at each handshake); nil for plain HTTP.
    let certificate: ServerCertificate?
    let shuttingDown: NIOLockedValueBox<Bool>
    let logger: Logger

    func start(host: String, port: Int, group: any EventLoopGroup) async throws -> (channel: any Channel, task: Task<Void, Never>) {
        let router = Hummingbird.Router(context: HTTPRequestContext.self)
        let metrics = self.metrics
        router.get(RouterPath(stringLiteral: Self.path)) { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = Self.contentType
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        let server: HTTPServerBuilder
        if let certificate {
            server = try .tls(.http1(configuration: Self.http1), tlsConfiguration: certificate.httpsConfiguration())
        } else {
            server = .http1(configuration: Self.http1)
        }
        let (bound, boundContinuation) = AsyncStream.makeStream(of: (any Channel).self)
        let application = Application(
            router: router, server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "Starling", backlog: 16, reuseAddress: true),
            onServerRunning: { channel in
                boundContinuation.yield(channel)
                boundContinuation.finish()
            },
            eventLoopGroupProvider: .shared(group), logger: self.logger)
        let shuttingDown = self.shuttingDown
        let logger = self.logger
        let task = Task {
            do {
                try await application.run()
            } catch {
                let expected = Task.isCancelled || shuttingDown.withLockedValue { $0 }
                logger.log(level: expected ? .debug : .error, "metrics listener stopped", metadata: ["address": "\(host)", "error": "\(error)"])
            }
            boundContinuation.finish()
        }
        for await channel in bound { return (channel, task) }
        task.cancel()
        throw ServerStartError(message: "cannot listen for metrics on \(host) port \(port)")
    }
}
