import Testing
import XMPPCore
import XMPPSASL
@testable import XMPPStream

private func sasl(_ name: String, _ text: String? = nil, mechanism: String? = nil) -> Element {
    var element = Element(name: name, namespace: XMPPNamespace.sasl)
    if let mechanism { element[attribute: "mechanism"] = mechanism }
    if let text { element.append(text: text) }
    return element
}

@Suite("C2SStreamStateMachine")
struct C2SStreamStateMachineTests {
    let policy = C2SNegotiationPolicy(hostedDomains: ["example.com"])

    @Test("plaintext features offer required STARTTLS and no SASL")
    func plaintextFeatures() throws {
        var machine = C2SStreamStateMachine(policy: self.policy)
        let actions = machine.streamOpened(clientStreamHeader, streamID: "s1")
        guard case .sendStreamHeader(let reply) = actions.first else {
            Issue.record("no header first: \(actions)")
            return
        }
        #expect(reply[attribute: "from"] == "example.com")
        #expect(reply[attribute: "id"] == "s1")
        let features = try #require(sentElements(actions).first)
        #expect(features.child(named: "starttls")?.child(named: "required") != nil)
        #expect(features.child(named: "mechanisms") == nil)
    }

    @Test("a refused stream gets the header, then the error, and no features")
    func refusedStream() {
        var machine = C2SStreamStateMachine(policy: self.policy)
        let actions = machine.streamRefused(clientStreamHeader, streamID: "s1", condition: .policyViolation)
        #expect(actions.count == 2)
        guard case .sendStreamHeader = actions.first, case .close(let error) = actions.last else {
            Issue.record("not header then close: \(actions)")
            return
        }
        #expect(error?.condition == .policyViolation)
        #expect(sentElements(actions).isEmpty)
        #expect(machine.isClosed)
    }

    @Test("STARTTLS: proceed, then TLS, then SASL features with -PLUS and XEP-0440")
    func starttlsFlow() throws {
        var machine = C2SStreamStateMachine(policy: self.policy)
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        let actions = machine.elementReceived(Element(name: "starttls", namespace: XMPPNamespace.tls))
        #expect(actions == [.send(Element(name: "proceed", namespace: XMPPNamespace.tls)), .startTLS])
        // Anything that slips through before the handshake is a violation.
        var early = machine
        #expect(early.elementReceived(sasl("auth", mechanism: "PLAIN")).last == .close(StreamError(.policyViolation, text: "data after <starttls/>")))
        #expect(machine.tlsEstablished(channelBinding: [.tlsServerEndPoint: [1, 2, 3]]).isEmpty)
        let features = try #require(sentElements(machine.streamOpened(clientStreamHeader, streamID: "s2")).first)
        let mechanisms = features.child(named: "mechanisms")?.children(named: "mechanism").map(\.text) ?? []
        #expect(mechanisms.contains("SCRAM-SHA-256-PLUS"))
        #expect(mechanisms.contains("PLAIN"))
        #expect(features.child(named: "sasl-channel-binding")?.child(named: "channel-binding")?[attribute: "type"] == "tls-server-end-point")
        #expect(features.child(named: "starttls") == nil)
    }

    @Test("SASL before TLS gets encryption-required and the stream stays open")
    func saslBeforeTLS() {
        var machine = C2SStreamStateMachine(policy: self.policy)
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        let actions = machine.elementReceived(sasl("auth", "AGEAYg==", mechanism: "PLAIN"))
        #expect(actions == [.send(SASLFailure.encryptionRequired.element)])
        #expect(!machine.isClosed)
    }

