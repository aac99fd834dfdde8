import Testing
import XMPPCore
import XMPPSASL
@testable import XMPPStream

private let fastNamespace = "urn:xmpp:fast:0"
private let endpointBinding: [UInt8] = [1, 2, 3]
private let exporterBinding: [UInt8] = Array(repeating: 7, count: 32)
private let token = "secret-token:fast-" + String(repeating: "A", count: 86)

private func authenticate(_ mechanism: String, _ initial: [UInt8]?, children: [Element] = []) -> Element {
    var element = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", mechanism)])
    if let initial { element.append(Element("initial-response", namespace: SASL2.namespace, text: Base64.encode(initial))) }
    for child in children { element.append(child) }
    return element
}

private func agent(_ id: String? = "ua-1") -> Element {
    var element = Element(name: "user-agent", namespace: SASL2.namespace)
    element[attribute: "id"] = id
    return element
}

private func tokenRequest(_ mechanism: String) -> Element {
    Element("request-token", namespace: fastNamespace, attributes: [("mechanism", mechanism)])
}

/// XEP-0484 FAST in the negotiation machine, without sockets.
@Suite("C2SStreamStateMachine: FAST (XEP-0484)")
struct C2SStreamStateMachineFASTTests {
    let policy = C2SNegotiationPolicy(hostedDomains: ["example.com"])

    private func opened(_ bindings: [ChannelBindingType: [UInt8]] = [.tlsServerEndPoint: endpointBinding, .tlsExporter: exporterBinding])
        -> (C2SStreamStateMachine, Element?)
    {
        var machine = C2SStreamStateMachine(policy: self.policy, directTLS: true)
        _ = machine.tlsEstablished(channelBinding: bindings)
        let features = sentElements(machine.streamOpened(clientStreamHeader, streamID: "s1")).first
        return (machine, features)
    }

    private func fastMechanisms(_ features: Element?) -> [String]? {
        features?.child(named: "authentication", namespace: SASL2.namespace)?.child(named: "inline", namespace: SASL2.namespace)?
            .child(named: "fast", namespace: fastNamespace)?.children(named: "mechanism").map(\.text)
    }

    @Test("<fast/> is offered inside SASL2 <inline/> only over TLS, with the mechanisms the connection's bindings allow")
    func feature() throws {
        #expect(self.fastMechanisms(self.opened().1) == ["HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE"])
        #expect(self.fastMechanisms(self.opened([.tlsServerEndPoint: endpointBinding]).1) == ["HT-SHA-256-ENDP", "HT-SHA-256-NONE"])
        #expect(self.fastMechanisms(self.opened([:]).1) == ["HT-SHA-256-NONE"])
        // Never in the mechanism lists.
        let features = try #require(self.opened().1)
        let legacy = features.child(named: "mechanisms", namespace: XMPPNamespace.sasl)?.children(named: "mechanism").map(\.text) ?? []
        let sasl2 = features.child(named: "authentication", namespace: SASL2.namespace)?.children(named: "mechanism").map(\.text) ?? []
        #expect(!(legacy + sasl2).contains { $0.hasPrefix("HT-") })
        // Plaintext (TLS not required): SASL2 is there, FAST is not.
        var plaintext = C2SStreamStateMachine(policy: C2SNegotiationPolicy(hostedDomains: ["example.com"], tlsAvailable: false, tlsRequired: false))
        let plainFeatures = sentElements(plaintext.streamOpened(clientStreamHeader, streamID: "s1")).first
        #expect(plainFeatures?.child(named: "authentication", namespace: SASL2.namespace) != nil)
        #expect(self.fastMechanisms(plainFeatures) == nil)
        // Switched off.
        var off = C2SStreamStateMachine(policy: C2SNegotiationPolicy(hostedDomains: ["example.com"], fast: false), directTLS: true)
        _ = off.tlsEstablished(channelBinding: [:])
        #expect(self.fastMechanisms(sentElements(off.streamOpened(clientStreamHeader, streamID: "s1")).first) == nil)
    }

