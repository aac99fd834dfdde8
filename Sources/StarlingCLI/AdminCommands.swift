import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// Where the admin API of the running server is and the token to call it with. The token comes
/// from the environment or a file, never from the command line, where `ps` and the shell's
/// history would show it.
struct AdminAPIOptions: ParsableArguments {
    @Option(name: .long, help: "The admin listener, http://HOST:PORT (default $STARLING_ADMIN_URL or http://127.0.0.1:5285).")
    var api: String?

    @Option(name: .customLong("token-file"), help: "A file holding the token (default: $STARLING_ADMIN_TOKEN).")
    var tokenFile: String?

    func client() throws -> AdminAPIClient {
        let url = self.api ?? ProcessInfo.processInfo.environment["STARLING_ADMIN_URL"] ?? "http://127.0.0.1:5285"
        guard let parsed = URLComponents(string: url), parsed.scheme == "http", let host = parsed.host, !host.isEmpty, parsed.path.isEmpty || parsed.path == "/" else {
            throw ValidationError("--api must be http://HOST:PORT (a kind: admin listener), not \(url)")
        }
        let token: String
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else { throw ValidationError("cannot read the token file \(tokenFile)") }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let variable = ProcessInfo.processInfo.environment["STARLING_ADMIN_TOKEN"], !variable.isEmpty {
            token = variable
        } else {
            throw ValidationError("set STARLING_ADMIN_TOKEN or pass --token-file (make a token with `starling token create --scope write`)")
        }
        return AdminAPIClient(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: parsed.port ?? 5285, token: token)
    }
}

/// One admin API call per connection, over plain HTTP/1.1 on the admin listener.
struct AdminAPIClient {
    let host: String
    let port: Int
    let token: String

    /// Calls `path` (after /admin/api/v1); returns the parsed JSON, or throws the API's message.
    func call(_ method: String, _ path: String, json: [String: Any]? = nil) async throws -> Any? {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        var request = "\(method) /admin/api/v1\(path) HTTP/1.1\r\nHost: \(self.host):\(self.port)\r\nConnection: close\r\n"
        request += "Authorization: Bearer \(self.token)\r\nAccept: application/json\r\n"
        if json != nil { request += "Content-Type: application/json\r\n" }
        request += "Content-Length: \(body.count)\r\n\r\n"
        var bytes = Array(request.utf8)
        bytes += body
        let response: [UInt8]
        do {
            response = try await Self.exchange(host: self.host, port: self.port, bytes)
        } catch {
            throw CLIError("cannot reach the admin API at \(self.host) port \(self.port): \(error) (is a kind: admin listener configured, or --admin-port given?)")
        }
        guard let split = Self.headEnd(response), let statusLine = String(decoding: response[..<split], as: UTF8.self).split(separator: "\r\n").first,
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw CLIError("the admin API answered something that is not HTTP") }
        let payload = Data(response[(split + 4)...])
        let parsed = payload.isEmpty ? nil : try? JSONSerialization.jsonObject(with: payload)
        guard (200..<300).contains(status) else {
            let message = (parsed as? [String: Any])?["message"] as? String ?? "HTTP \(status)"
            throw CLIError("\(message) (HTTP \(status))")
        }
        return parsed
    }

    /// A path segment as the admin API accepts it: unreserved characters and `@` as they are,
    /// every other byte percent-encoded.
    static func segment(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            let character = Character(UnicodeScalar(byte))
            if byte < 0x80, character.isLetter || character.isNumber || "-_.~@".contains(character) {
                output.append(character)
            } else {
                output += String(format: "%%%02X", byte)
            }
        }
        return output
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        return (0...(bytes.count - 4)).first { bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10 }
    }

    private static func exchange(host: String, port: Int, _ request: [UInt8]) async throws -> [UInt8] {
        final class Collector: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = ByteBuffer
            var bytes: [UInt8] = []
            let done: EventLoopPromise<[UInt8]>
            init(done: EventLoopPromise<[UInt8]>) { self.done = done }
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let buffer = self.unwrapInboundIn(data)
                self.bytes += buffer.readableBytesView
                // An answer is small; a server that sends without end is cut off.
                if self.bytes.count > 16 * 1024 * 1024 { context.close(promise: nil) }
            }
            func channelInactive(context: ChannelHandlerContext) { self.done.succeed(self.bytes) }
            func errorCaught(context: ChannelHandlerContext, error: any Error) { self.done.fail(error) }
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.next().makePromise(of: [UInt8].self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(done: done)) }
                }
                .connect(host: host, port: port).get()
        } catch {
            done.fail(error)
            throw error
        }
        try await channel.writeAndFlush(ByteBuffer(bytes: request))
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(30)) { channel.close(promise: nil) }
        defer { timeout.cancel() }
        return try await done.futureResult.get()
    }
}

