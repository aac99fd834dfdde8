import Testing
@testable import XMPPCore

@Suite("Serialized children memo")
struct SerializedChildrenMemoTests {
    let serializer = XMLSerializer.clientStream

    func message(to: String) -> Element {
        Element("message", namespace: XMPPNamespace.client, attributes: [("from", "room@muc/nick"), ("to", to), ("type", "groupchat")], children: [
            Element("body", namespace: XMPPNamespace.client, text: "a <b> & c"), Element("occupant-id", namespace: "urn:xmpp:occupant-id:0", attributes: [("id", "x")]),
        ])
    }

    @Test("copies of one stanza for many recipients come out exactly as serialized one by one")
    func broadcastCopies() {
        let template = self.message(to: "placeholder")
        for index in 0..<20 {
            var copy = template
            copy[attribute: "to"] = "user\(index)@example.org/r"
            let expected = "<message from='room@muc/nick' to='user\(index)@example.org/r' type='groupchat'><body>a &lt;b&gt; &amp; c</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='x'/></message>"
            #expect(self.serializer.string(copy) == expected)
        }
    }

    @Test("a copy whose children changed is serialized anew, never from the memo")
    func changedChildren() {
        let template = self.message(to: "a@b")
        _ = self.serializer.string(template)
        _ = self.serializer.string(template)
        var changed = template
        changed.children.removeFirst()
        #expect(self.serializer.string(changed) == "<message from='room@muc/nick' to='a@b' type='groupchat'><occupant-id xmlns='urn:xmpp:occupant-id:0' id='x'/></message>")
        var appended = template
        appended.append(Element("delay", namespace: "urn:xmpp:delay", attributes: [("stamp", "2026-01-01T00:00:00Z")]))
        #expect(self.serializer.string(appended).hasSuffix("<delay xmlns='urn:xmpp:delay' stamp='2026-01-01T00:00:00Z'/></message>"))
        #expect(self.serializer.string(template).contains("<body>a &lt;b&gt; &amp; c</body>"))
    }

    @Test("the same children under another default namespace are written for that namespace")
    func otherNamespace() {
        let template = self.message(to: "a@b")
        _ = self.serializer.string(template)
        _ = self.serializer.string(template)
        let server = XMLSerializer.stream(contentNamespace: "jabber:server")
        #expect(server.string(template).hasPrefix("<message xmlns='jabber:client'"))
        #expect(server.string(template).contains("<body>a &lt;b&gt; &amp; c</body>"))
        var elsewhere = Element(name: "item", namespace: "urn:example")
        elsewhere.children = template.children
        #expect(self.serializer.string(elsewhere).contains("<body xmlns='jabber:client'>"))
    }

    @Test("removing children that are not there leaves the children shared")
    func removeNothingKeepsSharing() {
        let template = self.message(to: "a@b")
        var copy = template
        copy.removeChildren { $0.name == "stanza-id" }
        let same = template.children.withUnsafeBufferPointer { $0.baseAddress } == copy.children.withUnsafeBufferPointer { $0.baseAddress }
        #expect(same)
        copy.removeChildren { $0.name == "body" }
        #expect(copy.children.count == 1 && template.children.count == 2)
    }
}
