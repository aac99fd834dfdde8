import Testing
import XMPPCore
@testable import XMPPServerModules

private func jid(_ text: String) -> JID { try! JID(text) }

@Suite("PrivacyList matcher (XEP-0016)")
struct PrivacyListTests {
    @Test("JID items match by the four forms of XEP-0016 §2.1", arguments: [
        ("romeo@example.net/orchard", "romeo@example.net/orchard", true),
        ("romeo@example.net/orchard", "romeo@example.net/garden", false),
        ("romeo@example.net", "romeo@example.net/anything", true),
        ("romeo@example.net", "juliet@example.net/anything", false),
        ("example.net/orchard", "romeo@example.net/orchard", true),
        ("example.net/orchard", "romeo@example.net/garden", false),
        ("example.net", "anyone@example.net/x", true),
        ("example.net", "example.net", true),
        ("example.net", "anyone@example.org", false),
    ])
    func jidMatching(_ pattern: String, _ peer: String, _ matches: Bool) {
        #expect(PrivacyList.matches(.jid(jid(pattern)), PrivacyList.Peer(jid: jid(peer))) == matches)
    }

    @Test("the first matching item by order decides, per stanza class")
    func ordering() {
        let list = PrivacyList(name: "work", items: [
            .init(match: .everyone, action: .deny, order: 30),
            .init(match: .group("Friends"), action: .allow, order: 10),
            .init(match: .subscription("none"), action: .deny, order: 20, classes: [.message]),
            .init(match: .jid(jid("boss@example.com")), action: .deny, order: 5, classes: [.presenceOut]),
        ])
        let friend = PrivacyList.Peer(jid: jid("ann@example.com"), groups: ["Friends"], subscription: "both")
        let stranger = PrivacyList.Peer(jid: jid("eve@example.org"), subscription: "none")
        let boss = PrivacyList.Peer(jid: jid("boss@example.com/desk"), groups: ["Friends"], subscription: "both")
        #expect(list.decision(for: friend, .message) == .allow)
        #expect(list.decision(for: stranger, .message) == .deny)
        #expect(list.decision(for: stranger, .iq) == .deny)
        #expect(list.decision(for: boss, .presenceOut) == .deny)
        #expect(list.decision(for: boss, .presenceIn) == .allow)
        #expect(PrivacyList(name: "empty", items: []).decision(for: stranger, .message) == nil)
        #expect(list.needsRoster)
    }

    @Test("lists round-trip through XML and bad items are refused")
    func xml() throws {
        let list = PrivacyList(name: "l", items: [
            .init(match: .jid(jid("a@b")), action: .deny, order: 1, classes: [.message, .presenceIn]),
            .init(match: .subscription("from"), action: .allow, order: 2),
            .init(match: .everyone, action: .deny, order: 3, classes: [.iq]),
        ])
        #expect(try PrivacyList(element: list.element(namespace: "jabber:iq:privacy")) == list)
        let duplicateOrder = Element("list", namespace: "jabber:iq:privacy", attributes: [("name", "x")], children: [
            Element("item", namespace: "jabber:iq:privacy", attributes: [("action", "deny"), ("order", "1")]),
            Element("item", namespace: "jabber:iq:privacy", attributes: [("action", "allow"), ("order", "1")]),
        ])
        #expect(throws: PrivacyList.ParseError.self) { try PrivacyList(element: duplicateOrder) }
        let badType = Element("list", namespace: "jabber:iq:privacy", attributes: [("name", "x")], children: [
            Element("item", namespace: "jabber:iq:privacy", attributes: [("type", "color"), ("value", "red"), ("action", "deny"), ("order", "1")])
        ])
        #expect(throws: PrivacyList.ParseError.self) { try PrivacyList(element: badType) }
    }
}