struct SessionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sessions", abstract: "List the sessions of the running server (through its admin API).")

    @Option(name: .long, help: "Only this account's sessions.")
    var account: String?

    @OptionGroup var api: AdminAPIOptions

    func run() async throws {
        let query = self.account.map { "?account=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? ""
        let sessions = try await self.api.client().call("GET", "/sessions\(query)") as? [[String: Any]] ?? []
        if sessions.isEmpty { print("no sessions") }
        for session in sessions {
            let fields: [String] = [
                session["jid"] as? String ?? "?", session["address"] as? String ?? "-", session["transport"] as? String ?? "detached",
                "sm=\(session["streamManagement"] as? String ?? "?")", session["client"] as? String ?? "",
            ]
            print(fields.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}

struct KickCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kick", abstract: "End sessions of an account on the running server (policy-violation).")

    @Argument(help: "The account (bare JID); with --resource, only that session.")
    var jid: String

    @Option(name: .long, help: "Only the session with this resource.")
    var resource: String?

    @OptionGroup var api: AdminAPIOptions

    func run() async throws {
        let query = self.resource.map { "?resource=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? ""
        let answer = try await self.api.client().call("DELETE", "/sessions/\(AdminAPIClient.segment(self.jid))\(query)") as? [String: Any]
        let ended = answer?["ended"] as? Int ?? 0
        print("ended \(ended) session\(ended == 1 ? "" : "s")")
    }
}

struct AnnounceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "announce", abstract: "Send a headline message to every available session of the running server.")

    @Argument(help: "The text of the announcement.")
    var body: String

    @Option(name: .long, help: "A subject line.")
    var subject: String?

    @Option(name: .long, help: "Only the sessions of this hosted domain.")
    var domain: String?

    @OptionGroup var api: AdminAPIOptions

    func run() async throws {
        var json: [String: Any] = ["body": self.body]
        if let subject { json["subject"] = subject }
        if let domain { json["domain"] = domain }
        let answer = try await self.api.client().call("POST", "/announcements", json: json) as? [String: Any]
        let sent = answer?["sessions"] as? Int ?? 0
        print("sent to \(sent) session\(sent == 1 ? "" : "s")")
    }
}

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running server read its configuration file and certificate again (through its admin API; SIGHUP does the same).")

    @OptionGroup var api: AdminAPIOptions

    func run() async throws {
        let report = try await self.api.client().call("POST", "/reload") as? [String: Any] ?? [:]
        let applied = report["applied"] as? [[String: Any]] ?? []
        if applied.isEmpty { print("nothing new to apply") }
        for change in applied {
            print("applied \(change["setting"] as? String ?? "?"): \(change["detail"] as? String ?? "")")
        }
        if let fingerprint = report["certificateFingerprint"] as? String { print("certificate SHA-256 fingerprint: \(fingerprint)") }
        for warning in report["warnings"] as? [String] ?? [] { print("warning: \(warning)") }
        let restart = report["restartRequired"] as? [String] ?? []
        if !restart.isEmpty { print("changed, applied after a restart: \(restart.joined(separator: ", "))") }
    }
}
