import NIOCore
import Testing
@_spi(Testing) import XMPPClient
import XMPPCore
import XMPPSASL
@testable import XMPPServer

/// tls-exporter (RFC 9266) and XEP-0474 downgrade protection over real sockets, Starling's
/// client against Starling's server. The derivation itself is checked against OpenSSL in
/// `TLSExporter+Tests.swift`.
@Suite("Channel binding and downgrade protection over real sockets")
struct ChannelBindingIntegrationTests {
    @Test("SCRAM-SHA-256-PLUS logs in over tls-exporter on TLS 1.3, with STARTTLS and direct TLS", arguments: [false, true])
    func exporterLogin(direct: Bool) async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "wonderland")
            var configuration = server.configuration("alice", password: "wonderland", mechanisms: [.scramSHA256Plus], direct: direct)
            configuration.requireDowngradeProtection = true
            let client = try await XMPPClient.login(configuration)
            #expect(client.mechanism == .scramSHA256Plus)
            #expect(client.channelBinding == .tlsExporter)
            await client.close()
            #expect(server.server.tls?.exporters.pendingCount == 0)
        }
    }

    @Test("tls-server-end-point still logs in for a client that prefers it")
    func serverEndPointLogin() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "wonderland")
            var configuration = server.configuration("alice", password: "wonderland", mechanisms: [.scramSHA512Plus])
            configuration.channelBindingTypes = [.tlsServerEndPoint]
            configuration.requireDowngradeProtection = true
            let client = try await XMPPClient.login(configuration)
            #expect(client.channelBinding == .tlsServerEndPoint)
            await client.close()
        }
    }

    @Test("XEP-0440 lists tls-exporter next to tls-server-end-point on TLS 1.3")
    func advertised() async throws {
        try await withServer { server in
            let (connection, features) = try await server.encryptedRawStream()
            let types = features.child(named: "sasl-channel-binding", namespace: XMPPNamespace.saslChannelBinding)?
                .children(named: "channel-binding").compactMap { $0[attribute: "type"] }
            #expect(Set(types ?? []) == ["tls-exporter", "tls-server-end-point"])
            await connection.close()
        }
    }

    @Test("another connection's tls-exporter binding fails with not-authorized; the connection's own succeeds")
    func wrongExporterBinding() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "wonderland")
            let (other, _) = try await server.encryptedRawStream()
            let (connection, _) = try await server.encryptedRawStream()
            let otherBinding = try #require(try await other.channelBinding(.tlsExporter))
            let ownBinding = try #require(try await connection.channelBinding(.tlsExporter))
            #expect(otherBinding != ownBinding)
            #expect(otherBinding.count == 32)

            let refused = try await self.scramPlus(connection, binding: otherBinding)
            #expect(refused.name == "failure")
            #expect(refused.child(named: "not-authorized") != nil)
            // The same stream, now with its own binding.
            let accepted = try await self.scramPlus(connection, binding: ownBinding)
            #expect(accepted.name == "success")
            await other.close()
            await connection.close()
        }
    }

    @Test("a client shown a stripped mechanism or channel-binding list refuses to log in (XEP-0474)", arguments: [
        Tampering.stripStrongMechanisms, .stripExporter,
    ])
    func downgradeRefused(_ tampering: Tampering) async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "wonderland")
            var configuration = server.configuration(
                "alice", password: "wonderland", mechanisms: [.scramSHA512Plus, .scramSHA256Plus, .scramSHA512, .scramSHA256])
            configuration.simulatedFeatureTampering = tampering.edit
            await #expect {
                _ = try await XMPPClient.login(configuration)
            } throws: { error in
                guard case XMPPClient.LoginError.scram(.downgradeDetected) = error else { return false }
                return true
            }
            // The same over RFC 6120 SASL.
            configuration.useSASL2 = false
            await #expect {
                _ = try await XMPPClient.login(configuration)
            } throws: { error in
                guard case XMPPClient.LoginError.scram(.downgradeDetected) = error else { return false }
                return true
            }
            configuration.useSASL2 = true
            // Untouched, the same client logs in.
            configuration.simulatedFeatureTampering = nil
            let client = try await XMPPClient.login(configuration)
            await client.close()
        }
    }

    // MARK: - Helpers

    enum Tampering: Sendable, CustomStringConvertible {
        /// Leaves SCRAM-SHA-256(-PLUS) and below, as an attacker who can break SHA-256 would.
        case stripStrongMechanisms
        /// Removes tls-exporter, leaving tls-server-end-point, which a holder of the key can relay.
        case stripExporter

        var description: String {
            switch self {
            case .stripStrongMechanisms: "SCRAM-SHA-512 removed"
            case .stripExporter: "tls-exporter removed"
            }
        }

        var edit: @Sendable (Element) -> Element {
            switch self {
            case .stripStrongMechanisms:
                // From both lists: RFC 6120's <mechanisms/> and SASL2's <authentication/>
                // (whose <inline/> stays), as an attacker would, so both profiles are checked.
                return { features in
                    let keep: (Element) -> Bool = { $0.name != "mechanism" || !$0.text.hasPrefix("SCRAM-SHA-512") }
                    return Self.editing(Self.editing(features, "mechanisms", keep: keep), "authentication", keep: keep)
                }
            case .stripExporter:
                return { features in
                    Self.editing(features, "sasl-channel-binding") { $0[attribute: "type"] != "tls-exporter" }
                }
            }
        }

        private static func editing(_ features: Element, _ name: String, keep: (Element) -> Bool) -> Element {
            var edited = Element(features.name, namespace: features.namespace)
            for child in features.elements {
                guard child.name == name else {
                    edited.append(child)
                    continue
                }
                edited.append(Element(child.name, namespace: child.namespace, children: child.elements.filter(keep)))
            }
            return edited
        }
    }

    /// One SCRAM-SHA-256-PLUS attempt with tls-exporter and this binding; the server's last answer.
    private func scramPlus(_ connection: XMPPConnection, binding: [UInt8]) async throws -> Element {
        var scram = SCRAMClient(hash: .sha256, username: "alice", password: "wonderland", binding: .bound(.tlsExporter, binding))
        try await connection.send(
            Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", "SCRAM-SHA-256-PLUS")], text: Base64.encode(scram.clientFirstMessage())))
        let challenge = try await connection.nextElement()
        guard challenge.name == "challenge", let serverFirst = Base64.decode(challenge.text) else { return challenge }
        let final = try scram.receivedServerFirst(serverFirst)
        try await connection.send(Element("response", namespace: XMPPNamespace.sasl, text: Base64.encode(final)))
        return try await connection.nextElement()
    }
}
