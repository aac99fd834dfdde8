import Testing
import XMPPCore
import XMPPSASL
@testable import XMPPStream

private func header(from: String, to: String, version: Bool = true) -> StreamHeader {
    var attributes = [Attribute(name: "from", value: from), Attribute(name: "to", value: to)]
    if version { attributes.append(Attribute(name: "version", value: "1.0")) }
    return StreamHeader(attributes: attributes, contentNamespace: XMPPNamespace.server, declaredPrefixes: ["db": S2SNamespace.dialback])
}

private func sent(_ actions: [S2SInboundStateMachine.Action]) -> [Element] {
    actions.compactMap { if case .send(let element) = $0 { return element } else { return nil } }
}

@Suite("S2SInboundStateMachine")
struct S2SInboundStateMachineTests {
    let policy = S2SInboundPolicy(hostedDomains: ["a.example"])

    private func encrypted(certificate: CertificateIdentity = .none) -> S2SInboundStateMachine {
        var machine = S2SInboundStateMachine(policy: self.policy)
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"), streamID: "s1")
        _ = machine.elementReceived(Element(name: "starttls", namespace: XMPPNamespace.tls))
        _ = machine.tlsEstablished(certificate: certificate)
        return machine
    }

    @Test("plaintext features require STARTTLS; after TLS, dialback and (with a certificate) EXTERNAL")
    func features() throws {
        var machine = S2SInboundStateMachine(policy: self.policy)
        let first = try #require(sent(machine.streamOpened(header(from: "b.example", to: "a.example"), streamID: "s1")).first)
        #expect(first.child(named: "starttls")?.child(named: "required") != nil)
        #expect(first.child(named: "dialback") == nil)
        var plain = self.encrypted()
        let afterTLS = try #require(sent(plain.streamOpened(header(from: "b.example", to: "a.example"), streamID: "s2")).first)
        #expect(afterTLS.child(named: "dialback", namespace: S2SNamespace.dialbackFeature) != nil)
        #expect(afterTLS.child(named: "mechanisms") == nil)
        var certified = self.encrypted(certificate: CertificateIdentity(names: ["*.example"]))
        let withCertificate = try #require(sent(certified.streamOpened(header(from: "b.example", to: "a.example"), streamID: "s3")).first)
        #expect(withCertificate.child(named: "mechanisms")?.child(named: "mechanism")?.text == "EXTERNAL")
    }

