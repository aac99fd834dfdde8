import Testing
import XMPPCore
import XMPPSASL
@testable import XMPPStream

private let alice = try! JID("alice@example.com")

private func upgrades(_ names: String...) -> [Element] {
    names.map { Element("upgrade", namespace: SCRAMUpgrade.namespace, text: $0) }
}

/// XEP-0388 tasks and XEP-0480 SCRAM upgrades in the negotiation machine, without sockets.
@Suite("C2SStreamStateMachine: SASL2 upgrade tasks")
struct C2SStreamStateMachineSASL2TaskTests {
    let policy = C2SNegotiationPolicy(hostedDomains: ["example.com"])

    private func opened(_ policy: C2SNegotiationPolicy? = nil, directTLS: Bool = true) -> (C2SStreamStateMachine, Element?) {
        var machine = C2SStreamStateMachine(policy: policy ?? self.policy, directTLS: directTLS)
        if directTLS { _ = machine.tlsEstablished(channelBinding: [.tlsServerEndPoint: [1, 2, 3]]) }
        let features = sentElements(machine.streamOpened(clientStreamHeader, streamID: "s1")).first
        return (machine, features)
    }

    /// Runs a SCRAM exchange with `hash` as alice (password "pw") asking for `requested`
    /// upgrades, up to what the server does after verifying the client's proof.
    private func authenticated(
        _ hash: SCRAMHash, requested: [Element], policy: C2SNegotiationPolicy? = nil
    ) throws -> (C2SStreamStateMachine, SCRAMClient, [C2SStreamStateMachine.Action]) {
        var (machine, _) = self.opened(policy)
        var client = SCRAMClient(hash: hash, username: "alice", password: "pw", binding: .unsupported, downgradeCheck: .off)
        var authenticate = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", "SCRAM-\(hash.rawValue)")])
        authenticate.append(Element("initial-response", namespace: SASL2.namespace, text: Base64.encode(client.clientFirstMessage())))
        authenticate.append(contentsOf: requested)
        #expect(machine.elementReceived(authenticate) == [.fetchSCRAMCredentials(username: "alice", hash: hash)])
        let challenge = try #require(sentElements(machine.credentialsFetched(try SCRAMCredentials.derive(password: "pw", hash: hash))).first)
        let final = try client.receivedServerFirst(try #require(Base64.decode(challenge.text)))
        let actions = machine.elementReceived(Element("response", namespace: SASL2.namespace, text: Base64.encode(final)))
        return (machine, client, actions)
    }

    /// From SCRAM-SHA-1 with SHA-256 missing to the salt the server sends for it.
    private func atSalt() throws -> (C2SStreamStateMachine, [UInt8], Int) {
        var (machine, _, actions) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256"))
        #expect(actions == [.findMissingSCRAMCredentials(account: alice, hashes: [.sha256])])
        _ = machine.missingSCRAMCredentialsFound([.sha256])
        let data = try #require(sentElements(machine.elementReceived(SCRAMUpgrade.next(.sha256))).first)
        let (salt, iterations) = try #require(SCRAMUpgrade.parseSaltData(data))
        return (machine, salt, iterations)
    }

    private func expectFailure(_ actions: [C2SStreamStateMachine.Action], _ condition: SASLFailure, machine: C2SStreamStateMachine) {
        #expect(actions == [.send(SASL2.failure(condition))])
        #expect(!machine.isAuthenticated && !machine.isClosed)
    }

    @Test("the feature lists SHA-256 and SHA-512 upgrades on an encrypted stream, and none when switched off or in plaintext")
    func feature() throws {
        let authentication = try #require(self.opened().1?.child(named: "authentication", namespace: SASL2.namespace))
        #expect(authentication.children(named: "upgrade", namespace: SCRAMUpgrade.namespace).map(\.text) == ["UPGR-SCRAM-SHA-256", "UPGR-SCRAM-SHA-512"])
        var off = self.policy
        off.scramUpgrades = false
        #expect(self.opened(off).1?.child(named: "authentication", namespace: SASL2.namespace)?.child(named: "upgrade") == nil)
        let plaintext = C2SNegotiationPolicy(hostedDomains: ["example.com"], tlsAvailable: false, tlsRequired: false)
        let features = try #require(self.opened(plaintext, directTLS: false).1)
        #expect(features.child(named: "authentication", namespace: SASL2.namespace)?.child(named: "upgrade") == nil)
    }

    @Test("requested upgrades are parsed in order, once each; unknown names and -PLUS are ignored")
    func parsing() throws {
        var element = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", "PLAIN")])
        element.append(
            contentsOf: upgrades("UPGR-SCRAM-SHA-512", "UPGR-BLOOP2", " UPGR-SCRAM-SHA-256\n", "UPGR-SCRAM-SHA-512", "UPGR-SCRAM-SHA-256-PLUS", "UPGR-SCRAM-SHA-1"))
        element.append(Element("upgrade", namespace: "urn:example", text: "UPGR-SCRAM-SHA-256"))
        let request = try SASL2.parseAuthenticate(element).get()
        #expect(request.upgrades == [.sha512, .sha256])
    }

    @Test("SCRAM-SHA-1 asking for SHA-256 and SHA-512: continue, next, salt, hash, stored, then success with the server-final")
    func upgrade() throws {
        var (machine, client, actions) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256", "UPGR-SCRAM-SHA-512"))
        // Not authenticated yet: the stream learns it only when the tasks are done.
        #expect(actions == [.findMissingSCRAMCredentials(account: alice, hashes: [.sha256, .sha512])])
        #expect(!machine.isAuthenticated)
        let next = try #require(sentElements(machine.missingSCRAMCredentialsFound([.sha512, .sha256])).first)
        #expect(next.name == "continue" && next.namespace == SASL2.namespace)
        // The order the client asked in, one task per <continue/> (XEP-0480 §2.2).
        #expect(next.child(named: "tasks")?.children(named: "task").map(\.text) == ["UPGR-SCRAM-SHA-256"])
        let serverFinal = try #require(next.child(named: "additional-data").flatMap { Base64.decode($0.text) })
        try client.receivedServerFinal(serverFinal)

        var stored: [SCRAMCredentials] = []
        for hash in [SCRAMHash.sha256, .sha512] {
            let data = try #require(sentElements(machine.elementReceived(SCRAMUpgrade.next(hash))).first)
            let (salt, iterations) = try #require(SCRAMUpgrade.parseSaltData(data))
            #expect(salt.count == 16 && iterations == SCRAMCredentials.defaultIterations)
            let salted = hash.saltedPassword(Array("pw".utf8), salt: salt, iterations: iterations)
            let add = machine.elementReceived(SCRAMUpgrade.hashData(saltedPassword: salted))
            guard case .addSCRAMCredentials(let credentials, let account) = add.first, add.count == 1 else {
                Issue.record("expected one addSCRAMCredentials, got \(add)")
                return
            }
            #expect(account == alice && credentials.hash == hash && credentials.salt == salt)
            #expect(credentials.verify(password: "pw"))
            stored.append(credentials)
            actions = machine.scramCredentialsAdded(true)
            if hash == .sha256 {
                #expect(sentElements(actions).first?.child(named: "tasks")?.children(named: "task").map(\.text) == ["UPGR-SCRAM-SHA-512"])
            }
        }
        #expect(stored.count == 2)
        #expect(actions.first == .authenticated(alice))
        let elements = sentElements(actions)
        #expect(elements.map(\.name) == ["success", "features"])
        #expect(elements[0].child(named: "additional-data").flatMap { Base64.decode($0.text) } == serverFinal)
        #expect(machine.isAuthenticated)
    }

    @Test("nothing missing, or only the hash just used asked for: success at once, no continue")
    func nothingMissing() throws {
        var (machine, _, actions) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256"))
        #expect(actions == [.findMissingSCRAMCredentials(account: alice, hashes: [.sha256])])
        let success = machine.missingSCRAMCredentialsFound([])
        #expect(success.first == .authenticated(alice))
        #expect(sentElements(success).map(\.name) == ["success", "features"])

        let (_, _, direct) = try self.authenticated(.sha256, requested: upgrades("UPGR-SCRAM-SHA-256"))
        #expect(direct.first == .authenticated(alice))
        // Switched off: the request is ignored.
        var off = self.policy
        off.scramUpgrades = false
        let (_, _, ignored) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256"), policy: off)
        #expect(ignored.first == .authenticated(alice))
    }

    @Test("with Bind 2 the tasks come first, then the inline bind")
    func bind2AfterTasks() throws {
        var (machine, _, _) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256") + [Element(name: "bind", namespace: SASL2.bindNamespace)])
        _ = machine.missingSCRAMCredentialsFound([])
        // missingSCRAMCredentialsFound([]) already went on: the bind is under way.
        #expect(machine.isAuthenticated)
        var (other, _, _) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256") + [Element(name: "bind", namespace: SASL2.bindNamespace)])
        _ = other.missingSCRAMCredentialsFound([.sha256])
        let data = try #require(sentElements(other.elementReceived(SCRAMUpgrade.next(.sha256))).first)
        let (salt, iterations) = try #require(SCRAMUpgrade.parseSaltData(data))
        _ = other.elementReceived(SCRAMUpgrade.hashData(saltedPassword: SCRAMHash.sha256.saltedPassword(Array("pw".utf8), salt: salt, iterations: iterations)))
        let actions = other.scramCredentialsAdded(true)
        #expect(actions == [.authenticated(alice), .bindInline(SASL2.BindRequest(tag: nil), account: alice, userAgent: nil)])
    }

    @Test("PLAIN runs no task: the server derives missing hashes from the password itself")
    func plainRunsNoTask() throws {
        var (machine, _) = self.opened()
        var authenticate = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", "PLAIN")])
        authenticate.append(Element("initial-response", namespace: SASL2.namespace, text: Base64.encode(PLAINMessage(username: "alice", password: "pw").bytes)))
        authenticate.append(contentsOf: upgrades("UPGR-SCRAM-SHA-256"))
        _ = machine.elementReceived(authenticate)
        #expect(machine.plainPasswordVerified(true).first == .authenticated(alice))
    }

    @Test("a <next/> for another task, or another element, is malformed-request; the login fails and may be retried")
    func wrongNext() throws {
        var (machine, _, _) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256"))
        _ = machine.missingSCRAMCredentialsFound([.sha256])
        self.expectFailure(machine.elementReceived(SCRAMUpgrade.next(.sha512)), .malformedRequest, machine: machine)
        // Failed as a whole: a new <authenticate/> starts over.
        let authenticate = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", "SCRAM-SHA-1")])
        #expect(sentElements(machine.elementReceived(authenticate)).first?.name == "challenge")

        var (other, _, _) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256"))
        _ = other.missingSCRAMCredentialsFound([.sha256])
        self.expectFailure(other.elementReceived(SCRAMUpgrade.hashData(saltedPassword: Array(repeating: 1, count: 32))), .malformedRequest, machine: other)
        var third = try self.atSalt().0
        self.expectFailure(third.elementReceived(Element(name: "abort", namespace: SASL2.namespace)), .aborted, machine: third)
    }

    @Test("a bad <hash/>: not base64 is incorrect-encoding; the wrong length, a missing hash or another element is malformed-request")
    func badHash() throws {
        let cases: [(Element, SASLFailure)] = [
            (Element("task-data", namespace: SASL2.namespace, children: [Element("hash", namespace: SCRAMUpgrade.dataNamespace, text: "!!not base64")]), .incorrectEncoding),
            (SCRAMUpgrade.hashData(saltedPassword: Array(repeating: 7, count: 20)), .malformedRequest),
            (SCRAMUpgrade.hashData(saltedPassword: []), .malformedRequest),
            (Element(name: "task-data", namespace: SASL2.namespace), .malformedRequest),
            (Element("task-data", namespace: SASL2.namespace, children: [Element("hash", namespace: "urn:example", text: "AAAA")]), .malformedRequest),
            (SCRAMUpgrade.next(.sha256), .malformedRequest),
        ]
        for (element, condition) in cases {
            var machine = try self.atSalt().0
            let actions = machine.elementReceived(element)
            #expect(!actions.contains { if case .addSCRAMCredentials = $0 { true } else { false } })
            self.expectFailure(actions, condition, machine: machine)
        }
    }

    @Test("storage failures are temporary-auth-failure and are not counted as failed logins")
    func storageFailures() throws {
        var (machine, _, _) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256"))
        self.expectFailure(machine.missingSCRAMCredentialsFound(nil), .temporaryAuthFailure, machine: machine)

        var (stored, salt, iterations) = try self.atSalt()
        _ = stored.elementReceived(SCRAMUpgrade.hashData(saltedPassword: SCRAMHash.sha256.saltedPassword(Array("pw".utf8), salt: salt, iterations: iterations)))
        self.expectFailure(stored.scramCredentialsAdded(false), .temporaryAuthFailure, machine: stored)
    }

    @Test("input while storage works closes the stream; the late answer is then dropped")
    func elementWhileStoring() throws {
        var (machine, _, _) = try self.authenticated(.sha1, requested: upgrades("UPGR-SCRAM-SHA-256"))
        let actions = machine.elementReceived(SCRAMUpgrade.next(.sha256))
        #expect(actions == [.close(StreamError(.policyViolation, text: "wait for the task's answer"))])
        #expect(machine.missingSCRAMCredentialsFound([.sha256]) == [])
        #expect(machine.isClosed)
    }

    @Test("a storage answer nobody asked for is a bug")
    func misuse() async {
        await #expect(processExitsWith: .failure) {
            var machine = C2SStreamStateMachine(policy: C2SNegotiationPolicy(hostedDomains: ["example.com"]), directTLS: true)
            _ = machine.scramCredentialsAdded(true)
        }
        await #expect(processExitsWith: .failure) {
            var machine = C2SStreamStateMachine(policy: C2SNegotiationPolicy(hostedDomains: ["example.com"]), directTLS: true)
            _ = machine.missingSCRAMCredentialsFound([])
        }
    }
}
