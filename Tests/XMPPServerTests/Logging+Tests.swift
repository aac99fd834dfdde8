import Logging
import NIOConcurrencyHelpers
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL

/// Keeps every log line, metadata included.
final class CapturedLog: @unchecked Sendable {
    private let lock = NIOLock()
    private var lines: [String] = []

    func append(_ line: String) { self.lock.withLock { self.lines.append(line) } }
    var text: String { self.lock.withLock { self.lines.joined(separator: "\n") } }

    var logger: Logger {
        var logger = Logger(label: "captured") { _ in CapturingHandler(log: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
        self.log.append("\(event.level) \(event.message) \(all)")
    }
}

@Suite("Logs")
struct LoggingTests {
    @Test("logs at trace level never contain passwords or SASL payloads, and record failures with the address")
    func noSecretsInLogs() async throws {
        let log = CapturedLog()
        // TestServer sets `warning` unless told otherwise, and the server applies the configured
        // level to the logger it is given: ask for trace, or nothing below warning is captured.
        let server = try await TestServer(configure: { $0.logLevel = .trace }, logger: log.logger)
        try await server.addUser("alice", password: "Tr0ub4dor&3-secret")
        for mechanism in [SASLMechanismName.plain, .scramSHA256, .scramSHA1Plus] {
            let client = try await server.login("alice", password: "Tr0ub4dor&3-secret", mechanisms: [mechanism])
            await client.close()
        }
        await #expect(throws: (any Error).self) {
            _ = try await server.login("alice", password: "wrong-guess-secret", mechanisms: [.plain])
        }
        await server.stop()
        let text = log.text
        // Lines below warning were captured (the server logs each login at info), or the
        // checks below would look at almost nothing.
        #expect(text.contains("info authenticated"))
        #expect(text.contains("authentication failed"))
        #expect(text.contains("127.0.0.1"))
        #expect(text.contains("alice"))
        #expect(!text.contains("Tr0ub4dor"))
        #expect(!text.contains("wrong-guess"))
        #expect(!text.contains(Base64.encode(PLAINMessage(username: "alice", password: "Tr0ub4dor&3-secret").bytes)))
        #expect(!text.contains("n=alice,r="))
        #expect(!text.contains("c=biws"))
    }

    /// An operator reading one connection's lines needs to know whose they are: the address
    /// on every line, the account once authenticated, the full JID once bound.
    @Test("a client connection's log lines carry its address, then its account, then its JID")
    func connectionLinesSayWhose() async throws {
        let log = CapturedLog()
        let server = try await TestServer(configure: { $0.logLevel = .debug }, logger: log.logger)
        try await server.addUser("alice", password: "a-password")
        let client = try await server.login("alice", password: "a-password", resource: "laptop")
        await client.close()
        try await waitUntil("the session ended") { server.server.sessionCount == 0 }
        await server.stop()
        let lines = log.text.split(separator: "\n").map(String.init)
        let authenticated = try #require(lines.first { $0.contains(" authenticated ") })
        #expect(authenticated.contains("\"ip\": 127.0.0.1") && authenticated.contains("\"account\": alice@localhost"), "\(authenticated)")
        let bound = try #require(lines.first { $0.contains("resource bound") })
        #expect(bound.contains("\"ip\": 127.0.0.1") && bound.contains("\"jid\": alice@localhost/laptop"), "\(bound)")
    }
}