    @Test("<request-token/> with a password login: the token is issued before <success/>, which carries it")
    func requestToken() throws {
        var (machine, _) = self.opened()
        let request = authenticate("PLAIN", PLAINMessage(username: "alice", password: "pw").bytes, children: [agent(), tokenRequest("HT-SHA-256-EXPR")])
        #expect(machine.elementReceived(request) == [.verifyPlainPassword(username: "alice", password: "pw")])
        let account = try JID("alice@example.com")
        // Nothing goes out, and the stream is not yet authenticated, until the token is stored.
        #expect(machine.plainPasswordVerified(true) == [.issueFASTToken(FAST.TokenIssue(account: account, userAgentID: "ua-1", mechanism: .exporter))])
        let actions = machine.fastTokenIssued(FAST.IssuedToken(token: token, expiry: "2030-01-01T00:00:00Z"))
        #expect(actions.first == .authenticated(account))
        let success = try #require(sentElements(actions).first)
        #expect(success.name == "success")
        let issued = try #require(success.child(named: "token", namespace: fastNamespace))
        #expect(issued[attribute: "token"] == token && issued[attribute: "expiry"] == "2030-01-01T00:00:00Z")
        // Storing failed: the login goes on without a token.
        var (other, _) = self.opened()
        _ = other.elementReceived(request)
        _ = other.plainPasswordVerified(true)
        #expect(sentElements(other.fastTokenIssued(nil)).first?.child(named: "token", namespace: fastNamespace) == nil)
    }

    @Test("<request-token/> for a mechanism not offered, or without a user-agent id, is refused before any check")
    func requestTokenRefused() throws {
        var (machine, _) = self.opened([.tlsServerEndPoint: endpointBinding])
        let plain = PLAINMessage(username: "alice", password: "pw").bytes
        let notOffered = machine.elementReceived(authenticate("PLAIN", plain, children: [agent(), tokenRequest("HT-SHA-256-EXPR")]))
        #expect(sentElements(notOffered).first?.child(named: "invalid-mechanism", namespace: XMPPNamespace.sasl) != nil)
        #expect(!notOffered.contains { if case .authenticationFailed = $0 { true } else { false } })
        let noAgent = machine.elementReceived(authenticate("PLAIN", plain, children: [tokenRequest("HT-SHA-256-NONE")]))
        let failure = try #require(sentElements(noAgent).first)
        #expect(failure.child(named: "malformed-request", namespace: XMPPNamespace.sasl) != nil)
        #expect(failure.child(named: "text", namespace: SASL2.namespace)?.text.contains("user-agent") == true)
        let noID = machine.elementReceived(authenticate("PLAIN", plain, children: [agent(nil), tokenRequest("HT-SHA-256-NONE")]))
        #expect(sentElements(noID).first?.child(named: "malformed-request", namespace: XMPPNamespace.sasl) != nil)
        #expect(!machine.isClosed && !machine.isAuthenticated)
    }