    @Test("SASL EXTERNAL succeeds only for a domain the certificate proves")
    func external() {
        var machine = self.encrypted(certificate: CertificateIdentity(pinnedDomains: ["b.example"]))
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"), streamID: "s2")
        let actions = machine.elementReceived(Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", "EXTERNAL")], text: "="))
        #expect(actions.contains(.authenticated(domain: "b.example", method: .saslExternal)))
        var other = self.encrypted(certificate: CertificateIdentity(pinnedDomains: ["b.example"]))
        _ = other.streamOpened(header(from: "b.example", to: "a.example"), streamID: "s2")
        let refused = other.elementReceived(Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", "EXTERNAL")], text: Base64.encode(Array("c.example".utf8))))
        #expect(refused.first == .send(SASLFailure.notAuthorized.element))
    }

    @Test("dialback: verify with the authoritative server, then accept or close with not-authorized")
    func dialback() {
        var machine = self.encrypted()
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"), streamID: "s2")
        let result = Element("result", namespace: S2SNamespace.dialback, attributes: [("from", "b.example"), ("to", "a.example")], text: "KEY")
        #expect(machine.elementReceived(result) == [.verifyDialbackKey(from: "b.example", to: "a.example", key: "KEY", streamID: "s2")])
        var rejecting = machine
        let accepted = machine.dialbackVerified(from: "b.example", to: "a.example", valid: true)
        #expect(accepted.contains(.authenticated(domain: "b.example", method: .dialback)))
        let rejected = rejecting.dialbackVerified(from: "b.example", to: "a.example", valid: false)
        #expect(rejected.last == .close(StreamError(.notAuthorized, text: "the dialback key did not verify")))
    }

    @Test("stanzas must come from an authenticated domain and go to a hosted one")
    func addressing() {
        var machine = self.encrypted()
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"), streamID: "s2")
        _ = machine.dialbackVerified(from: "b.example", to: "a.example", valid: true)
        let good = Element("message", namespace: XMPPNamespace.server, attributes: [("from", "x@b.example"), ("to", "y@a.example")])
        guard case .route(let routed) = machine.elementReceived(good).first else {
            Issue.record("not routed")
            return
        }
        #expect(routed.namespace == XMPPNamespace.client)
        var spoofing = machine
        let spoofed = Element("message", namespace: XMPPNamespace.server, attributes: [("from", "x@evil.example"), ("to", "y@a.example")])
        #expect(spoofing.elementReceived(spoofed).last == .close(StreamError(.invalidFrom, text: "evil.example is not authenticated on this stream")))
        let elsewhere = Element("message", namespace: XMPPNamespace.server, attributes: [("from", "x@b.example"), ("to", "y@c.example")])
        #expect(machine.elementReceived(elsewhere).last == .close(StreamError(.hostUnknown)))
    }

    @Test("a stream to a domain we do not host gets host-unknown")
    func hostUnknown() {
        var machine = S2SInboundStateMachine(policy: self.policy)
        #expect(machine.streamOpened(header(from: "b.example", to: "z.example"), streamID: "s").last == .close(StreamError(.hostUnknown)))
    }

    @Test("certificate identities match exact names, one-label wildcards and pins")
    func identities() {
        let identity = CertificateIdentity(names: ["Chat.Example", "*.example.org"], pinnedDomains: ["pinned.test"])
        #expect(identity.covers("chat.example"))
        #expect(identity.covers("a.example.org"))
        #expect(!identity.covers("a.b.example.org"))
        #expect(!identity.covers("example.org"))
        #expect(identity.covers("pinned.test"))
    }
}

@Suite("S2SOutboundStateMachine")
struct S2SOutboundStateMachineTests {
    @Test("STARTTLS, then SASL EXTERNAL, then established")
    func external() throws {
        var machine = S2SOutboundStateMachine(local: "a.example", remote: "b.example")
        try #require(machine.connected().first?.streamHeader != nil)
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"))
        let starttls = Element("features", namespace: XMPPNamespace.stream, children: [Element(name: "starttls", namespace: XMPPNamespace.tls)])
        #expect(machine.elementReceived(starttls) == [.send(Element(name: "starttls", namespace: XMPPNamespace.tls))])
        #expect(machine.elementReceived(Element(name: "proceed", namespace: XMPPNamespace.tls)) == [.startTLS])
        try #require(machine.tlsEstablished().first?.streamHeader != nil)
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"))
        let mechanisms = Element("features", namespace: XMPPNamespace.stream, children: [
            Element("mechanisms", namespace: XMPPNamespace.sasl, children: [Element("mechanism", namespace: XMPPNamespace.sasl, text: "EXTERNAL")]),
        ])
        let auth = try #require(machine.elementReceived(mechanisms).first?.sentElement)
        #expect(auth[attribute: "mechanism"] == "EXTERNAL")
        #expect(machine.elementReceived(Element(name: "success", namespace: XMPPNamespace.sasl)).first == .restartStream)
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"))
        #expect(machine.elementReceived(Element(name: "features", namespace: XMPPNamespace.stream)) == [.established])
    }

    @Test("falls back to dialback when EXTERNAL fails, and fails over when the key is refused")
    func dialbackFallback() {
        var machine = S2SOutboundStateMachine(local: "a.example", remote: "b.example", tlsRequired: false)
        _ = machine.connected()
        var opened = header(from: "b.example", to: "a.example")
        opened.attributes.append(Attribute(name: "id", value: "abc"))
        _ = machine.streamOpened(opened)
        let features = Element("features", namespace: XMPPNamespace.stream, children: [Element(name: "dialback", namespace: S2SNamespace.dialbackFeature)])
        #expect(machine.elementReceived(features) == [.sendDialbackKey(streamID: "abc")])
        var refused = machine
        #expect(machine.elementReceived(Element("result", namespace: S2SNamespace.dialback, attributes: [("type", "valid")])) == [.established])
        guard case .failed(.remoteServerNotFound, _) = refused.elementReceived(Element("result", namespace: S2SNamespace.dialback, attributes: [("type", "invalid")])).first else {
            Issue.record("a refused key must fail the stream")
            return
        }
    }

    @Test("a verify stream asks and reports the answer")
    func verify() throws {
        var machine = S2SOutboundStateMachine(local: "a.example", remote: "b.example", purpose: .verify(originating: "b.example", streamID: "s9", key: "K"), tlsRequired: false)
        _ = machine.connected()
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"))
        let question = try #require(machine.elementReceived(Element(name: "features", namespace: XMPPNamespace.stream)).first?.sentElement)
        #expect(question.name == "verify" && question[attribute: "id"] == "s9" && question.text == "K")
        #expect(machine.elementReceived(Element("verify", namespace: S2SNamespace.dialback, attributes: [("type", "valid")])).first == .verified(true))
    }

    @Test("a peer without STARTTLS is refused when encryption is required")
    func encryptionRequired() {
        var machine = S2SOutboundStateMachine(local: "a.example", remote: "b.example")
        _ = machine.connected()
        _ = machine.streamOpened(header(from: "b.example", to: "a.example"))
        guard case .failed = machine.elementReceived(Element(name: "features", namespace: XMPPNamespace.stream)).first else {
            Issue.record("expected a failure")
            return
        }
    }
}

extension S2SOutboundStateMachine.Action {
    /// The header of `.sendStreamHeader`, or nil for any other action.
    fileprivate var streamHeader: StreamHeader? {
        if case .sendStreamHeader(let header) = self { return header }
        return nil
    }

    /// The element of `.send`, or nil for any other action.
    fileprivate var sentElement: Element? {
        if case .send(let element) = self { return element }
        return nil
    }
}
