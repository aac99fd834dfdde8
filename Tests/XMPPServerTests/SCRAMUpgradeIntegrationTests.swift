import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPStream

extension TestServer {
    /// An account as an import from a server that kept SCRAM-SHA-1 only leaves it.
    @discardableResult
    func addSHA1OnlyUser(_ localpart: String, password: String) async throws -> (JID, SCRAMCredentials) {
        let jid = try JID(localpart: localpart, domainpart: self.domain)
        let sha1 = try SCRAMCredentials.derive(password: password, hash: .sha1)
        try await self.server.storage.accounts.createAccount(jid, credentials: [sha1], skeleton: localpart)
        return (jid, sha1)
    }

    func storedCredentials(_ jid: JID) async throws -> [SCRAMHash: SCRAMCredentials] {
        var result: [SCRAMHash: SCRAMCredentials] = [:]
        for hash in SCRAMHash.allCases {
            result[hash] = try await self.server.storage.accounts.credentials(for: jid, hash: hash)
        }
        return result
    }
}

/// A raw SCRAM-SHA-1 exchange over SASL2 asking for `upgrades`, up to the server's answer to
/// the client-final (a `<continue/>` when a task follows).
private func scramSHA1(_ connection: XMPPConnection, username: String, password: String, upgrades: [String]) async throws -> Element {
    var client = SCRAMClient(hash: .sha1, username: username, password: password, binding: .unsupported)
    var authenticate = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", "SCRAM-SHA-1")])
    authenticate.append(Element("initial-response", namespace: SASL2.namespace, text: Base64.encode(client.clientFirstMessage())))
    authenticate.append(contentsOf: upgrades.map { Element("upgrade", namespace: SCRAMUpgrade.namespace, text: $0) })
    try await connection.send(authenticate)
    let challenge = try await connection.nextElement()
    let final = try client.receivedServerFirst(try #require(Base64.decode(challenge.text)))
    try await connection.send(Element("response", namespace: SASL2.namespace, text: Base64.encode(final)))
    return try await connection.nextElement()
}

private func expectFailure(_ element: Element, _ condition: SASLFailure) {
    #expect(element.name == "failure" && element.namespace == SASL2.namespace)
    #expect(element.child(named: condition.rawValue, namespace: XMPPNamespace.sasl) != nil)
}

@Suite("XEP-0480 SCRAM upgrade tasks over real sockets")
struct SCRAMUpgradeIntegrationTests {
    @Test("a SCRAM-SHA-1-only account gains SHA-256 and SHA-512 at a SHA-1 login; then every mechanism works and no task runs again")
    func upgrade() async throws {
        try await withServer { server in
            let (alice, sha1) = try await server.addSHA1OnlyUser("alice", password: "a-password")
            var plain = server.configuration("alice", password: "a-password", mechanisms: [.scramSHA1])
            plain.scramUpgrades = false
            let without = try await XMPPClient.login(plain)
            #expect(without.loginRoundTrips == 5)
            #expect(try await server.storedCredentials(alice).keys.sorted { $0.rawValue < $1.rawValue } == [.sha1])
            await without.close()

            // Two tasks, two round trips each: 5 + 4.
            let upgraded = try await XMPPClient.login(server.configuration("alice", password: "a-password", mechanisms: [.scramSHA1]))
            #expect(upgraded.usedSASL2 && upgraded.bound != nil)
            #expect(upgraded.loginRoundTrips == 9)
            let stored = try await server.storedCredentials(alice)
            #expect(stored[.sha1] == sha1)
            #expect(stored[.sha256]?.verify(password: "a-password") == true)
            #expect(stored[.sha512]?.verify(password: "a-password") == true)
            await upgraded.close()

            for mechanism in [SASLMechanismName.scramSHA256, .scramSHA256Plus, .scramSHA512, .scramSHA1] {
                let client = try await XMPPClient.login(server.configuration("alice", password: "a-password", mechanisms: [mechanism]))
                #expect(client.mechanism == mechanism)
                // The upgrades are asked for again and there is nothing to do: no extra round trip.
                #expect(client.loginRoundTrips == 5)
                await client.close()
            }
            #expect(try await server.storedCredentials(alice)[.sha256] == stored[.sha256])
        }
    }

    @Test("a wrong <next/> or a bad <hash/> fails the login and stores nothing; a good one after that succeeds")
    func badInput() async throws {
        try await withServer { server in
            let (bob, sha1) = try await server.addSHA1OnlyUser("bob", password: "b-password")
            let (connection, features) = try await server.encryptedRawStream()
            let listed = features.child(named: "authentication", namespace: SASL2.namespace)?.children(named: "upgrade", namespace: SCRAMUpgrade.namespace).map(\.text)
            #expect(listed == ["UPGR-SCRAM-SHA-256", "UPGR-SCRAM-SHA-512"])

            // The task offered is SHA-256; the client starts SHA-512.
            let offer = try await scramSHA1(connection, username: "bob", password: "b-password", upgrades: ["UPGR-SCRAM-SHA-256", "UPGR-UNKNOWN"])
            #expect(offer.name == "continue" && offer.child(named: "additional-data") != nil)
            #expect(offer.child(named: "tasks")?.children(named: "task").map(\.text) == ["UPGR-SCRAM-SHA-256"])
            try await connection.send(SCRAMUpgrade.next(.sha512))
            expectFailure(try await connection.nextElement(), .malformedRequest)

            // A hash of the wrong length, then one that is not base64.
            let bad: [(Element, SASLFailure)] = [
                (SCRAMUpgrade.hashData(saltedPassword: Array(repeating: 1, count: 20)), .malformedRequest),
                (Element("task-data", namespace: SASL2.namespace, children: [Element("hash", namespace: SCRAMUpgrade.dataNamespace, text: "%%%")]), .incorrectEncoding),
            ]
            for (element, condition) in bad {
                _ = try await scramSHA1(connection, username: "bob", password: "b-password", upgrades: ["UPGR-SCRAM-SHA-256"])
                try await connection.send(SCRAMUpgrade.next(.sha256))
                #expect(SCRAMUpgrade.parseSaltData(try await connection.nextElement()) != nil)
                try await connection.send(element)
                expectFailure(try await connection.nextElement(), condition)
            }
            #expect(try await server.storedCredentials(bob) == [.sha1: sha1])

            // The stream is still usable: a proper task completes the login.
            _ = try await scramSHA1(connection, username: "bob", password: "b-password", upgrades: ["UPGR-SCRAM-SHA-256"])
            try await connection.send(SCRAMUpgrade.next(.sha256))
            let (salt, iterations) = try #require(SCRAMUpgrade.parseSaltData(try await connection.nextElement()))
            try await connection.send(SCRAMUpgrade.hashData(saltedPassword: SCRAMHash.sha256.saltedPassword(Array("b-password".utf8), salt: salt, iterations: iterations)))
            let success = try await connection.nextElement()
            #expect(success.name == "success" && success.child(named: "authorization-identifier")?.text == "bob@localhost")
            #expect(try await server.storedCredentials(bob)[.sha256]?.verify(password: "b-password") == true)
            await connection.close()
        }
    }

    @Test("PLAIN checks whichever hash the account has and fills the missing ones itself, with no task")
    func plainDerives() async throws {
        try await withServer { server in
            let (carol, sha1) = try await server.addSHA1OnlyUser("carol", password: "c-password")
            let client = try await XMPPClient.login(server.configuration("carol", password: "c-password", mechanisms: [.plain]))
            #expect(client.loginRoundTrips == 4)
            let stored = try await server.storedCredentials(carol)
            #expect(stored[.sha1] == sha1)
            #expect(stored[.sha256]?.verify(password: "c-password") == true && stored[.sha512]?.verify(password: "c-password") == true)
            await client.close()
        }
    }

    @Test("switched off: no upgrade is listed, requests are ignored and PLAIN derives nothing")
    func switchedOff() async throws {
        try await withServer(configure: { $0.c2s.scramUpgrades = false }) { server in
            let (dave, sha1) = try await server.addSHA1OnlyUser("dave", password: "d-password")
            let (connection, features) = try await server.encryptedRawStream()
            #expect(features.child(named: "authentication", namespace: SASL2.namespace)?.child(named: "upgrade") == nil)
            let answer = try await scramSHA1(connection, username: "dave", password: "d-password", upgrades: ["UPGR-SCRAM-SHA-256"])
            #expect(answer.name == "success")
            await connection.close()
            let client = try await XMPPClient.login(server.configuration("dave", password: "d-password", mechanisms: [.plain]))
            await client.close()
            #expect(try await server.storedCredentials(dave) == [.sha1: sha1])
        }
    }
}
