import ArgumentParser
import Foundation

/// `starling status`: the running server at a glance, through its admin API.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the running server's uptime, sessions, accounts, federation links and memory.")

    @OptionGroup var api: AdminAPIOptions

    func run() async throws {
        guard let status = try await self.api.client().call("GET", "/status") as? [String: Any] else { throw CLIError("the admin API sent no status") }
        let byTransport = (status["sessionsByTransport"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        let memory = (status["residentMemoryBytes"] as? Int).map { String(format: "%.1f MiB", Double($0) / 1_048_576) } ?? "unknown"
        let peers = status["s2sPeers"] as? [String] ?? []
        let lines: [(String, String)] = [
            ("uptime", "\(status["uptimeSeconds"] as? Int ?? 0) s (since \(status["startedAt"] as? String ?? "?"))"),
            ("sessions", "\(status["sessions"] as? Int ?? 0)\(byTransport.isEmpty ? "" : " (\(byTransport.joined(separator: ", ")))")"),
            ("accounts", "\(status["registeredAccounts"] as? Int ?? 0) (\(status["disabledAccounts"] as? Int ?? 0) disabled)"),
            ("messages", "\(status["messagesRouted"] as? Int ?? 0) routed, \(status["messagesPerSecond"] as? Double ?? 0)/s"),
            ("federation", "\(status["s2sOutboundLinks"] as? Int ?? 0) out, \(status["s2sInboundStreams"] as? Int ?? 0) in\(peers.isEmpty ? "" : ": \(peers.joined(separator: ", "))")"),
            ("memory", memory),
        ]
        for (name, value) in lines { print("\(name.padding(toLength: 11, withPad: " ", startingAt: 0))\(value)") }
    }
}

/// `starling log-level [LEVEL]`: shows or sets the running server's log level.
struct LogLevelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log-level", abstract: "Show or set the running server's log level until it stops (the configuration file is not changed).")

    @Argument(help: "trace, debug, info, notice, warning, error or critical; none to show the current level.")
    var level: String?

    @OptionGroup var api: AdminAPIOptions

    func run() async throws {
        let client = try self.api.client()
        let answer: Any?
        if let level { answer = try await client.call("PUT", "/log-level", json: ["level": level]) } else { answer = try await client.call("GET", "/log-level") }
        print((answer as? [String: Any])?["level"] as? String ?? "unknown")
    }
}
