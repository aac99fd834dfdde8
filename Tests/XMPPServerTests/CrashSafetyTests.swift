import Foundation
import NIOCore
import Testing
import XMPPClient
import XMPPCore

/// The real `starling` binary, killed with SIGKILL at the worst moment and started again.
private final class StarlingProcess {
    let dataDirectory: String
    let port: Int
    private var process: Process?

    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("starling").path
    }

    init(dataDirectory: String, port: Int) {
        self.dataDirectory = dataDirectory
        self.port = port
    }

    func run(_ arguments: [String], input: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments + ["--data-dir", self.dataDirectory]
        let pipe = Pipe()
        process.standardInput = pipe
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        if let input { pipe.fileHandleForWriting.write(Data((input + "\n").utf8)) }
        try pipe.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--data-dir", self.dataDirectory, "--c2s-port", String(self.port), "--tls-port", "0", "--log-level", "error"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<100 {
            if (try? await XMPPConnection.connect(host: "127.0.0.1", port: self.port)) != nil { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    func kill() {
        guard let process = self.process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    var certificatePEM: String { (try? String(contentsOfFile: self.dataDirectory + "/tls/certificate.pem", encoding: .utf8)) ?? "" }

    func configuration(_ user: String) throws -> XMPPClientConfiguration {
        XMPPClientConfiguration(
            account: try JID("\(user)@localhost"), password: "\(user)-password", host: "127.0.0.1", port: self.port,
            security: .starttls(XMPPClientTLS(serverName: "localhost", trust: .pinned(certificatePEM: self.certificatePEM))),
            mechanisms: [.scramSHA256])
    }
}

@Suite("Crash safety with SIGKILL", .serialized)
struct CrashSafetyTests {
    @Test("messages acknowledged before a SIGKILL are all delivered after the restart")
    func offlineMessagesSurviveKill() async throws {
        let directory = NSTemporaryDirectory() + "starling-crash-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = StarlingProcess(dataDirectory: directory, port: try freePort())
        for user in ["alice", "bob"] { try server.run(["adduser", "\(user)@localhost", "--password-stdin"], input: "\(user)-password") }
        try await server.start()
        let alice = try await XMPPClient.login(try server.configuration("alice"))
        for index in 1...30 {
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "kept \(index)")
        }
        // Stream management's <a/> acknowledges what the server handled: all 30 messages.
        try await alice.send(Element("enable", namespace: "urn:xmpp:sm:3"))
        _ = try await alice.receive { $0.name == "enabled" }
        _ = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
        // The roster change is acknowledged by its IQ result.
        let item = Element("query", namespace: "jabber:iq:roster", children: [Element("item", namespace: "jabber:iq:roster", attributes: [("jid", "carol@example.org")])])
        #expect(try await alice.iq("set", to: nil, payload: item).stanzaType == "result")
        server.kill()

        try await server.start()
        let bob = try await XMPPClient.login(try server.configuration("bob"))
        try await bob.sendPresence()
        var bodies: [String] = []
        for _ in 1...30 { bodies.append(try await bob.receive { $0.name == "message" }.child(named: "body")?.text ?? "") }
        #expect(bodies == (1...30).map { "kept \($0)" })
        let aliceAgain = try await XMPPClient.login(try server.configuration("alice"))
        let roster = try await aliceAgain.iq("get", to: nil, payload: Element(name: "query", namespace: "jabber:iq:roster"))
        #expect(roster.child(named: "query")?.child(named: "item")?[attribute: "jid"] == "carol@example.org")
        server.kill()
    }
}
