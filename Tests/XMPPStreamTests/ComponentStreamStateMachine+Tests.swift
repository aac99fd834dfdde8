import Testing
import XMPPCore
@testable import XMPPStream

private func header(to: String, namespace: String = ComponentNamespace.accept) -> StreamHeader {
    StreamHeader(attributes: [Attribute(name: "to", value: to)], contentNamespace: namespace)
}

private func handshake(_ digest: String) -> Element {
    Element("handshake", namespace: ComponentNamespace.accept, text: digest)
}

private func closeCondition(_ actions: [ComponentStreamStateMachine.Action]) -> StreamErrorCondition? {
    for case .close(let error) in actions { return error?.condition }
    return nil
}

@Suite("ComponentStreamStateMachine")
struct ComponentStreamStateMachineTests {
    let policy = ComponentPolicy(secrets: ["bot.example": "secret"])

    /// A machine past the handshake, with its domain claimed.
    private func established() -> ComponentStreamStateMachine {
        var machine = ComponentStreamStateMachine(policy: self.policy)
        _ = machine.streamOpened(header(to: "bot.example"), streamID: "id1")
        _ = machine.elementReceived(handshake(ComponentStreamStateMachine.expectedDigest(streamID: "id1", secret: "secret")))
        _ = machine.domainClaimed()
        return machine
    }

    @Test("the handshake digest is lower-case hex SHA-1 of stream id and secret (FIPS 180 'abc' vector)")
    func digest() {
        #expect(ComponentStreamStateMachine.expectedDigest(streamID: "a", secret: "bc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    @Test("the header is answered from the component's domain with a stream id and no features")
    func headerAnswered() throws {
        var machine = ComponentStreamStateMachine(policy: self.policy)
        let actions = machine.streamOpened(header(to: "Bot.Example"), streamID: "id1")
        #expect(actions.count == 1)
        guard case .sendStreamHeader(let reply) = try #require(actions.first) else {
            Issue.record("expected a stream header, got \(actions)")
            return
        }
        #expect(reply[attribute: "from"] == "bot.example")
        #expect(reply[attribute: "id"] == "id1")
        #expect(reply.contentNamespace == ComponentNamespace.accept)
    }

    @Test("a correct handshake claims the domain, and the claim is answered with an empty handshake")
    func goodHandshake() throws {
        var machine = ComponentStreamStateMachine(policy: self.policy)
        _ = machine.streamOpened(header(to: "bot.example"), streamID: "id1")
        let digest = ComponentStreamStateMachine.expectedDigest(streamID: "id1", secret: "secret").uppercased()
        #expect(machine.elementReceived(handshake(digest)) == [.claimDomain("bot.example")])
        #expect(machine.domain == nil)
        #expect(machine.domainClaimed() == [.send(Element(name: "handshake", namespace: ComponentNamespace.accept))])
        #expect(machine.domain == "bot.example")
    }

    @Test("a wrong digest, a stanza before the handshake, or a taken domain close the stream")
    func refusals() {
        var wrong = ComponentStreamStateMachine(policy: self.policy)
        _ = wrong.streamOpened(header(to: "bot.example"), streamID: "id1")
        #expect(closeCondition(wrong.elementReceived(handshake(ComponentStreamStateMachine.expectedDigest(streamID: "id1", secret: "guess")))) == .notAuthorized)
        #expect(wrong.isClosed)

        var early = ComponentStreamStateMachine(policy: self.policy)
        _ = early.streamOpened(header(to: "bot.example"), streamID: "id1")
        #expect(closeCondition(early.elementReceived(Element("message", namespace: ComponentNamespace.accept, attributes: [("to", "a@b")]))) == .notAuthorized)

        var taken = ComponentStreamStateMachine(policy: self.policy)
        _ = taken.streamOpened(header(to: "bot.example"), streamID: "id1")
        _ = taken.elementReceived(handshake(ComponentStreamStateMachine.expectedDigest(streamID: "id1", secret: "secret")))
        #expect(closeCondition(taken.domainTaken()) == .conflict)
    }

    @Test("an unknown domain gets host-unknown, a client stream invalid-namespace")
    func headerRefusals() {
        var unknown = ComponentStreamStateMachine(policy: self.policy)
        #expect(closeCondition(unknown.streamOpened(header(to: "other.example"), streamID: "id1")) == .hostUnknown)
        var client = ComponentStreamStateMachine(policy: self.policy)
        #expect(closeCondition(client.streamOpened(header(to: "bot.example", namespace: XMPPNamespace.client), streamID: "id1")) == .invalidNamespace)
    }

    @Test("stanzas from the domain are routed as jabber:client; others close with invalid-from or improper-addressing")
    func stanzas() throws {
        var machine = self.established()
        let message = Element(
            "message", namespace: ComponentNamespace.accept, attributes: [("from", "user@bot.example/r"), ("to", "alice@example")],
            children: [Element("body", namespace: ComponentNamespace.accept, text: "hi")])
        let actions = machine.elementReceived(message)
        guard case .route(let routed) = try #require(actions.first) else {
            Issue.record("expected a route action, got \(actions)")
            return
        }
        #expect(routed.namespace == XMPPNamespace.client)
        #expect(routed.child(named: "body", namespace: XMPPNamespace.client)?.text == "hi")

        var spoofing = self.established()
        let spoofed = Element("message", namespace: ComponentNamespace.accept, attributes: [("from", "alice@example"), ("to", "bob@example")])
        #expect(closeCondition(spoofing.elementReceived(spoofed)) == .invalidFrom)

        var unaddressed = self.established()
        #expect(closeCondition(unaddressed.elementReceived(Element("message", namespace: ComponentNamespace.accept, attributes: [("from", "bot.example")]))) == .improperAddressing)
    }
}
