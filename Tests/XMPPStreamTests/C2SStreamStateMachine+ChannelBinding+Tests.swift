import Testing
import XMPPCore
import XMPPSASL
@testable import XMPPStream

/// The XEP-0474 hash in server-first against the features the machine really sent, and
/// tls-exporter offered and used next to tls-server-end-point.
@Suite("C2SStreamStateMachine: channel binding and downgrade protection")
struct C2SStreamStateMachineChannelBindingTests {
    let exporter = [UInt8](repeating: 0xEE, count: 32)

    /// Logs in with SCRAM-SHA-256-PLUS over tls-exporter, checking h= against `seen(features)`.
    private func login(
        policy: C2SNegotiationPolicy, seen: (Element) -> SCRAMDowngradeProtection
    ) throws -> (C2SStreamStateMachine, Result<[UInt8], SCRAMClient.ClientError>) {
        var machine = C2SStreamStateMachine(policy: policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [.tlsServerEndPoint: [1, 2, 3], .tlsExporter: self.exporter])
        let features = try #require(sentElements(machine.streamOpened(clientStreamHeader, streamID: "s1")).first)
        var client = SCRAMClient(
            hash: .sha256, username: "alice", password: "pw", binding: .bound(.tlsExporter, self.exporter), downgradeCheck: .required(seen(features)))
        let auth = Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", "SCRAM-SHA-256-PLUS")], text: Base64.encode(client.clientFirstMessage()))
        #expect(machine.elementReceived(auth) == [.fetchSCRAMCredentials(username: "alice", hash: .sha256)])
        let challenge = try #require(sentElements(machine.credentialsFetched(try SCRAMCredentials.derive(password: "pw", hash: .sha256))).first)
        let serverFirst = try #require(Base64.decode(challenge.text))
        let result = Result { () throws(SCRAMClient.ClientError) in try client.receivedServerFirst(serverFirst) }
        if case .success(let final) = result {
            let answer = machine.elementReceived(Element("response", namespace: XMPPNamespace.sasl, text: Base64.encode(final)))
            #expect(sentElements(answer).first?.name == "success")
        }
        return (machine, result)
    }

    private static func advertised(_ features: Element) -> SCRAMDowngradeProtection {
        SCRAMDowngradeProtection(
            mechanisms: features.child(named: "mechanisms")?.children(named: "mechanism").map(\.text) ?? [],
            channelBindingTypes: features.child(named: "sasl-channel-binding")?.children(named: "channel-binding").compactMap { $0[attribute: "type"] })
    }

    @Test("tls-exporter is listed and used; h= matches the features sent, whatever mechanisms the policy offers", arguments: [
        SASLMechanismName.allCases, [.scramSHA256Plus, .scramSHA256], [.scramSHA256Plus, .scramSHA1Plus, .plain],
    ])
    func hashMatchesFeatures(_ mechanisms: [SASLMechanismName]) throws {
        let policy = C2SNegotiationPolicy(hostedDomains: ["example.com"], mechanisms: mechanisms)
        var listed: SCRAMDowngradeProtection?
        let (_, result) = try self.login(policy: policy) { features in
            listed = Self.advertised(features)
            return Self.advertised(features)
        }
        #expect(Set(listed?.channelBindingTypes ?? []) == ["tls-exporter", "tls-server-end-point"])
        #expect(throws: Never.self) { try result.get() }
    }

    @Test("a client that saw fewer mechanisms than were sent detects it")
    func strippedFeatures() throws {
        let policy = C2SNegotiationPolicy(hostedDomains: ["example.com"])
        let (_, result) = try self.login(policy: policy) { features in
            var seen = Self.advertised(features)
            seen.mechanisms.removeAll { $0.hasPrefix("SCRAM-SHA-512") }
            return seen
        }
        #expect(throws: SCRAMClient.ClientError.downgradeDetected) { try result.get() }
    }
}
