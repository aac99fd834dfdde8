import Foundation
import NIOCore
import Testing
import XMPPClient
import XMPPCore

/// The real `starling` binary, killed with SIGKILL at the worst moment and started again.
private final class StarlingProcess {
    let dataDirectory: String
    /// The STARTTLS port the running server bound; a new one at every start.
    private(set) var port = 0
    private var process: SpawnedProcess?

    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("starling").path
    }

    init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }

    func run(_ arguments: [String], input: String? = nil) throws {
        let process = try SpawnedProcess.spawn(Self.binary, arguments + ["--data-dir", self.dataDirectory], pipeInput: true)
        process.finishInput(input.map { $0 + "\n" } ?? "")
        process.waitForExit()
    }

    /// Starts `starling serve` on port 0 and reads the port it bound from the line it prints
    /// once it listens ("Starling serving localhost on 127.0.0.1 port N (starttls), ..."):
    /// no port is probed and freed for the server to take later, and "ready" means this
    /// server said so, not that something answers on a port.
    func start() async throws {
        let arguments = ["serve", "--data-dir", self.dataDirectory, "--c2s-port", "0", "--tls-port", "0", "--log-level", "error"]
        let process = try SpawnedProcess.spawn(Self.binary, arguments, pipeOutput: true)
        self.process = process
        // If the server never says it listens, stop it: the read below then ends at EOF.
        let watchdog = DispatchWorkItem { process.kill() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        defer { watchdog.cancel() }
        let line = await process.firstOutputLine { $0.hasPrefix("Starling serving") }
        guard let line, let port = Self.starttlsPort(in: line) else {
            throw StartFailure(description: "starling serve did not report a listening STARTTLS port (\(line ?? "exited or stayed silent"))")
        }
        self.port = port
    }

    struct StartFailure: Error, CustomStringConvertible { let description: String }

    /// The port after "127.0.0.1 port " in an entry that ends "(starttls)".
    static func starttlsPort(in line: String) -> Int? {
        for entry in line.split(separator: ",") where entry.hasSuffix("(starttls)") {
            let words = entry.split(separator: " ")
            if let index = words.firstIndex(of: "port"), index > 0, words[index - 1] == "127.0.0.1", index + 1 < words.count {
                return Int(words[index + 1])
            }
        }
        return nil
    }

    func kill() {
        guard let process = self.process else { return }
        process.kill()
        process.waitForExit()
        self.process = nil
    }

    var certificatePEM: String { (try? String(contentsOfFile: self.dataDirectory + "/tls/certificate.pem", encoding: .utf8)) ?? "" }

    func configuration(_ user: String, resource: String? = nil) throws -> XMPPClientConfiguration {
        XMPPClientConfiguration(
            account: try JID("\(user)@localhost"), password: "\(user)-password", host: "127.0.0.1", port: self.port,
            security: .starttls(XMPPClientTLS(serverName: "localhost", trust: .pinned(certificatePEM: self.certificatePEM))),
            mechanisms: [.scramSHA256], resource: resource)
    }
}

@Suite("Crash safety with SIGKILL", .serialized)
struct CrashSafetyTests {
    @Test("messages acknowledged before a SIGKILL are all delivered after the restart")
    func offlineMessagesSurviveKill() async throws {
        let directory = NSTemporaryDirectory() + "starling-crash-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = StarlingProcess(dataDirectory: directory)
        // A failed expectation must not leave the server running (it would hold its ports).
        defer { server.kill() }
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
        // An RFC 6120 bind: a Bind 2 session would fetch these from the archive instead of
        // having them replayed (XEP-0386 §3.2).
        let bob = try await XMPPClient.login(try server.configuration("bob", resource: "phone"))
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