    @Test("PLAIN: verification, success, stream restart, bind")
    func plainToBind() throws {
        var machine = C2SStreamStateMachine(policy: self.policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [:])
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        let message = PLAINMessage(username: "Alice", password: "pw")
        #expect(machine.elementReceived(sasl("auth", Base64.encode(message.bytes), mechanism: "PLAIN")) == [.verifyPlainPassword(username: "alice", password: "pw")])
        let success = machine.plainPasswordVerified(true)
        let account = try JID("alice@example.com")
        #expect(success == [.send(Element(name: "success", namespace: XMPPNamespace.sasl)), .authenticated(account), .restartStream])
        let features = try #require(sentElements(machine.streamOpened(clientStreamHeader, streamID: "s2")).first)
        #expect(features.child(named: "bind") != nil)
        var bind = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "b1")])
        bind.append(Element("bind", namespace: XMPPNamespace.bind, children: [Element("resource", namespace: XMPPNamespace.bind, text: "home")]))
        #expect(machine.elementReceived(bind) == [.bindResource(requested: "home", account: account)])
        let bound = try account.with(resource: "home")
        let result = try #require(sentElements(machine.resourceBound(bound)).first)
        #expect(result.id == "b1")
        #expect(result.child(named: "bind")?.child(named: "jid")?.text == "alice@example.com/home")
        #expect(machine.boundJID == bound)
    }

    @Test("a shutdown while the client's restarted header is awaited sends our header before the error")
    func shutdownBeforeRestartedHeader() throws {
        var machine = C2SStreamStateMachine(policy: self.policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [:])
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        _ = machine.elementReceived(sasl("auth", Base64.encode(PLAINMessage(username: "alice", password: "pw").bytes), mechanism: "PLAIN"))
        _ = machine.plainPasswordVerified(true)
        let actions = machine.shutdown(.connectionTimeout)
        #expect(actions.count == 2)
        guard case .sendStreamHeader(let header) = try #require(actions.first) else {
            Issue.record("expected a stream header first, got \(actions)")
            return
        }
        #expect(header[attribute: "from"] == "example.com")
        #expect(actions.last == .close(StreamError(.connectionTimeout)))
        // The same while TLS is being set up after <proceed/>.
        var starting = C2SStreamStateMachine(policy: self.policy)
        _ = starting.streamOpened(clientStreamHeader, streamID: "s1")
        _ = starting.elementReceived(Element(name: "starttls", namespace: XMPPNamespace.tls))
        #expect(starting.shutdown(.connectionTimeout).count == 2)
        // Once our header is out, a shutdown is the error alone.
        var open = C2SStreamStateMachine(policy: self.policy, directTLS: true)
        _ = open.tlsEstablished(channelBinding: [:])
        _ = open.streamOpened(clientStreamHeader, streamID: "s1")
        #expect(open.shutdown(.systemShutdown) == [.close(StreamError(.systemShutdown))])
    }

    @Test("stanzas on an established stream are stamped and checked")
    func establishedStanzas() throws {
        var machine = try Self.established(self.policy)
        let message = Element("message", namespace: XMPPNamespace.client, attributes: [("to", "Bob@Example.com")])
        guard case .route(let routed) = machine.elementReceived(message).first else {
            Issue.record("not routed")
            return
        }
        #expect(routed[attribute: "from"] == "alice@example.com/home")
        #expect(routed[attribute: "to"] == "bob@example.com")
        let spoofed = Element("message", namespace: XMPPNamespace.client, attributes: [("from", "bob@example.com")])
        #expect(machine.elementReceived(spoofed) == [.close(StreamError(.invalidFrom, text: "'from' does not match the authenticated address"))])
    }

    @Test("wrong passwords count towards the limit")
    func failureLimit() {
        var machine = C2SStreamStateMachine(policy: C2SNegotiationPolicy(hostedDomains: ["example.com"], maxAuthenticationFailures: 2), directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [:])
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        let message = Base64.encode(PLAINMessage(username: "alice", password: "x").bytes)
        _ = machine.elementReceived(sasl("auth", message, mechanism: "PLAIN"))
        #expect(machine.plainPasswordVerified(false).contains(.send(SASLFailure.notAuthorized.element)))
        #expect(!machine.isClosed)
        _ = machine.elementReceived(sasl("auth", message, mechanism: "PLAIN"))
        #expect(machine.plainPasswordVerified(false).last == .close(StreamError(.policyViolation, text: "too many failed authentication attempts")))
    }

    /// Debian's slixmpp 1.8.3 (poezio's) asks for tls-unique with each -PLUS mechanism, then
    /// says 'y' with each plain SCRAM, then tries PLAIN: six refusals in a row that never
    /// reached a password. With the limit of failed guesses at 2, it must still log in, and
    /// none of the six may be reported as a failed login (lockouts count those).
    @Test("refusals before any password was checked do not use up the failed-login limit")
    func refusalsAreNotGuesses() throws {
        var machine = C2SStreamStateMachine(policy: C2SNegotiationPolicy(hostedDomains: ["example.com"], maxAuthenticationFailures: 2), directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [.tlsServerEndPoint: [1, 2, 3]])
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        let attempts = ["SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"].map { ($0, "p=tls-unique,,n=alice,r=abc") }
            + ["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"].map { ($0, "y,,n=alice,r=abc") }
        for (mechanism, first) in attempts {
            let actions = machine.elementReceived(sasl("auth", Base64.encode(Array(first.utf8)), mechanism: mechanism))
            #expect(sentElements(actions).first?.name == "failure", "\(mechanism): \(actions)")
            #expect(!actions.contains { if case .authenticationFailed = $0 { true } else { false } }, "\(mechanism) counted as a failed login")
            #expect(!machine.isClosed, "closed after \(mechanism)")
        }
        let plain = Base64.encode(PLAINMessage(username: "alice", password: "right").bytes)
        #expect(machine.elementReceived(sasl("auth", plain, mechanism: "PLAIN")) == [.verifyPlainPassword(username: "alice", password: "right")])
        #expect(machine.plainPasswordVerified(true).contains(.restartStream))
    }

    @Test("refused requests are bounded per stream")
    func refusalsBounded() {
        var machine = C2SStreamStateMachine(policy: self.policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [.tlsServerEndPoint: [1, 2, 3]])
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        let first = Base64.encode(Array("p=tls-unique,,n=alice,r=abc".utf8))
        var last: [C2SStreamStateMachine.Action] = []
        for _ in 0..<C2SStreamStateMachine.maxRefusedRequests {
            #expect(!machine.isClosed)
            last = machine.elementReceived(sasl("auth", first, mechanism: "SCRAM-SHA-256-PLUS"))
        }
        #expect(last.last == .close(StreamError(.policyViolation, text: "too many refused authentication requests")))
    }

    @Test("header problems are answered after our own header", arguments: [
        (StreamHeader(attributes: [Attribute(name: "to", value: "other.org"), Attribute(name: "version", value: "1.0")], contentNamespace: XMPPNamespace.client), StreamErrorCondition.hostUnknown),
        (StreamHeader(attributes: [Attribute(name: "to", value: "example.com"), Attribute(name: "version", value: "1.0")], contentNamespace: XMPPNamespace.server), .invalidNamespace),
        (StreamHeader(attributes: [Attribute(name: "to", value: "example.com")], contentNamespace: XMPPNamespace.client), .unsupportedVersion),
        (StreamHeader(name: "stream", namespace: "urn:wrong", attributes: [Attribute(name: "to", value: "example.com"), Attribute(name: "version", value: "1.0")], contentNamespace: XMPPNamespace.client), .invalidNamespace),
    ])
    func headerErrors(_ header: StreamHeader, _ condition: StreamErrorCondition) {
        var machine = C2SStreamStateMachine(policy: self.policy)
        let actions = machine.streamOpened(header, streamID: "s")
        guard case .sendStreamHeader = actions.first, case .close(let error) = actions.last else {
            Issue.record("unexpected actions \(actions)")
            return
        }
        #expect(error?.condition == condition)
    }

    @Test("unknown mechanisms and bad base64 are SASL failures, not stream errors")
    func saslFailures() {
        var machine = C2SStreamStateMachine(policy: self.policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [:])
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        #expect(machine.elementReceived(sasl("auth", "=", mechanism: "DIGEST-MD5")) == [.send(SASLFailure.invalidMechanism.element)])
        #expect(machine.elementReceived(sasl("auth", "not base64!", mechanism: "PLAIN")).contains(.send(SASLFailure.incorrectEncoding.element)))
        _ = machine.elementReceived(sasl("auth", mechanism: "SCRAM-SHA-256"))
        #expect(machine.elementReceived(sasl("abort")) == [.send(SASLFailure.aborted.element)])
    }

    static func established(_ policy: C2SNegotiationPolicy) throws -> C2SStreamStateMachine {
        var machine = C2SStreamStateMachine(policy: policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [:])
        _ = machine.streamOpened(clientStreamHeader, streamID: "s1")
        _ = machine.elementReceived(sasl("auth", Base64.encode(PLAINMessage(username: "alice", password: "pw").bytes), mechanism: "PLAIN"))
        _ = machine.plainPasswordVerified(true)
        _ = machine.streamOpened(clientStreamHeader, streamID: "s2")
        var bind = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "b1")])
        bind.append(Element(name: "bind", namespace: XMPPNamespace.bind))
        _ = machine.elementReceived(bind)
        _ = machine.resourceBound(try JID("alice@example.com/home"))
        return machine
    }
}
