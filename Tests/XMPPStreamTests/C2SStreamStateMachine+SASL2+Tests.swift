import Crypto
import Testing
import XMPPCore
import XMPPSASL
@testable import XMPPStream

private func authenticate(_ mechanism: String, _ initial: [UInt8]?, children: [Element] = []) -> Element {
    var element = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", mechanism)])
    if let initial { element.append(Element("initial-response", namespace: SASL2.namespace, text: Base64.encode(initial))) }
    for child in children { element.append(child) }
    return element
}

private let plainAlice = PLAINMessage(username: "alice", password: "pw").bytes

/// XEP-0388 and XEP-0386 in the negotiation machine, without sockets.
@Suite("C2SStreamStateMachine: SASL2 and Bind 2")
struct C2SStreamStateMachineSASL2Tests {
    let policy = C2SNegotiationPolicy(hostedDomains: ["example.com"], bind2InlineFeatures: ["urn:xmpp:carbons:2"])

    private func opened(_ policy: C2SNegotiationPolicy? = nil) -> (C2SStreamStateMachine, Element?) {
        var machine = C2SStreamStateMachine(policy: policy ?? self.policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [.tlsServerEndPoint: [1, 2, 3]])
        let features = sentElements(machine.streamOpened(clientStreamHeader, streamID: "s1")).first
        return (machine, features)
    }

    @Test("the features offer SASL2 with the legacy mechanisms, Bind 2 inline features and inline resumption")
    func features() throws {
        let (_, features) = self.opened()
        let features2 = try #require(features)
        let legacy = features2.child(named: "mechanisms", namespace: XMPPNamespace.sasl)?.children(named: "mechanism").map(\.text)
        let authentication = try #require(features2.child(named: "authentication", namespace: SASL2.namespace))
        #expect(authentication.children(named: "mechanism").map(\.text) == legacy)
        let inline = try #require(authentication.child(named: "inline", namespace: SASL2.namespace))
        let bindInline = inline.child(named: "bind", namespace: SASL2.bindNamespace)?.child(named: "inline")?.children(named: "feature").compactMap { $0[attribute: "var"] }
        #expect(bindInline == ["urn:xmpp:carbons:2", "urn:xmpp:csi:0", "urn:xmpp:sm:3"])
        #expect(inline.child(named: "sm", namespace: StreamManagementNamespace.v3) != nil)
        // Switched off, only RFC 6120 SASL is offered.
        var off = self.policy
        off.sasl2 = false
        #expect(self.opened(off).1?.child(named: "authentication", namespace: SASL2.namespace) == nil)
    }

