import Testing
import XMPPCore
import XMPPSASL

@testable import StarlingLoad

@Suite struct LoginMachineTests {
    private func element(_ xml: String) throws -> Element {
        var parser = XMLStreamParser()
        parser.feed("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".utf8)
        parser.feed(xml.utf8)
        _ = try parser.nextEvent()
        guard case .element(let element) = try parser.nextEvent() else { throw XMLStreamError.notWellFormed("no element") }
        return element
    }

    private func sent(_ actions: [LoginMachine.Action]) -> [String] {
        actions.compactMap { if case .send(let text) = $0 { text } else { nil } }
    }

    @Test func negotiatesStartTLSAndSCRAMAgainstTheServerSide() throws {
        var machine = LoginMachine(username: "romeo", password: "pencil", domain: "localhost", mechanism: .scramSHA1, security: .starttls, purpose: .login)
        #expect(self.sent(machine.connected()).first?.contains("to='localhost'") == true)
        let plainFeatures = try self.element("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
        #expect(self.sent(machine.received(plainFeatures)) == ["<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"])
        #expect(machine.received(try self.element("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")) == [.startTLS])
        #expect(machine.tlsEstablished().first == .resetParser)

        let features = try self.element(
            "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>")
        let auth = try #require(self.sent(machine.received(features)).first)
        let authElement = try self.element(auth)
        #expect(authElement[attribute: "mechanism"] == "SCRAM-SHA-1")

        // The real server side answers: the generator's messages must satisfy it.
        var server = SCRAMServer(mechanism: .scramSHA1, channelBinding: .none)
        guard case .fetchCredentials(let username) = server.receivedClientFirst(try #require(Base64.decode(authElement.text))) else {
            Issue.record("server refused client-first")
            return
        }
        #expect(username == "romeo")
        guard case .challenge(let challenge) = server.credentialsFetched(try SCRAMCredentials.derive(password: "pencil", hash: .sha1)) else {
            Issue.record("no challenge")
            return
        }
        let response = try #require(
            self.sent(machine.received(try self.element("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(Base64.encode(challenge))</challenge>"))).first)
        guard case .succeed(let serverFinal, _, _) = server.receivedClientFinal(try #require(Base64.decode(try self.element(response).text))) else {
            Issue.record("server rejected the proof")
            return
        }
        let afterSuccess = machine.received(try self.element("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(Base64.encode(serverFinal))</success>"))
        #expect(afterSuccess.first == .resetParser)

        let bind = self.sent(machine.received(try self.element("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")))
        #expect(bind.first?.contains("<resource>load</resource>") == true)
        #expect(machine.received(try self.element("<iq type='result' id='bind'/>")) == [.ready(initialPresence: "<presence/>")])
        #expect(machine.isFinished)
    }

    @Test func aForgedServerSignatureFailsTheLogin() throws {
        var machine = LoginMachine(username: "romeo", password: "pencil", domain: "localhost", mechanism: .scramSHA1, security: .directTLS, purpose: .login)
        #expect(machine.connected().isEmpty)
        _ = machine.tlsEstablished()
        let auth = try #require(self.sent(machine.received(try self.element(
            "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"))).first)
        var server = SCRAMServer(mechanism: .scramSHA1, channelBinding: .none)
        _ = server.receivedClientFirst(try #require(Base64.decode(try self.element(auth).text)))
        guard case .challenge(let challenge) = server.credentialsFetched(try SCRAMCredentials.derive(password: "pencil", hash: .sha1)) else {
            Issue.record("no challenge")
            return
        }
        _ = machine.received(try self.element("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(Base64.encode(challenge))</challenge>"))
        let forged = Base64.encode(Array("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=".utf8))
        let actions = machine.received(try self.element("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(forged)</success>"))
        guard case .failed(let reason) = actions.first else {
            Issue.record("a forged server signature was accepted")
            return
        }
        #expect(reason.contains("during SASL"))
    }

    @Test func refusesToGoOnWithoutTheRequestedMechanismOrTLS() throws {
        var plain = LoginMachine(username: "a", password: "b", domain: "localhost", mechanism: .plain, security: .starttls, purpose: .login)
        _ = plain.connected()
        guard case .failed(let reason) = plain.received(try self.element("<stream:features/>")).first else {
            Issue.record("went on without STARTTLS")
            return
        }
        #expect(reason.contains("STARTTLS"))

        var scram = LoginMachine(username: "a", password: "b", domain: "localhost", mechanism: .plain, security: .directTLS, purpose: .login)
        _ = scram.connected()
        _ = scram.tlsEstablished()
        let actions = scram.received(try self.element(
            "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"))
        guard case .failed(let missing) = actions.first else {
            Issue.record("used a mechanism the server did not offer")
            return
        }
        #expect(missing.contains("does not offer PLAIN"))
    }
}
