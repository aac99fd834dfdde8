import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Testing
import XMPPClient
import XMPPCore
@testable import XMPPServer

/// Reloading the configuration and certificate of a running server: new connections get the
/// new certificate, open ones keep theirs, and a broken configuration changes nothing.
@Suite("Configuration and certificate reload")
struct ReloadIntegrationTests {
    /// A server started from a YAML file, as `starling serve --config` starts one, with its
    /// certificate files in the test's own directory.
    final class Setup: Sendable {
        let directory: String
        var configurationPath: String { self.directory + "/starling.yaml" }
        var certificatePath: String { self.directory + "/certificate.pem" }
        var keyPath: String { self.directory + "/key.pem" }

        init() throws {
            self.directory = NSTemporaryDirectory() + "starling-reload-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        }

        /// The configuration file: ports 0 on loopback, the given extras appended.
        func write(logLevel: String = "warning", admins: [String] = [], extra: String = "") throws {
            let yaml = """
                hosts: [localhost]
                data_dir: \(self.directory)/data
                log_level: \(logLevel)
                admins: [\(admins.joined(separator: ", "))]
                tls:
                  certificate: \(self.certificatePath)
                  private_key: \(self.keyPath)
                listeners:
                  - { kind: c2s, addresses: [127.0.0.1], port: 0, tls: starttls }
                  - { kind: c2s, addresses: [127.0.0.1], port: 0, tls: direct }
                  - { kind: http, addresses: [127.0.0.1], port: 0, tls: direct }
                  - { kind: admin, addresses: [127.0.0.1], port: 0, tls: none }
                  - { kind: s2s, addresses: [127.0.0.1], port: 0, tls: direct }
                \(extra)
                """
            try yaml.write(toFile: self.configurationPath, atomically: true, encoding: .utf8)
        }

        /// A new self-signed certificate for localhost in the configured files; returns its PEM.
        @discardableResult
        func newCertificate() throws -> String {
            try CertificateStore.generateSelfSigned(hosts: ["localhost"], certificatePath: self.certificatePath, keyPath: self.keyPath)
            return try String(contentsOfFile: self.certificatePath, encoding: .utf8)
        }

        func read() throws -> ServerConfiguration {
            try ConfigurationLoader.load(yaml: String(contentsOfFile: self.configurationPath, encoding: .utf8))
        }

        func remove() {
            try? FileManager.default.removeItem(atPath: self.directory)
        }
    }

    /// The DER of the leaf certificate a TLS server presents on `port` (the handshake is then
    /// abandoned).
    static func presentedCertificate(port: Int) async throws -> [UInt8] {
        let seen = NIOLockedValueBox<[UInt8]?>(nil)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: configuration)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: "localhost") { chain, promise in
                        seen.withLockedValue { $0 = chain.first.flatMap { try? $0.toDERBytes() } }
                        promise.succeed(NIOSSLVerificationResult.failed)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await waitUntil("the server presented a certificate") { seen.withLockedValue { $0 } != nil }
        try? await channel.close()
        return seen.withLockedValue { $0 } ?? []
    }

