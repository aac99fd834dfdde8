import Foundation
import Testing
@testable import XMPPServer

/// The real `starling` binary: SIGHUP to `starling serve`, and `starling reload` through the
/// admin API, each make new connections get a certificate renewed in place.
@Suite("starling serve reloads on SIGHUP and on starling reload")
struct ReloadCommandTests {
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("starling").path
    }

    /// The port of the entry "127.0.0.1 port N (kind)" in the line `starling serve` prints.
    static func port(in line: String, kind: String) -> Int? {
        for entry in line.split(separator: ",") where entry.hasSuffix("(\(kind))") {
            let words = entry.split(separator: " ")
            if let index = words.firstIndex(of: "port"), index > 0, words[index - 1] == "127.0.0.1", index + 1 < words.count {
                return Int(words[index + 1])
            }
        }
        return nil
    }

    /// The first line of a command's standard output that satisfies `isWanted`, after it ended.
    static func output(_ arguments: [String], _ isWanted: @escaping @Sendable (Substring) -> Bool) async throws -> String? {
        let process = try SpawnedProcess.spawn(Self.binary, arguments, pipeOutput: true)
        let line = await process.firstOutputLine(where: isWanted)
        process.waitForExit()
        return line
    }

    @Test("SIGHUP, then starling reload, give new TLS connections the certificate renewed in the data directory")
    func signalAndCommand() async throws {
        let directory = NSTemporaryDirectory() + "starling-reload-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = [
            "serve", "--data-dir", directory, "--c2s-port", "0", "--tls-port", "0", "--http-port", "0", "--https-port", "0", "--admin-port", "0",
            "--log-level", "error",
        ]
        let server = try SpawnedProcess.spawn(Self.binary, arguments, pipeOutput: true)
        // A server that never says it listens is stopped: the read below then ends at EOF.
        let watchdog = DispatchWorkItem { server.kill() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        defer {
            watchdog.cancel()
            server.kill(SIGTERM)
            server.waitForExit()
        }
        let line = try #require(await server.firstOutputLine { $0.hasPrefix("Starling serving") })
        let tlsPort = try #require(Self.port(in: line, kind: "direct"), "\(line)")
        let adminPort = try #require(Self.port(in: line, kind: "admin"), "\(line)")
        let certificatePath = directory + "/tls/certificate.pem"
        let keyPath = directory + "/tls/private-key.pem"
        func renew() throws -> [UInt8] {
            try CertificateStore.generateSelfSigned(hosts: ["localhost"], certificatePath: certificatePath, keyPath: keyPath)
            return try ReloadIntegrationTests.der(String(contentsOfFile: certificatePath, encoding: .utf8))
        }
        let first = try ReloadIntegrationTests.der(String(contentsOfFile: certificatePath, encoding: .utf8))
        #expect(try await ReloadIntegrationTests.presentedCertificate(port: tlsPort) == first)

        let second = try renew()
        server.kill(SIGHUP)
        try await waitUntil("the server presents the certificate renewed before SIGHUP") {
            try await ReloadIntegrationTests.presentedCertificate(port: tlsPort) == second
        }

        let token = try #require(try await Self.output(["token", "create", "--scope", "write", "--data-dir", directory]) { $0.hasPrefix("sta_") })
        let tokenPath = directory + "/admin-token"
        try token.write(toFile: tokenPath, atomically: true, encoding: .utf8)
        let third = try renew()
        let reloaded = try await Self.output(["reload", "--api", "http://127.0.0.1:\(adminPort)", "--token-file", tokenPath]) {
            $0.hasPrefix("applied") || $0.hasPrefix("nothing")
        }
        #expect(reloaded?.hasPrefix("applied tls: new connections get the certificate") == true, "\(reloaded ?? "no output")")
        #expect(try await ReloadIntegrationTests.presentedCertificate(port: tlsPort) == third)
    }
}