    @Test("SCRAM-SHA-256: challenge, response, success with additional data and the bare JID, then features, no restart")
    func scramSuccess() throws {
        let opened = self.opened()
        var machine = opened.0
        let features = opened.1
        let authentication = try #require(features?.child(named: "authentication", namespace: SASL2.namespace))
        // XEP-0474 over SASL2: the client hashes the SASL2 list, and it matches.
        let seen = SCRAMDowngradeProtection(
            mechanisms: authentication.children(named: "mechanism").map(\.text),
            channelBindingTypes: features?.child(named: "sasl-channel-binding")?.children(named: "channel-binding").compactMap { $0[attribute: "type"] })
        let agent = Element(
            "user-agent", namespace: SASL2.namespace, attributes: [("id", "d4565fa7")],
            children: [Element("software", namespace: SASL2.namespace, text: "Test"), Element("device", namespace: SASL2.namespace, text: "Phone")])
        // The client chose not to bind although -PLUS is offered: 'n', so SCRAM-SHA-256 with binding .unsupported.
        var client = SCRAMClient(hash: .sha256, username: "alice", password: "pw", binding: .unsupported, downgradeCheck: .required(seen))
        #expect(machine.elementReceived(authenticate("SCRAM-SHA-256", client.clientFirstMessage(), children: [agent])) == [.fetchSCRAMCredentials(username: "alice", hash: .sha256)])
        let challenge = try #require(sentElements(machine.credentialsFetched(try SCRAMCredentials.derive(password: "pw", hash: .sha256))).first)
        #expect(challenge.name == "challenge" && challenge.namespace == SASL2.namespace)
        let final = try client.receivedServerFirst(try #require(Base64.decode(challenge.text)))
        let actions = machine.elementReceived(Element("response", namespace: SASL2.namespace, text: Base64.encode(final)))
        let account = try JID("alice@example.com")
        #expect(actions.first == .authenticated(account))
        #expect(!actions.contains(.restartStream))
        let elements = sentElements(actions)
        #expect(elements.map(\.name) == ["success", "features"])
        let success = elements[0]
        #expect(success.child(named: "authorization-identifier")?.text == "alice@example.com")
        let serverFinal = try #require(success.child(named: "additional-data").flatMap { Base64.decode($0.text) })
        try client.receivedServerFinal(serverFinal)
        // No Bind 2: the features offer RFC 6120 binding.
        #expect(elements[1].child(named: "bind", namespace: XMPPNamespace.bind) != nil)
        #expect(machine.isAuthenticated)
    }

    @Test("PLAIN with an initial response succeeds in one step; without one an empty challenge comes first")
    func plain() throws {
        var (machine, _) = self.opened()
        #expect(machine.elementReceived(authenticate("PLAIN", plainAlice)) == [.verifyPlainPassword(username: "alice", password: "pw")])
        let elements = sentElements(machine.plainPasswordVerified(true))
        #expect(elements.first?.child(named: "authorization-identifier")?.text == "alice@example.com")
        var (other, _) = self.opened()
        let challenge = try #require(sentElements(other.elementReceived(authenticate("PLAIN", nil))).first)
        #expect(challenge.name == "challenge" && challenge.text.isEmpty)
        #expect(other.elementReceived(Element("response", namespace: SASL2.namespace, text: Base64.encode(plainAlice))) == [.verifyPlainPassword(username: "alice", password: "pw")])
    }

    @Test("a wrong password is a SASL2 failure with the condition, counted by the failed-login delay")
    func wrongPassword() throws {
        var (machine, _) = self.opened(C2SNegotiationPolicy(hostedDomains: ["example.com"], maxAuthenticationFailures: 2))
        _ = machine.elementReceived(authenticate("PLAIN", PLAINMessage(username: "alice", password: "x").bytes))
        let actions = machine.plainPasswordVerified(false)
        #expect(actions.first == .authenticationFailed(username: "alice", reason: .notAuthorized))
        let failure = try #require(sentElements(actions).first)
        #expect(failure.name == "failure" && failure.namespace == SASL2.namespace)
        #expect(failure.child(named: "not-authorized", namespace: XMPPNamespace.sasl) != nil)
        #expect(!machine.isAuthenticated && !machine.isClosed)
        _ = machine.elementReceived(authenticate("PLAIN", PLAINMessage(username: "alice", password: "y").bytes))
        #expect(machine.plainPasswordVerified(false).last == .close(StreamError(.policyViolation, text: "too many failed authentication attempts")))
    }

    @Test("abort ends the exchange with <aborted/> and another attempt may follow")
    func abort() throws {
        var (machine, _) = self.opened()
        #expect(sentElements(machine.elementReceived(authenticate("SCRAM-SHA-256", nil))).first?.name == "challenge")
        let actions = machine.elementReceived(Element(name: "abort", namespace: SASL2.namespace))
        #expect(actions == [.send(SASL2.failure(.aborted))])
        #expect(machine.elementReceived(authenticate("PLAIN", plainAlice)) == [.verifyPlainPassword(username: "alice", password: "pw")])
    }

    @Test("malformed requests: no mechanism, bad base64, an unknown mechanism, other elements mid-exchange")
    func malformed() throws {
        var (machine, _) = self.opened()
        let noMechanism = Element(name: "authenticate", namespace: SASL2.namespace)
        let refused = machine.elementReceived(noMechanism)
        #expect(refused == [.send(SASL2.failure(.invalidMechanism))])
        var bad = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", "PLAIN")])
        bad.append(Element("initial-response", namespace: SASL2.namespace, text: "not base64!"))
        #expect(machine.elementReceived(bad) == [.send(SASL2.failure(.incorrectEncoding))])
        #expect(machine.elementReceived(authenticate("DIGEST-MD5", [])) == [.send(SASL2.failure(.invalidMechanism))])
        // Refused inside the mechanism at the first message: still a SASL2 <failure/>, not an RFC 6120 one.
        #expect(sentElements(machine.elementReceived(authenticate("PLAIN", Array("no separators".utf8)))).first?.namespace == SASL2.namespace)
        #expect(sentElements(machine.elementReceived(authenticate("SCRAM-SHA-256", Array("y,,n=alice,r=abc".utf8)))) == [SASL2.failure(.notAuthorized)])
        #expect(!machine.isClosed)
        _ = machine.elementReceived(authenticate("SCRAM-SHA-256", nil))
        // XEP-0388 §2.5: only <response/> or <abort/> during authentication.
        let stanza = Element("message", namespace: XMPPNamespace.client)
        #expect(machine.elementReceived(stanza).last == .close(StreamError(.policyViolation, text: "only <response/> or <abort/> while authenticating")))
    }

    @Test("an <authenticate/> after success is a stream error, before and after binding")
    func authenticateAfterSuccess() throws {
        var (machine, _) = self.opened()
        _ = machine.elementReceived(authenticate("PLAIN", plainAlice))
        _ = machine.plainPasswordVerified(true)
        var bound = machine
        #expect(machine.elementReceived(authenticate("PLAIN", plainAlice)) == [.close(StreamError(.policyViolation, text: "already authenticated"))])
        var bind = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "b1")])
        bind.append(Element(name: "bind", namespace: XMPPNamespace.bind))
        _ = bound.elementReceived(bind)
        _ = bound.resourceBound(try JID("alice@example.com/home"))
        #expect(bound.elementReceived(authenticate("PLAIN", plainAlice)) == [.close(StreamError(.policyViolation, text: "already authenticated"))])
    }

    @Test("Bind 2 with inline SM, carbons and CSI: bound before <success/>, which carries the full JID and <enabled/>")
    func bind2() throws {
        var (machine, _) = self.opened()
        let bind = Element(
            "bind", namespace: SASL2.bindNamespace,
            children: [
                Element("tag", namespace: SASL2.bindNamespace, text: "AwesomeXMPP"),
                Element("enable", namespace: "urn:xmpp:carbons:2"),
                Element("enable", namespace: StreamManagementNamespace.v3, attributes: [("resume", "true")]),
                Element("inactive", namespace: "urn:xmpp:csi:0"),
            ])
        let agent = Element("user-agent", namespace: SASL2.namespace, attributes: [("id", "ua-1")])
        _ = machine.elementReceived(authenticate("PLAIN", plainAlice, children: [agent, bind]))
        let account = try JID("alice@example.com")
        let request = SASL2.BindRequest(
            tag: "AwesomeXMPP", streamManagement: true, clientStateActive: false, features: [Element("enable", namespace: "urn:xmpp:carbons:2")])
        #expect(machine.plainPasswordVerified(true) == [.authenticated(account), .bindInline(request, account: account, userAgent: SASL2.UserAgent(id: "ua-1"))])
        // Waiting for the bind, anything the client sends is out of order.
        var early = machine
        #expect(early.elementReceived(Element("message", namespace: XMPPNamespace.client)).last == .close(StreamError(.policyViolation, text: "wait for the bind result")))
        let jid = try JID("alice@example.com/AwesomeXMPP/abc")
        let enabled = Element("enabled", namespace: StreamManagementNamespace.v3, attributes: [("id", "sm-1"), ("resume", "true")])
        let elements = sentElements(machine.inlineBound(jid, streamManagement: enabled, extensions: []))
        #expect(elements.map(\.name) == ["success", "features"])
        #expect(elements[0].child(named: "authorization-identifier")?.text == "alice@example.com/AwesomeXMPP/abc")
        #expect(elements[0].child(named: "bound", namespace: SASL2.bindNamespace)?.child(named: "enabled") == enabled)
        // Bound and SM on: the features offer neither bind nor sm again.
        #expect(elements[1].child(named: "bind") == nil && elements[1].child(named: "sm") == nil)
        #expect(machine.boundJID == jid)
        #expect(machine.elementReceived(StreamManagementNamespace.request) == [.acknowledgeHandled])
    }

    @Test("an inline resume that fails puts <failed/> in <success/> and binds instead; one that works skips the bind")
    func inlineResume() throws {
        let children = [
            Element("resume", namespace: StreamManagementNamespace.v3, attributes: [("previd", "old"), ("h", "4")]),
            Element("bind", namespace: SASL2.bindNamespace, children: [Element("tag", namespace: SASL2.bindNamespace, text: "T")]),
        ]
        let account = try JID("alice@example.com")
        var (machine, _) = self.opened()
        _ = machine.elementReceived(authenticate("PLAIN", plainAlice, children: children))
        #expect(machine.plainPasswordVerified(true) == [.authenticated(account), .resumeInline(previd: "old", h: 4, account: account)])
        var failing = machine
        #expect(failing.inlineResumeFailed() == [.bindInline(SASL2.BindRequest(tag: "T"), account: account, userAgent: nil)])
        let success = try #require(sentElements(failing.inlineBound(try JID("alice@example.com/T/x"), streamManagement: nil, extensions: [])).first)
        #expect(success.child(named: "failed", namespace: StreamManagementNamespace.v3) != nil)
        #expect(success.child(named: "bound", namespace: SASL2.bindNamespace) != nil)
        let resumed = try #require(sentElements(machine.inlineResumed(try JID("alice@example.com/T/y"), previd: "old", handled: 7)).first)
        #expect(resumed.child(named: "resumed", namespace: StreamManagementNamespace.v3)?[attribute: "h"] == "7")
        #expect(resumed.child(named: "bound") == nil)
        #expect(machine.elementReceived(StreamManagementNamespace.request) == [.acknowledgeHandled])
    }

    @Test("the resource comes from the tag: stable for one user-agent id, different for another, random without")
    func resourceFromTag() throws {
        let key = SymmetricKey(size: .bits256)
        let account = try JID("alice@example.com")
        let first = SASL2.resource(tag: "Conversations", userAgentID: "ua-1", account: account, key: key, random: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(first.hasPrefix("Conversations/"))
        #expect(!first.contains("ua-1"))
        #expect(SASL2.resource(tag: "Conversations", userAgentID: "ua-1", account: account, key: key, random: [9, 9, 9]) == first)
        #expect(SASL2.resource(tag: "Conversations", userAgentID: "ua-2", account: account, key: key, random: []) != first)
        #expect(SASL2.resource(tag: "Conversations", userAgentID: "ua-1", account: try JID("bob@example.com"), key: key, random: []) != first)
        let random1 = SASL2.resource(tag: "T", userAgentID: nil, account: account, key: key, random: SASLRandom.bytes(9))
        let random2 = SASL2.resource(tag: "T", userAgentID: nil, account: account, key: key, random: SASLRandom.bytes(9))
        #expect(random1 != random2 && random1.hasPrefix("T/"))
        // A tag that cannot be a resource is left out rather than refusing the login.
        let untagged = SASL2.resource(tag: String(repeating: "x", count: 100), userAgentID: nil, account: account, key: key, random: [1, 2, 3])
        #expect(!untagged.contains("/") && (try? JID.prepareResourcepart(untagged)) != nil)
    }
}
