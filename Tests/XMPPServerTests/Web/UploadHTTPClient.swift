import Foundation
import NIOCore
import NIOPosix

/// An HTTP/1.1 response as read off the socket, body byte for byte.
struct HTTPReply: Sendable {
    var status: Int
    /// Header names in lower case.
    var headers: [String: String]
    var body: [UInt8]
}

struct HTTPClientTimedOut: Error {}
struct HTTPClientNoResponse: Error {}

/// A tiny HTTP/1.1 client over a loopback socket that sends exactly the bytes it is given
/// (bad paths stay bad) and reads one response by its Content-Length, so a test sees what
/// the server really answered and never waits for a close that will not come.
enum LoopbackHTTP {
    /// Sends `head` (request line and headers, without the blank line) and `body`; reads one
    /// response. `expectBody: false` for HEAD. `sendBody: false` sends the head only, for
    /// requests the server should refuse before reading any body.
    static func exchange(
        port: Int, _ head: String, body: [UInt8] = [], sendBody: Bool = true, expectBody: Bool = true, timeout: TimeAmount = .seconds(20)
    ) async throws -> HTTPReply {
        let group = MultiThreadedEventLoopGroup.singleton
        let loop = group.next()
        let done = loop.makePromise(of: HTTPReply.self)
        let channel = try await ClientBootstrap(group: loop).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ResponseReader(expectBody: expectBody, done: done))
            }
        }.connect(host: "127.0.0.1", port: port).get()
        let timer = loop.scheduleTask(in: timeout) { done.fail(HTTPClientTimedOut()) }
        var buffer = channel.allocator.buffer(capacity: head.utf8.count + 4 + body.count)
        buffer.writeString(head + "\r\n\r\n")
        if sendBody { buffer.writeBytes(body) }
        try await channel.writeAndFlush(buffer)
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await done.futureResult.get()
    }

    /// Sends `head` and the first bytes of a body, then closes the connection: a client that
    /// went away in the middle of its upload.
    static func abandon(port: Int, _ head: String, partialBody: [UInt8]) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
        var buffer = channel.allocator.buffer(capacity: head.utf8.count + 4 + partialBody.count)
        buffer.writeString(head + "\r\n\r\n")
        buffer.writeBytes(partialBody)
        try await channel.writeAndFlush(buffer)
        try await channel.close()
    }

    /// Splits `http://host:port/path?query` into what a request line needs.
    static func target(_ url: String) -> (port: Int, target: String)? {
        guard let components = URLComponents(string: url), let port = components.port else { return nil }
        let query = components.percentEncodedQuery.map { "?\($0)" } ?? ""
        return (port, components.percentEncodedPath + query)
    }
}

private final class ResponseReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private var received: [UInt8] = []
    private let expectBody: Bool
    private let done: EventLoopPromise<HTTPReply>

    init(expectBody: Bool, done: EventLoopPromise<HTTPReply>) {
        self.expectBody = expectBody
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.received += buffer.readBytes(length: buffer.readableBytes) ?? []
        if let reply = self.parse(complete: false) { self.done.succeed(reply) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let reply = self.parse(complete: true) { self.done.succeed(reply) } else { self.done.fail(HTTPClientNoResponse()) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.done.fail(error)
        context.close(promise: nil)
    }

    /// The response once all of it is here; `complete` when the connection closed (a body
    /// without a length ends there).
    private func parse(complete: Bool) -> HTTPReply? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = self.received.indices.first(where: { self.received[$0...].starts(with: separator) }) else { return nil }
        let head = String(decoding: self.received[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value
        }
        let bodyStart = end + 4
        if !self.expectBody || status == 204 || status == 304 { return HTTPReply(status: status, headers: headers, body: []) }
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard self.received.count - bodyStart >= length else { return nil }
            return HTTPReply(status: status, headers: headers, body: Array(self.received[bodyStart..<(bodyStart + length)]))
        }
        return complete ? HTTPReply(status: status, headers: headers, body: Array(self.received[bodyStart...])) : nil
    }
}
