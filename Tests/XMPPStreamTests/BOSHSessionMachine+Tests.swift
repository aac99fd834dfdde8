import NIOCore
import Testing
import XMPPCore
import XMPPStream

@Suite("BOSH sessions (XEP-0124, XEP-0206) without I/O")
struct BOSHSessionMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    let limits = XMLParserLimits()

    func body(_ text: String) throws -> BOSHBody {
        try BOSHBody.parse(Array(text.utf8), limits: self.limits)
    }

    func request(rid: UInt64, _ inner: String = "", extra: String = "") throws -> BOSHBody {
        try self.body("<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' sid='s' rid='\(rid)'\(extra)>\(inner)</body>")
    }

    /// A session created with rid 100 and its creation response already sent.
    func session(hold: Int = 1, ack: Bool = false, limits: BOSHSessionMachine.Limits = .init()) throws -> BOSHSessionMachine {
        let creation = try self.body(
            "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='100' to='example.com' wait='30' hold='\(hold)' xmpp:version='1.0'\(ack ? " ack='1'" : "")/>")
        guard case .success(var (machine, _)) = BOSHSessionMachine.create(creation, request: 0, sid: "s", limits: limits, secure: true, now: self.start) else {
            throw BOSHTerminalCondition.undefinedCondition
        }
        let answer = machine.output([Element(name: "features", namespace: XMPPNamespace.stream)], now: self.start)
        #expect(answer.count == 1)
        return machine
    }

    func responses(_ actions: [BOSHSessionMachine.Action]) -> [BOSHSessionMachine.RequestID: BOSHBody] {
        var answered: [BOSHSessionMachine.RequestID: BOSHBody] = [:]
        for case .respond(let id, let body) in actions { answered[id] = body }
        return answered
    }

    func delivered(_ actions: [BOSHSessionMachine.Action]) -> [XMLStreamEvent] {
        actions.compactMap { if case .deliver(let event) = $0 { event } else { nil } }
    }

    func message(_ id: String) -> Element {
        Element(name: "message", namespace: XMPPNamespace.client, attributes: [Attribute(name: "id", value: id)])
    }

    @Test("a creation request opens the stream; the first output answers it with the session's attributes")
    func creation() throws {
        let creation = try self.body(
            "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='7' to='example.com' wait='600' hold='3' xml:lang='en' xmpp:version='1.0' ack='1'/>")
        guard case .success(let (created, actions)) = BOSHSessionMachine.create(creation, request: 0, sid: "abc", limits: .init(), secure: true, now: self.start) else {
            Issue.record("no session")
            return
        }
        var machine = created
        guard case .streamOpened(let header) = self.delivered(actions).first else {
            Issue.record("the stream did not open: \(actions)")
            return
        }
        #expect(header[attribute: "to"] == "example.com" && header[attribute: "version"] == "1.0")
        machine.streamHeaderSent(StreamHeader(
            name: "stream", namespace: XMPPNamespace.stream,
            attributes: [Attribute(name: "from", value: "example.com"), Attribute(name: "id", value: "stream-1")],
            contentNamespace: XMPPNamespace.client, declaredPrefixes: [:]))
        let answer = self.responses(machine.output([Element(name: "features", namespace: XMPPNamespace.stream)], now: self.start))
        let body = try #require(answer[0])
        #expect(body["sid"] == "abc" && body["from"] == "example.com" && body["authid"] == "stream-1")
        // The server's limits win: wait at most 60, hold at most 1, requests one more than hold.
        #expect(body["wait"] == "60" && body["hold"] == "1" && body["requests"] == "2" && body["ack"] == "7")
        #expect(body.serialized().contains("xmpp:version='1.0'") && body.serialized().contains("<stream:features/>"))
    }

    @Test("a creation request without rid, or with a sid, or without to, starts nothing")
    func badCreation() throws {
        for (text, condition) in [
            ("<body xmlns='http://jabber.org/protocol/httpbind' to='example.com'/>", BOSHTerminalCondition.badRequest),
            ("<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='guessed' to='example.com'/>", .badRequest),
            ("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'/>", .improperAddressing),
        ] {
            guard case .failure(let failure) = BOSHSessionMachine.create(try self.body(text), request: 0, sid: "s", limits: .init(), secure: true, now: self.start) else {
                Issue.record("a session from \(text)")
                continue
            }
            #expect(failure == condition)
        }
    }

    @Test("stanzas go to the stream in rid order however the requests arrive")
    func inOrder() throws {
        var machine = try self.session()
        let later = machine.request(try self.request(rid: 102, "<message xmlns='jabber:client' id='second'/>"), id: 2, now: self.start)
        #expect(self.delivered(later).isEmpty)
        let earlier = machine.request(try self.request(rid: 101, "<message xmlns='jabber:client' id='first'/>"), id: 1, now: self.start)
        let ids = self.delivered(earlier).compactMap { if case .element(let element) = $0 { element[attribute: "id"] } else { nil } }
        #expect(ids == ["first", "second"])
        // Two held with hold 1: the older goes back at once, the newer waits for output.
        #expect(Array(self.responses(earlier).keys) == [1])
        let output = self.responses(machine.output([self.message("reply")], now: self.start))
        #expect(output[2]?.payload.first?[attribute: "id"] == "reply")
    }

    @Test("output waits for a request; a held request is answered empty after wait")
    func waitAndOutput() throws {
        var machine = try self.session()
        #expect(machine.output([self.message("queued")], now: self.start).isEmpty)
        let taken = self.responses(machine.request(try self.request(rid: 101), id: 1, now: self.start))
        #expect(taken[1]?.payload.first?[attribute: "id"] == "queued")
        _ = machine.request(try self.request(rid: 102), id: 2, now: self.start)
        #expect(machine.tick(now: self.start + .seconds(29)).isEmpty)
        let timedOut = self.responses(machine.tick(now: self.start + .seconds(30)))
        #expect(timedOut[2] == BOSHBody())
    }

    @Test("a rid beyond the window, an unknown old rid, or no rid end the session with the right condition")
    func ridErrors() throws {
        var beyond = try self.session()
        let actions = beyond.request(try self.request(rid: 105), id: 1, now: self.start)
        #expect(self.responses(actions)[1]?["condition"] == "item-not-found" && actions.last == .ended && beyond.isEnded)

        var old = try self.session()
        let stale = old.request(try self.request(rid: 50), id: 1, now: self.start)
        #expect(self.responses(stale)[1]?["condition"] == "item-not-found" && old.isEnded)

        var missing = try self.session()
        let noRID = missing.request(try self.body("<body xmlns='http://jabber.org/protocol/httpbind' sid='s'/>"), id: 1, now: self.start)
        #expect(self.responses(noRID)[1]?["condition"] == "bad-request")
    }

    @Test("a repeated request gets the response it lost again")
    func retransmission() throws {
        var machine = try self.session()
        _ = machine.request(try self.request(rid: 101), id: 1, now: self.start)
        let first = self.responses(machine.output([self.message("once")], now: self.start))[1]
        let again = self.responses(machine.request(try self.request(rid: 101), id: 2, now: self.start))
        #expect(first != nil && again[2] == first)
        #expect(!machine.isEnded)
    }

    @Test("more requests outstanding than allowed is overactivity (policy-violation); one at a time is not")
    func overactivity() throws {
        var steady = try self.session()
        for rid in UInt64(101)...110 {
            _ = steady.request(try self.request(rid: rid), id: rid, now: self.start)
        }
        #expect(!steady.isEnded)

        var racing = try self.session()
        _ = racing.request(try self.request(rid: 101), id: 1, now: self.start)
        _ = racing.request(try self.request(rid: 103), id: 3, now: self.start)
        #expect(!racing.isEnded)
        // 101 held, 103 waiting for 102, and 102: three at once where two are allowed.
        let violation = self.responses(racing.request(try self.request(rid: 102), id: 2, now: self.start))
        #expect(racing.isEnded && Set(violation.keys) == [1, 2, 3] && violation.values.allSatisfy { $0["condition"] == "policy-violation" })
    }

    @Test("a polling session (hold 0) may not poll faster than polling")
    func pollingTooFast() throws {
        var limits = BOSHSessionMachine.Limits()
        limits.polling = .seconds(2)
        var machine = try self.session(hold: 0, limits: limits)
        _ = machine.request(try self.request(rid: 101), id: 1, now: self.start + .seconds(3))
        let tooSoon = machine.request(try self.request(rid: 102), id: 2, now: self.start + .seconds(4))
        #expect(self.responses(tooSoon)[2]?["condition"] == "policy-violation" && machine.isEnded)
    }

    @Test("restart opens the stream again; terminate delivers its stanzas then the end of the stream")
    func restartAndTerminate() throws {
        var machine = try self.session()
        let restart = machine.request(try self.request(rid: 101, extra: " xmpp:restart='true'"), id: 1, now: self.start)
        guard case .streamOpened(let header) = self.delivered(restart).first else {
            Issue.record("no restart: \(restart)")
            return
        }
        #expect(header[attribute: "to"] == "example.com")
        let terminate = machine.request(
            try self.request(rid: 102, "<presence xmlns='jabber:client' type='unavailable'/>", extra: " type='terminate'"), id: 2, now: self.start)
        let events = self.delivered(terminate)
        #expect(events.count == 2 && events.last == .streamClosed)
        let ended = machine.streamEnded(error: nil, now: self.start)
        #expect(self.responses(ended)[2]?["type"] == "terminate" && ended.last == .ended && machine.isEnded)
    }

    @Test("a stream error ends the session as remote-stream-error with the error inside")
    func streamError() throws {
        var machine = try self.session()
        _ = machine.request(try self.request(rid: 101), id: 1, now: self.start)
        let error = StreamError(.policyViolation).element
        let answer = self.responses(machine.streamEnded(error: error, now: self.start))[1]
        #expect(answer?["condition"] == "remote-stream-error" && answer?.payload.last?.name == "error")
        #expect(answer?.serialized().contains("<stream:error>") == true)
    }

    @Test("a stream that ends while nothing is held says so to the next request")
    func farewellToNextRequest() throws {
        var machine = try self.session()
        #expect(machine.streamEnded(error: StreamError(.systemShutdown).element, now: self.start).isEmpty)
        let next = machine.request(try self.request(rid: 101), id: 1, now: self.start)
        #expect(self.responses(next)[1]?["condition"] == "remote-stream-error" && next.last == .ended)
    }

    @Test("a session with no request for inactivity ends; a pause stretches that")
    func inactivity() throws {
        var machine = try self.session()
        #expect(machine.tick(now: self.start + .seconds(59)).isEmpty)
        #expect(machine.tick(now: self.start + .seconds(60)) == [.ended])

        var paused = try self.session()
        let pause = paused.request(try self.request(rid: 101, extra: " pause='100'"), id: 1, now: self.start)
        #expect(self.responses(pause)[1] != nil)
        #expect(paused.tick(now: self.start + .seconds(99)).isEmpty)
        #expect(paused.tick(now: self.start + .seconds(100)) == [.ended])
    }

    @Test("acknowledgements: a response to an older request names the highest one taken")
    func acknowledgements() throws {
        var machine = try self.session(ack: true)
        _ = machine.request(try self.request(rid: 101), id: 1, now: self.start)
        let answers = self.responses(machine.request(try self.request(rid: 102), id: 2, now: self.start))
        #expect(answers[1]?["ack"] == "102")
        let own = self.responses(machine.output([self.message("x")], now: self.start))
        #expect(own[2]?["ack"] == nil)
    }

    @Test("bodies: stanzas without a namespace become jabber:client; other roots are refused")
    func parsing() throws {
        let body = try self.body("<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='s'><message to='a@b'><body>hi</body></message></body>")
        #expect(body.payload.first?.namespace == XMPPNamespace.client && body.payload.first?.child(named: "body", namespace: XMPPNamespace.client)?.text == "hi")
        for bad in ["<body rid='1'/>", "<stream xmlns='http://jabber.org/protocol/httpbind'/>", "<body xmlns='http://jabber.org/protocol/httpbind'/><body xmlns='http://jabber.org/protocol/httpbind'/>", "<body xmlns='http://jabber.org/protocol/httpbind'>", "not xml"] {
            #expect(throws: XMLStreamError.self) { try self.body(bad) }
        }
    }
}