    @Test("a token login: the stream verifies it; success carries the responder hash, binds inline, and a due rotation issues a token")
    func tokenLogin() throws {
        var (machine, _) = self.opened()
        let initial = HTSHA256.initialResponse(username: "alice", token: token, channelBinding: exporterBinding)
        let bind = Element("bind", namespace: SASL2.bindNamespace, children: [Element("tag", namespace: SASL2.bindNamespace, text: "T")])
        let fast = Element("fast", namespace: fastNamespace, attributes: [("count", "3")])
        let actions = machine.elementReceived(authenticate("HT-SHA-256-EXPR", initial, children: [agent(), bind, fast]))
        let expected = FASTTokenAttempt(
            username: "alice", userAgentID: "ua-1", mechanism: .exporter,
            initiatorHash: HTSHA256.initiatorHash(key: Array(token.utf8), channelBinding: exporterBinding), channelBinding: exporterBinding, count: 3)
        #expect(actions == [.verifyFASTToken(expected)])
        let responder = HTSHA256.responderHash(key: Array(token.utf8), channelBinding: exporterBinding)
        let account = try JID("alice@example.com")
        var rotating = machine
        #expect(
            machine.fastTokenVerified(.accepted(responder: responder, rotationDue: false)) == [
                .authenticated(account), .bindInline(SASL2.BindRequest(tag: "T"), account: account, userAgent: SASL2.UserAgent(id: "ua-1")),
            ])
        let success = try #require(sentElements(machine.inlineBound(try JID("alice@example.com/T/x"), streamManagement: nil, extensions: [])).first)
        #expect(success.child(named: "additional-data", namespace: SASL2.namespace).flatMap { Base64.decode($0.text) } == responder)
        #expect(success.child(named: "token", namespace: fastNamespace) == nil)
        #expect(success.child(named: "bound", namespace: SASL2.bindNamespace) != nil)
        // Close to expiry: a new token for the same mechanism, then the bind.
        #expect(
            rotating.fastTokenVerified(.accepted(responder: responder, rotationDue: true)) == [
                .issueFASTToken(FAST.TokenIssue(account: account, userAgentID: "ua-1", mechanism: .exporter))
            ])
        #expect(rotating.fastTokenIssued(FAST.IssuedToken(token: token, expiry: "2030-01-01T00:00:00Z")).last?.isBindInline == true)
        let rotated = try #require(sentElements(rotating.inlineBound(try JID("alice@example.com/T/x"), streamManagement: nil, extensions: [])).first)
        #expect(rotated.child(named: "token", namespace: fastNamespace)?[attribute: "token"] == token)
    }

    @Test("a connection that drops while storage checks or stores a token: the late answer is ignored, not a crash")
    func answerAfterClose() throws {
        var (machine, _) = self.opened()
        let initial = HTSHA256.initialResponse(username: "alice", token: token, channelBinding: [])
        let actions = machine.elementReceived(authenticate("HT-SHA-256-NONE", initial, children: [agent(), Element(name: "fast", namespace: fastNamespace)]))
        #expect(actions.count == 1)
        _ = machine.streamClosed()
        #expect(machine.isClosed)
        #expect(machine.fastTokenVerified(.rejected).isEmpty)
        #expect(machine.fastTokenIssued(nil).isEmpty)
    }

    @Test("a wrong or expired token fails like a wrong password (counted); invalidate and the mechanism travel to the store")
    func tokenRefused() throws {
        var (machine, _) = self.opened()
        let initial = HTSHA256.initialResponse(username: "alice", token: token, channelBinding: [])
        _ = machine.elementReceived(authenticate("HT-SHA-256-NONE", initial, children: [agent()]))
        let wrong = machine.fastTokenVerified(.rejected)
        #expect(wrong.first == .authenticationFailed(username: "alice", reason: .notAuthorized))
        #expect(sentElements(wrong).first == SASL2.failure(.notAuthorized))
        let invalidate = Element("fast", namespace: fastNamespace, attributes: [("invalidate", "true")])
        let second = machine.elementReceived(authenticate("HT-SHA-256-NONE", initial, children: [agent(), invalidate]))
        guard case .verifyFASTToken(let attempt) = second.first else {
            Issue.record("expected a token check, got \(second)")
            return
        }
        #expect(attempt.invalidate && attempt.mechanism == HTMechanism.unbound && attempt.channelBinding.isEmpty)
        let expired = machine.fastTokenVerified(.expired)
        #expect(expired.first == .authenticationFailed(username: "alice", reason: .credentialsExpired))
        #expect(sentElements(expired).first == SASL2.failure(.credentialsExpired))
        // A token never verified leaves the stream unauthenticated.
        #expect(!machine.isAuthenticated)
        // The token's description never shows it.
        #expect(!"\(FAST.IssuedToken(token: token, expiry: "x"))".contains(token))
        #expect(!"\(attempt)".contains(Base64.encode(attempt.initiatorHash)))
    }

    @Test("malformed token logins: no user-agent id, no initial response, no NUL, a short hash, bad UTF-8, a mechanism not offered, a bad count")
    func malformed() throws {
        var (machine, _) = self.opened([.tlsServerEndPoint: endpointBinding])
        let hash = [UInt8](repeating: 9, count: 32)
        func condition(_ element: Element) -> String? {
            let actions = machine.elementReceived(element)
            #expect(!actions.contains { if case .verifyFASTToken = $0 { true } else { false } })
            return sentElements(actions).first?.elements.first?.name
        }
        #expect(condition(authenticate("HT-SHA-256-NONE", Array("alice".utf8) + [0] + hash)) == "malformed-request")
        #expect(condition(authenticate("HT-SHA-256-NONE", nil, children: [agent()])) == "malformed-request")
        #expect(condition(authenticate("HT-SHA-256-NONE", Array("alice".utf8) + hash, children: [agent()])) == "malformed-request")
        #expect(condition(authenticate("HT-SHA-256-NONE", Array("alice".utf8) + [0] + hash.prefix(31), children: [agent()])) == "malformed-request")
        #expect(condition(authenticate("HT-SHA-256-NONE", [0xFF, 0xFE] + [0] + hash, children: [agent()])) == "incorrect-encoding")
        // No tls-exporter on this connection: EXPR is not offered.
        #expect(condition(authenticate("HT-SHA-256-EXPR", Array("alice".utf8) + [0] + hash, children: [agent()])) == "invalid-mechanism")
        let badCount = Element("fast", namespace: fastNamespace, attributes: [("count", "many")])
        #expect(condition(authenticate("HT-SHA-256-NONE", Array("alice".utf8) + [0] + hash, children: [agent(), badCount])) == "malformed-request")
        #expect(!machine.isClosed)
    }
}

extension C2SStreamStateMachine.Action {
    fileprivate var isBindInline: Bool {
        if case .bindInline = self { return true }
        return false
    }
}
