import Testing
import XMPPCore
@testable import XMPPSASL

/// What a server with every mechanism and both bindings advertises over TLS 1.3.
private let advertised = SCRAMDowngradeProtection(
    mechanisms: ["SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
    channelBindingTypes: ["tls-server-end-point", "tls-exporter"])

private struct Exchange {
    var client: SCRAMClient
    var server: SCRAMServer
    var serverFirst: [UInt8]

    /// Runs client-first and server-first between a server that advertised `serverSide` and a
    /// client that saw `clientSide`.
    init(
        mechanism: SASLMechanismName = .scramSHA256, serverSide: SCRAMDowngradeProtection?, check: SCRAMClient.DowngradeCheck
    ) throws {
        let hash = try #require(mechanism.scramHash)
        self.client = SCRAMClient(hash: hash, username: "alice", password: "pw", downgradeCheck: check)
        self.server = SCRAMServer(mechanism: mechanism, channelBinding: .none, downgradeProtection: serverSide)
        #expect(self.server.receivedClientFirst(self.client.clientFirstMessage()) == .fetchCredentials(username: "alice"))
        guard case .challenge(let challenge) = self.server.credentialsFetched(try SCRAMCredentials.derive(password: "pw", hash: hash)) else {
            throw SASLFailure.malformedRequest
        }
        self.serverFirst = challenge
    }
}

@Suite("SCRAM downgrade protection (XEP-0474)")
struct SCRAMDowngradeProtectionTests {
    @Test("the hash matches the example of XEP-0474 §5.3, whatever order the lists come in")
    func xepExample() {
        // SHA-1 of 'SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point'.
        let protection = SCRAMDowngradeProtection(
            mechanisms: ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"], channelBindingTypes: ["tls-server-end-point", "tls-exporter"])
        #expect(protection.attributeValue(hash: .sha1) == "G6k/rBLDqgOhRRaCuuatSDFkJ08=")
        #expect(protection.hashInput == Array("SCRAM-SHA-1\u{1E}SCRAM-SHA-1-PLUS\u{1F}tls-exporter\u{1E}tls-server-end-point".utf8))
    }

    @Test("no XEP-0440 list and an empty one hash differently")
    func absentChannelBindingList() {
        let without = SCRAMDowngradeProtection(mechanisms: ["SCRAM-SHA-256"], channelBindingTypes: nil)
        let empty = SCRAMDowngradeProtection(mechanisms: ["SCRAM-SHA-256"], channelBindingTypes: [])
        #expect(without.hashInput == Array("SCRAM-SHA-256".utf8))
        #expect(without.attributeValue(hash: .sha256) != empty.attributeValue(hash: .sha256))
    }

    @Test("server-first carries h= after i=, under the mechanism's hash")
    func serverFirstAttribute() throws {
        for mechanism in [SASLMechanismName.scramSHA1, .scramSHA256, .scramSHA512] {
            let exchange = try Exchange(mechanism: mechanism, serverSide: advertised, check: .off)
            let text = String(decoding: exchange.serverFirst, as: UTF8.self)
            let hash = try #require(mechanism.scramHash)
            #expect(text.hasSuffix(",h=\(advertised.attributeValue(hash: hash))"))
            #expect(text.contains(",i=4096,h="))
        }
    }

    @Test("a client that saw what the server advertised logs in, the hash signed by both proofs")
    func matchingLists() throws {
        var exchange = try Exchange(serverSide: advertised, check: .required(advertised))
        let final = try exchange.client.receivedServerFirst(exchange.serverFirst)
        guard case .succeed(let serverFinal, _, _) = exchange.server.receivedClientFinal(final) else {
            Issue.record("the exchange did not succeed")
            return
        }
        try exchange.client.receivedServerFinal(serverFinal)
    }

    @Test("a stripped mechanism list is detected", arguments: [
        // The strong mechanisms removed, leaving SCRAM-SHA-1.
        SCRAMDowngradeProtection(mechanisms: ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"], channelBindingTypes: ["tls-server-end-point", "tls-exporter"]),
        // Every -PLUS mechanism and the XEP-0440 list removed.
        SCRAMDowngradeProtection(mechanisms: ["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"], channelBindingTypes: nil),
        // tls-exporter removed, so the client would fall back to tls-server-end-point.
        SCRAMDowngradeProtection(mechanisms: advertised.mechanisms, channelBindingTypes: ["tls-server-end-point"]),
        // A mechanism added.
        SCRAMDowngradeProtection(mechanisms: advertised.mechanisms + ["X-WEAK"], channelBindingTypes: advertised.channelBindingTypes),
    ])
    func strippedList(_ seen: SCRAMDowngradeProtection) throws {
        for check in [SCRAMClient.DowngradeCheck.ifOffered(seen), .required(seen)] {
            var exchange = try Exchange(serverSide: advertised, check: check)
            #expect(throws: SCRAMClient.ClientError.downgradeDetected) { try exchange.client.receivedServerFirst(exchange.serverFirst) }
        }
    }

    @Test("a server without XEP-0474 is accepted unless the client requires it")
    func serverWithoutProtection() throws {
        var lenient = try Exchange(serverSide: nil, check: .ifOffered(advertised))
        _ = try lenient.client.receivedServerFirst(lenient.serverFirst)
        var strict = try Exchange(serverSide: nil, check: .required(advertised))
        #expect(throws: SCRAMClient.ClientError.downgradeProtectionMissing) { try strict.client.receivedServerFirst(strict.serverFirst) }
    }

    @Test("an attacker who rewrites h= to match the stripped list fails the server's proof check")
    func forgedHash() throws {
        let stripped = SCRAMDowngradeProtection(mechanisms: ["SCRAM-SHA-256"], channelBindingTypes: nil)
        var exchange = try Exchange(serverSide: advertised, check: .required(stripped))
        let text = String(decoding: exchange.serverFirst, as: UTF8.self)
        let forged = text.replacing("h=\(advertised.attributeValue(hash: .sha256))", with: "h=\(stripped.attributeValue(hash: .sha256))")
        #expect(forged != text)
        let final = try exchange.client.receivedServerFirst(Array(forged.utf8))
        #expect(exchange.server.receivedClientFinal(final) == .fail(.notAuthorized))
    }
}
