import Testing
import XMPPCore
import XMPPStream

@Suite("WebSocket framing (RFC 7395)")
struct WebSocketFramingTests {
    let limits = XMLParserLimits()

    @Test("<open/> becomes a stream header for jabber:client with its attributes; <close/> the end of the stream")
    func openAndClose() throws {
        let open = try WebSocketFraming.event(fromFrame: "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0' xml:lang='en'/>", limits: self.limits)
        guard case .streamOpened(let header) = open else {
            Issue.record("expected a stream header, got \(open)")
            return
        }
        #expect(header.name == "stream" && header.namespace == XMPPNamespace.stream && header.contentNamespace == XMPPNamespace.client)
        #expect(header[attribute: "to"] == "example.com" && header[attribute: "version"] == "1.0")
        #expect(header.attributes.contains { $0.name == "lang" && $0.namespace == XMLNamespace.xml && $0.value == "en" })
        #expect(try WebSocketFraming.event(fromFrame: "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", limits: self.limits) == .streamClosed)
    }

    @Test("a stanza frame is one element, with or without an explicit jabber:client")
    func stanza() throws {
        for text in ["<message xmlns='jabber:client' to='a@b'><body>hi</body></message>", "<message to='a@b'><body>hi</body></message>"] {
            guard case .element(let element) = try WebSocketFraming.event(fromFrame: text, limits: self.limits) else {
                Issue.record("no element in \(text)")
                continue
            }
            #expect(element.name == "message" && element.namespace == XMPPNamespace.client && element.child(named: "body")?.text == "hi")
        }
    }

    @Test("two elements, no element, text, broken XML, an unknown framing element and a DTD are refused with the stream error RFC 6120 names")
    func refused() {
        let cases: [(String, StreamErrorCondition)] = [
            ("<message/><message/>", .notWellFormed),
            ("", .notWellFormed),
            ("just text", .notWellFormed),
            ("<message><body>", .notWellFormed),
            ("<frobnicate xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", .notWellFormed),
            ("<!DOCTYPE x><message/>", .restrictedXML),
        ]
        for (frame, condition) in cases {
            #expect(throws: XMLStreamError.self, "frame \(frame)") { _ = try WebSocketFraming.event(fromFrame: frame, limits: self.limits) }
            do {
                _ = try WebSocketFraming.event(fromFrame: frame, limits: self.limits)
            } catch {
                #expect(error.condition == condition, "frame \(frame)")
            }
        }
    }

    @Test("the server's frames: <open/> with the header's attributes, elements with their namespaces declared, stream: prefixes kept, <close/> with see-other-uri")
    func serverFrames() {
        let header = StreamHeader(attributes: [Attribute(name: "from", value: "example.com"), Attribute(name: "id", value: "s1"), Attribute(name: "version", value: "1.0")])
        #expect(WebSocketFraming.openFrame(header) == "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' id='s1' version='1.0'/>")
        let message = Element("message", namespace: XMPPNamespace.client, attributes: [("to", "a@b")], children: [Element("body", namespace: XMPPNamespace.client, text: "x<y")])
        #expect(WebSocketFraming.frame(message) == "<message xmlns='jabber:client' to='a@b'><body>x&lt;y</body></message>")
        let features = Element("features", namespace: XMPPNamespace.stream, children: [Element(name: "bind", namespace: "urn:ietf:params:xml:ns:xmpp-bind")])
        #expect(WebSocketFraming.frame(features) == "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
        #expect(WebSocketFraming.closeFrame() == "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
        #expect(WebSocketFraming.closeFrame(seeOtherURI: "wss://other.example/ws?a=1&b=2") == "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://other.example/ws?a=1&amp;b=2'/>")
    }
}
