import Foundation
import Logging
import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPServerModules

/// A real Starling server on ephemeral loopback ports with its own data directory.
final class TestServer: @unchecked Sendable {
    let server: XMPPServer
    let dataDirectory: String
    let domain: String

    init(
        configure: (inout ServerConfiguration) -> Void = { _ in }, extraModules: [any ServerModule] = [], logger customLogger: Logger? = nil,
        reloadConfiguration: ConfigurationSource? = nil
    ) async throws {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = NSTemporaryDirectory() + "starling-test-" + UUID().uuidString
        configuration.listeners = [
            ServerConfiguration.Listener(kind: .c2s, addresses: ["127.0.0.1"], port: 0, tls: .starttls),
            ServerConfiguration.Listener(kind: .c2s, addresses: ["127.0.0.1"], port: 0, tls: .direct),
        ]
        configuration.logLevel = ProcessInfo.processInfo.environment["STARLING_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        configure(&configuration)
        self.dataDirectory = configuration.dataDirectory
        self.domain = configuration.hosts.first ?? "localhost"
        var logger = customLogger ?? Logger(label: "starling-test")
        if customLogger == nil { logger.logLevel = configuration.logLevel }
        self.server = try XMPPServer(
            configuration: configuration, modules: DefaultModules.modules(for: configuration) + extraModules, logger: logger, reloadConfiguration: reloadConfiguration)
        try await self.server.start()
    }

    var starttlsPort: Int { self.server.port(for: .starttls) ?? 0 }
    var directTLSPort: Int { self.server.port(for: .direct) ?? 0 }
    /// The port the server-to-server listener bound, when there is one.
    var s2sPort: Int? { self.server.boundListeners.first { $0.listener.kind == .s2s }?.address.port }

    var tls: XMPPClientTLS {
        XMPPClientTLS(serverName: self.domain, trust: .pinned(certificatePEM: self.server.certificatePEM ?? ""))
    }

    @discardableResult
    func addUser(_ localpart: String, password: String) async throws -> JID {
        let manager = AccountManager(store: self.server.storage.accounts, hosts: [self.domain])
        return try await manager.create("\(localpart)@\(self.domain)", password: password)
    }

    func configuration(
        _ localpart: String, password: String, mechanisms: [SASLMechanismName] = [.scramSHA256], resource: String? = nil, direct: Bool = false
    ) -> XMPPClientConfiguration {
        XMPPClientConfiguration(
            account: try! JID(localpart: localpart, domainpart: self.domain),
            password: password,
            host: "127.0.0.1",
            port: direct ? self.directTLSPort : self.starttlsPort,
            security: direct ? .directTLS(self.tls) : .starttls(self.tls),
            mechanisms: mechanisms,
            resource: resource
        )
    }

    func login(_ localpart: String, password: String, mechanisms: [SASLMechanismName] = [.scramSHA256], resource: String? = nil) async throws -> XMPPClient {
        try await XMPPClient.login(self.configuration(localpart, password: password, mechanisms: mechanisms, resource: resource))
    }

    /// A raw plaintext connection with the stream opened and the features read.
    func rawStream() async throws -> (XMPPConnection, Element) {
        let connection = try await XMPPConnection.connect(host: "127.0.0.1", port: self.starttlsPort)
        try await connection.openStream(to: self.domain)
        _ = try await connection.expectStreamHeader()
        let features = try await connection.nextElement()
        return (connection, features)
    }

    /// A raw stream after STARTTLS, with the encrypted stream's features read.
    func encryptedRawStream() async throws -> (XMPPConnection, Element) {
        let (connection, _) = try await self.rawStream()
        try await connection.send(Element(name: "starttls", namespace: XMPPNamespace.tls))
        #expect(try await connection.nextElement().name == "proceed")
        try await connection.startTLS(self.tls)
        try await connection.openStream(to: self.domain)
        _ = try await connection.expectStreamHeader()
        return (connection, try await connection.nextElement())
    }

    func stop() async {
        await self.server.shutdown()
        try? FileManager.default.removeItem(atPath: self.dataDirectory)
    }
}

/// Runs `body` against a fresh server and always stops it.
func withServer(
    configure: (inout ServerConfiguration) -> Void = { _ in }, extraModules: [any ServerModule] = [], logger: Logger? = nil,
    _ body: (TestServer) async throws -> Void
) async throws {
    let server = try await TestServer(configure: configure, extraModules: extraModules, logger: logger)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

extension XMPPConnection.Failure {
    var streamErrorCondition: StreamErrorCondition? {
        if case .streamError(let error) = self { return error.condition }
        return nil
    }
}

/// Reads elements until a stream error arrives, returning its condition.
func expectStreamError(_ connection: XMPPConnection, timeout: TimeAmount = .seconds(10)) async throws -> StreamErrorCondition? {
    for _ in 0..<20 {
        do {
            _ = try await connection.nextElement(timeout: timeout)
        } catch let failure as XMPPConnection.Failure {
            return failure.streamErrorCondition
        }
    }
    return nil
}

struct WaitTimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting until \(self.what)" }
}

/// Waits until `condition` holds, checking every 20 ms, and throws after `timeout`: for effects
/// that send nothing to wait for (a session ending, a count changing). The deadline is only a
/// bound on a broken run; a passing run waits just as long as the server needs.
func waitUntil(_ what: String, timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

extension XMPPClient {
    /// Pings the server and returns every stanza that arrived before the answer. The server
    /// handles one stream's stanzas in order, so anything it sends in answer to what this client
    /// sent earlier (a bounce, an error) is in the result; what is not there was never sent.
    func stanzasUntilPing() async throws -> [Element] {
        let id = self.makeID()
        try await self.send(
            Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("id", id), ("to", self.jid.domainpart)],
                children: [Element(name: "ping", namespace: XMPPNamespace.ping)]))
        var before: [Element] = []
        while true {
            let stanza = try await self.receive()
            if stanza.name == "iq" && stanza.id == id { return before }
            before.append(stanza)
        }
    }
}
