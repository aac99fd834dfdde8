import Testing
@testable import XMPPCore

@Suite("XMLSerializer")
struct XMLSerializerTests {
    private func reparse(_ text: String) throws -> Element? {
        var parser = XMLStreamParser()
        parser.feed(Array(("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + text).utf8))
        _ = try parser.nextEvent()
        if case .element(let element) = try parser.nextEvent() { return element }
        return nil
    }

    @Test("serialising and parsing again gives the same element")
    func roundTrip() throws {
        var message = Element("message", namespace: XMPPNamespace.client, attributes: [("to", "juliet@example.com"), ("id", "a'b\"c<d>&e\n\tf")])
        message.attributes.append(Attribute(name: "lang", namespace: XMLNamespace.xml, value: "de"))
        message.append(Element("body", namespace: XMPPNamespace.client, text: "<hello> & \"goodbye\" 'x' ünï 😀 \r\n"))
        var foreign = Element("payload", namespace: "urn:example:a")
        foreign.attributes.append(Attribute(name: "flag", namespace: "urn:example:attr", value: "1"))
        foreign.append(Element("inner", namespace: "urn:example:a", text: "deep"))
        foreign.append(Element("other", namespace: "urn:example:b"))
        message.append(foreign)
        let serializer = XMLSerializer.stream(contentNamespace: XMPPNamespace.client)
        let text = serializer.string(message)
        #expect(!text.contains("xmlns='jabber:client'"))
        let parsed = try #require(try reparse(text))
        // Line breaks are normalised by every XML parser; everything else survives.
        var expected = message
        expected.children[0] = .element(Element("body", namespace: XMPPNamespace.client, text: "<hello> & \"goodbye\" 'x' ünï 😀 \r\n"))
        #expect(parsed.attributes == expected.attributes)
        #expect(parsed.child(named: "body")?.text == "<hello> & \"goodbye\" 'x' ünï 😀 \r\n")
        #expect(parsed.child(named: "payload") == foreign)
    }

    @Test("stream-namespace elements use the stream prefix")
    func streamPrefix() {
        let features = Element(name: "features", namespace: XMPPNamespace.stream, children: [.element(Element(name: "bind", namespace: XMPPNamespace.bind))])
        let text = XMLSerializer.stream(contentNamespace: XMPPNamespace.client).string(features)
        #expect(text == "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
    }

    @Test("every corpus stanza survives a round trip unchanged")
    func corpusRoundTrip() throws {
        let stanzas = [
            "<message to='a@b' type='chat'><body>x &amp; y</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster' ver='v1'><item jid='a@b' name='A &lt;B&gt;' subscription='both'><group>Friends</group></item></query></iq>",
            "<presence from='a@b/c'><x:y xmlns:x='urn:x' x:z='1'/></presence>",
        ]
        let serializer = XMLSerializer.stream(contentNamespace: XMPPNamespace.client)
        for stanza in stanzas {
            let once = try #require(try reparse(stanza))
            let twice = try #require(try reparse(serializer.string(once)))
            #expect(once == twice)
        }
    }
}