    static func der(_ pem: String) throws -> [UInt8] {
        try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)).first?.toDERBytes() ?? []
    }

    static func withServer(_ body: (Setup, TestServer, AdminAPIIntegrationTests.Fixture) async throws -> Void) async throws {
        let setup = try Setup()
        defer { setup.remove() }
        try setup.newCertificate()
        try setup.write()
        let configuration = try setup.read()
        let server = try await TestServer(configure: { $0 = configuration }, reloadConfiguration: { try setup.read() })
        do {
            let tokens = AdminTokenStore(backend: server.server.storage)
            let read = try await tokens.create(scope: .read, label: "test", lifetime: 600).0.description
            let write = try await tokens.create(scope: .write, label: "test", lifetime: 600).0.description
            try await body(setup, server, AdminAPIIntegrationTests.Fixture(server: server, read: read, write: write))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("new TLS connections (STARTTLS, direct TLS, HTTPS, server-to-server) get the new certificate; a connection opened before stays up")
    func certificate() async throws {
        try await Self.withServer { setup, server, fixture in
            try await server.addUser("alice", password: "alice-password")
            let first = try String(contentsOfFile: setup.certificatePath, encoding: .utf8)
            let before = try await server.login("alice", password: "alice-password", resource: "before")
            let httpsPort = try #require(server.server.boundListeners.first { $0.listener.kind == .http }?.address.port)
            let s2sPort = try #require(server.s2sPort)
            #expect(try await Self.presentedCertificate(port: httpsPort) == Self.der(first))
            #expect(try await Self.presentedCertificate(port: s2sPort) == Self.der(first))

            let second = try setup.newCertificate()
            #expect(try await Self.presentedCertificate(port: server.directTLSPort) == Self.der(first), "nothing changes before the reload")
            let report = try await fixture.object("POST", "/reload")
            let applied = report["applied"] as? [[String: Any]] ?? []
            #expect(applied.compactMap { $0["setting"] as? String } == ["tls"], "\(report)")
            #expect((report["restartRequired"] as? [String])?.isEmpty == true)
            #expect(report["certificateFingerprint"] as? String == server.server.certificateFingerprint)

            #expect(try await Self.presentedCertificate(port: server.directTLSPort) == Self.der(second))
            #expect(try await Self.presentedCertificate(port: httpsPort) == Self.der(second))
            #expect(try await Self.presentedCertificate(port: s2sPort) == Self.der(second))
            var configuration = server.configuration("alice", password: "alice-password", resource: "after")
            configuration.security = .starttls(XMPPClientTLS(serverName: "localhost", trust: .pinned(certificatePEM: second)))
            let after = try await XMPPClient.login(configuration)
            configuration.security = .starttls(XMPPClientTLS(serverName: "localhost", trust: .pinned(certificatePEM: first)))
            await #expect(throws: (any Error).self) { try await XMPPClient.login(configuration) }

            // The connection from before the reload still works, over the old certificate.
            let ping = try await before.iq("get", to: try JID("localhost"), payload: Element("ping", namespace: "urn:xmpp:ping"))
            #expect(ping.stanzaType == "result")
            await before.close()
            await after.close()
        }
    }

    @Test("the log level and the administrators change at once; other changes are reported as needing a restart")
    func settings() async throws {
        try await Self.withServer { setup, server, fixture in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            #expect(try await alice.commandNodes().filter { $0.hasPrefix(adminNode) }.isEmpty)
            try setup.write(logLevel: "error", admins: ["alice@localhost"], extra: "limits: { max_stanza_bytes: 100000 }")
            let report = try server.server.admin.reload()
            #expect(report.applied.map(\.setting) == ["log_level", "admins"])
            #expect(report.applied.last?.detail == "+alice@localhost")
            #expect(report.restartRequired == ["limits"])
            #expect(server.server.admin.logLevel == .error)
            #expect(try await fixture.object("GET", "/log-level")["level"] as? String == "error")
            // Modules ask who administers the server each time: alice sees the XEP-0133 commands now.
            #expect(try await alice.commandNodes().contains(adminNode + "add-user"))
            await alice.close()

            // Nothing more changed; what needs a restart stays listed until then.
            let again = try server.server.admin.reload()
            #expect(again.applied.isEmpty && again.restartRequired == ["limits"])
        }
    }

    @Test("a broken configuration or certificate is refused with the reason, and the server keeps what it runs with")
    func refused() async throws {
        try await Self.withServer { setup, server, fixture in
            let running = try String(contentsOfFile: setup.certificatePath, encoding: .utf8)
            try "hosts: [localhost\nlog_level: [".write(toFile: setup.configurationPath, atomically: true, encoding: .utf8)
            let broken = try await fixture.call("POST", "/reload", token: fixture.write)
            #expect(broken.status == 422 && broken.body.contains("bad_configuration"), "\(broken.body)")

            try setup.write(logLevel: "loud")
            let unknown = try await fixture.call("POST", "/reload", token: fixture.write)
            #expect(unknown.status == 422 && unknown.body.contains("log_level"), "\(unknown.body)")

            // A key that is not the certificate's: refused before anything changes.
            try setup.write(logLevel: "error")
            let certificate = try String(contentsOfFile: setup.certificatePath, encoding: .utf8)
            try setup.newCertificate()
            try certificate.write(toFile: setup.certificatePath, atomically: true, encoding: .utf8)
            let mismatched = try await fixture.call("POST", "/reload", token: fixture.write)
            #expect(mismatched.status == 422 && mismatched.body.contains("not the private key"), "\(mismatched.body)")
            #expect(server.server.admin.logLevel == .warning, "nothing of a refused reload applies")
            #expect(try await Self.presentedCertificate(port: server.directTLSPort) == Self.der(running))

            try FileManager.default.removeItem(atPath: setup.keyPath)
            let missing = try await fixture.call("POST", "/reload", token: fixture.write)
            #expect(missing.status == 422 && missing.body.contains("private key"), "\(missing.body)")
            #expect(try await fixture.call("POST", "/reload", token: fixture.read).status == 403)
        }
    }
}
