import NIOCore
import Testing
import XMPPCore
@testable import XMPPStream

private func presence(from: String, show: String? = nil) -> Element {
    var element = Element("presence", namespace: XMPPNamespace.client, attributes: [("from", from)])
    if let show { element.append(Element("show", namespace: XMPPNamespace.client, text: show)) }
    return element
}

private let message = Element("message", namespace: XMPPNamespace.client, attributes: [("from", "bob@example/b")])

@Suite("ClientStateIndication")
struct ClientStateIndicationTests {
    @Test("while active everything goes out at once")
    func active() {
        var state = ClientStateIndication()
        #expect(state.outgoing(presence(from: "bob@example/b")) == [presence(from: "bob@example/b")])
        #expect(state.outgoing(message) == [message])
    }

    @Test("while inactive presence waits, latest per sender, and a message lets it out first, in order")
    func inactiveHoldsPresence() {
        var state = ClientStateIndication()
        #expect(state.clientState(active: false).isEmpty)
        #expect(state.outgoing(presence(from: "bob@example/b", show: "away")).isEmpty)
        #expect(state.outgoing(presence(from: "carol@example/c")).isEmpty)
        #expect(state.outgoing(presence(from: "bob@example/b", show: "dnd")).isEmpty)
        #expect(state.heldCount == 2)
        #expect(state.outgoing(message) == [presence(from: "carol@example/c"), presence(from: "bob@example/b", show: "dnd"), message])
        #expect(state.heldCount == 0)
    }

    @Test("becoming active releases what waits")
    func activeReleases() {
        var state = ClientStateIndication()
        _ = state.clientState(active: false)
        _ = state.outgoing(presence(from: "bob@example/b"))
        #expect(state.clientState(active: true) == [presence(from: "bob@example/b")])
        #expect(state.clientState(active: true).isEmpty)
    }
}

@Suite("KeepAlive")
struct KeepAliveTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("a silent client is pinged once after the interval, and times out after the timeout")
    func pingThenTimeout() {
        var keepAlive = KeepAlive(now: self.start)
        #expect(keepAlive.check(now: self.start + .seconds(299), interval: .seconds(300), timeout: .seconds(60)) == .none)
        #expect(keepAlive.check(now: self.start + .seconds(300), interval: .seconds(300), timeout: .seconds(60)) == .ping)
        #expect(keepAlive.check(now: self.start + .seconds(301), interval: .seconds(300), timeout: .seconds(60)) == .none)
        #expect(keepAlive.check(now: self.start + .seconds(360), interval: .seconds(300), timeout: .seconds(60)) == .timedOut)
    }

    @Test("anything heard from the client answers the ping and starts the interval again")
    func heardResets() {
        var keepAlive = KeepAlive(now: self.start)
        #expect(keepAlive.check(now: self.start + .seconds(300), interval: .seconds(300), timeout: .seconds(60)) == .ping)
        keepAlive.heard(now: self.start + .seconds(310))
        #expect(keepAlive.check(now: self.start + .seconds(400), interval: .seconds(300), timeout: .seconds(60)) == .none)
        #expect(keepAlive.check(now: self.start + .seconds(610), interval: .seconds(300), timeout: .seconds(60)) == .ping)
    }

    @Test("an interval of zero never pings")
    func off() {
        var keepAlive = KeepAlive(now: self.start)
        #expect(keepAlive.check(now: self.start + .hours(10), interval: .zero, timeout: .seconds(60)) == .none)
    }
}
