import NIOCore
import NIOPosix

/// Sends `request` as written to a loopback port and returns what came back: all of it until
/// the server closes, or (`firstLineOnly`) the status line, after which the client closes.
func rawHTTP(port: Int, _ request: String, firstLineOnly: Bool) async throws -> String {
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var text = ""
        let firstLineOnly: Bool
        let done: EventLoopPromise<String>
        init(firstLineOnly: Bool, done: EventLoopPromise<String>) {
            self.firstLineOnly = firstLineOnly
            self.done = done
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = self.unwrapInboundIn(data)
            self.text += buffer.readString(length: buffer.readableBytes) ?? ""
            guard self.firstLineOnly, let end = self.text.range(of: "\r\n") else { return }
            self.done.succeed(String(self.text[..<end.lowerBound]))
            context.close(promise: nil)
        }
        func channelInactive(context: ChannelHandlerContext) { self.done.succeed(self.text) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { self.done.fail(error) }
    }
    let group = MultiThreadedEventLoopGroup.singleton
    let done = group.next().makePromise(of: String.self)
    let channel = try await ClientBootstrap(group: group).channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(firstLineOnly: firstLineOnly, done: done)) }
    }.connect(host: "127.0.0.1", port: port).get()
    try await channel.writeAndFlush(ByteBuffer(string: request))
    return try await done.futureResult.get()
}

func statusCode(_ statusLine: String) -> Int {
    Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
}

/// A plain HTTP GET on loopback, answered whole (the server closes after it).
func httpGet(port: Int, path: String, headers: [String: String] = [:]) async throws -> (status: Int, headers: [String: String], body: String) {
    try await httpRequest(port: port, method: "GET", path: path, headers: headers)
}

/// One HTTP request on its own loopback connection, answered whole.
func httpRequest(port: Int, method: String, path: String, headers: [String: String] = [:], body: String = "") async throws -> (status: Int, headers: [String: String], body: String) {
    var request = "\(method) \(path) HTTP/1.1\r\nHost: localhost:\(port)\r\nConnection: close\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    if !body.isEmpty || method == "POST" { request += "Content-Length: \(body.utf8.count)\r\n" }
    let response = try await rawHTTP(port: port, request + "\r\n" + body, firstLineOnly: false)
    let parts = response.components(separatedBy: "\r\n\r\n")
    let head = parts.first?.components(separatedBy: "\r\n") ?? []
    var fields: [String: String] = [:]
    for line in head.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return (statusCode(head.first ?? ""), fields, parts.dropFirst().joined(separator: "\r\n\r\n"))
}
