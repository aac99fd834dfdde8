import Testing
import XMPPCore
@testable import XMPPStream

@Suite("C2SStreamStateMachine: registration before login (XEP-0077, XEP-0445)")
struct C2SStreamStateMachineRegistrationTests {
    static func preauth(id: String? = "p1") -> Element {
        var iq = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set")])
        iq[attribute: "id"] = id
        iq.append(Element("preauth", namespace: C2SStreamStateMachine.preauthNamespace, attributes: [("token", "t")]))
        return iq
    }

    static func encrypted(byInvitation: Bool) -> (C2SStreamStateMachine, Element?) {
        var policy = C2SNegotiationPolicy(hostedDomains: ["example.com"], registrationAvailable: true)
        policy.registrationByInvitation = byInvitation
        var machine = C2SStreamStateMachine(policy: policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [:])
        let features = sentElements(machine.streamOpened(clientStreamHeader, streamID: "s1")).first
        return (machine, features)
    }

    @Test("with invitations the features say so, and <preauth/> and registration IQs go to the server")
    func byInvitation() {
        var (machine, features) = Self.encrypted(byInvitation: true)
        #expect(features?.child(named: "register", namespace: C2SStreamStateMachine.invitationRegistrationFeature) != nil)
        #expect(features?.child(named: "register", namespace: "http://jabber.org/features/iq-register") != nil)
        // Conversations looks for this name before it sends <preauth/>.
        #expect(features?.child(named: "register", namespace: "urn:xmpp:invite") != nil)
        #expect(machine.elementReceived(Self.preauth()) == [.register(Self.preauth())])
        let query = Element(name: "query", namespace: "jabber:iq:register")
        let register = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("id", "r1")], children: [query])
        #expect(machine.elementReceived(register) == [.register(register)])
    }

    @Test("without invitations, or without an id, a <preauth/> is not handed on")
    func notHandedOn() {
        var (machine, features) = Self.encrypted(byInvitation: false)
        #expect(features?.child(named: "register", namespace: C2SStreamStateMachine.invitationRegistrationFeature) == nil)
        #expect(!machine.elementReceived(Self.preauth()).contains(.register(Self.preauth())))
        var (invited, _) = Self.encrypted(byInvitation: true)
        #expect(!invited.elementReceived(Self.preauth(id: nil)).contains { if case .register = $0 { true } else { false } })
    }

    @Test("a stream that keeps presenting unknown invitation tokens is closed; registration answers, accepted tokens and server faults are not counted")
    func refusedTokensBounded() {
        var (machine, _) = Self.encrypted(byInvitation: true)
        let refusal = Self.preauth().errorReply(StanzaError(.itemNotFound))
        let query = Element(name: "query", namespace: "jabber:iq:register")
        let register = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "r1")], children: [query])
        #expect(machine.registrationAnswered(register.errorReply(StanzaError(.conflict)), to: register) == [.send(register.errorReply(StanzaError(.conflict)))])
        #expect(machine.registrationAnswered(Self.preauth().iqResult(), to: Self.preauth()) == [.send(Self.preauth().iqResult())])
        // A fault of the server's is not the client's guess.
        let fault = Self.preauth().errorReply(StanzaError(.internalServerError))
        for _ in 0..<C2SStreamStateMachine.maxRefusedInvitations { #expect(machine.registrationAnswered(fault, to: Self.preauth()) == [.send(fault)]) }
        for _ in 1..<C2SStreamStateMachine.maxRefusedInvitations {
            #expect(machine.registrationAnswered(refusal, to: Self.preauth()) == [.send(refusal)])
        }
        let last = machine.registrationAnswered(refusal, to: Self.preauth())
        #expect(last.first == .send(refusal))
        #expect(last.contains { if case .close(let error) = $0 { error?.condition == .policyViolation } else { false } }, "\(last)")
    }
}
