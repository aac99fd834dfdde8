import Testing
@testable import XMPPCore

private let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>"

/// Stanzas in the shapes real clients send: namespaces, prefixes, entities, Unicode, empty elements.
private let corpus: [String] = [
    "<message to='romeo@example.net' from='juliet@example.com/balcony' type='chat' xml:lang='en' id='ktx72v49'><body>Art thou not Romeo, and a Montague?</body><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>",
    "<presence><show>away</show><status>Gone &amp; back &lt;soon&gt; &#x263A; &#9731;</status><priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://gajim.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>",
    "<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony ♥ ünïcødé</resource></bind></iq>",
    "<iq type='get' id='p1' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<message id='x'><x:payload xmlns:x='urn:example:prefixed' x:attr='v'><x:child>text</x:child><plain/></x:payload><body>😀 emoji &#128512;</body></message>",
    "<message><body><![CDATA[<not> & markup]]> and after</body></message>",
    "<presence type='unavailable'/>",
]

private func parseAll(_ chunks: [[UInt8]], limits: XMLParserLimits = XMLParserLimits()) throws(XMLStreamError) -> [XMLStreamEvent] {
    var parser = XMLStreamParser(limits: limits)
    var events: [XMLStreamEvent] = []
    for chunk in chunks {
        parser.feed(chunk)
        while let event = try parser.nextEvent() {
            events.append(event)
        }
    }
    return events
}

private func parse(_ text: String, limits: XMLParserLimits = XMLParserLimits()) throws(XMLStreamError) -> [XMLStreamEvent] {
    try parseAll([Array(text.utf8)], limits: limits)
}

private func streamError(_ text: String, limits: XMLParserLimits = XMLParserLimits()) -> XMLStreamError? {
    do {
        _ = try parse(text, limits: limits)
        return nil
    } catch {
        return error
    }
}

@Suite("XMLStreamParser")
struct XMLStreamParserTests {
    @Test("the stream header carries its attributes and namespaces")
    func streamHeader() throws {
        let events = try parse(header)
        guard case .streamOpened(let opened) = events.first else {
            Issue.record("no header: \(events)")
            return
        }
        #expect(opened.name == "stream")
        #expect(opened.namespace == XMPPNamespace.stream)
        #expect(opened.contentNamespace == "jabber:client")
        #expect(opened[attribute: "to"] == "example.com")
        #expect(opened[attribute: "version"] == "1.0")
        #expect(opened.language == "en")
        #expect(events.count == 1)
    }

    @Test("every stanza fed whole, byte by byte, or in odd chunks gives the same elements")
    func splitAnywhere() throws {
        let document = header + corpus.joined(separator: " \n ") + "</stream:stream>"
        let bytes = Array(document.utf8)
        let whole = try parseAll([bytes])
        #expect(whole.count == corpus.count + 2)
        #expect(whole.last == .streamClosed)
        let byteByByte = try parseAll(bytes.map { [$0] })
        #expect(byteByByte == whole)
        for chunkSize in [2, 3, 7, 13, 64] {
            let chunks = stride(from: 0, to: bytes.count, by: chunkSize).map { Array(bytes[$0..<min($0 + chunkSize, bytes.count)]) }
            #expect(try parseAll(chunks) == whole, "chunk size \(chunkSize)")
        }
    }

    @Test("namespaces, prefixes, entities and CDATA are resolved")
    func contentDecoding() throws {
        let events = try parse(header + corpus[1] + corpus[4] + corpus[5])
        guard case .element(let presence) = events[1], case .element(let message) = events[2], case .element(let cdata) = events[3] else {
            Issue.record("unexpected events \(events)")
            return
        }
        #expect(presence.namespace == "jabber:client")
        #expect(presence.child(named: "status")?.text == "Gone & back <soon> ☺ ☃")
        #expect(presence.child(named: "c")?.namespace == "http://jabber.org/protocol/caps")
        let payload = try #require(message.child(named: "payload"))
        #expect(payload.namespace == "urn:example:prefixed")
        #expect(payload.attributes.first?.namespace == "urn:example:prefixed")
        #expect(payload.child(named: "child")?.namespace == "urn:example:prefixed")
        #expect(payload.child(named: "plain")?.namespace == "jabber:client")
        #expect(message.child(named: "body")?.text == "😀 emoji 😀")
        #expect(cdata.child(named: "body")?.text == "<not> & markup and after")
    }

    @Test("xml:lang is an attribute in the XML namespace")
    func xmlLang() throws {
        let events = try parse(header + corpus[0])
        let message = try #require(events[1].element)
        #expect(message.language == "en")
        #expect(message[attribute: "lang"] == nil)
    }

    @Test("whitespace keep-alives between stanzas are ignored")
    func keepAlives() throws {
        let events = try parse(header + "   \n\t  " + corpus[3] + " \n ")
        #expect(events.count == 2)
    }

    @Test("CR LF in text becomes LF; tabs and newlines in attribute values become spaces")
    func lineEndings() throws {
        let events = try parse(header + "<message a='x\ty\nz' b='&#10;'><body>one\r\ntwo\rthree</body></message>")
        let message = try #require(events[1].element)
        #expect(message.child(named: "body")?.text == "one\ntwo\nthree")
        #expect(message[attribute: "a"] == "x y z")
        #expect(message[attribute: "b"] == "\n")
    }

    @Test("restricted XML is refused", arguments: [
        "<!DOCTYPE stream>",
        "<!-- hello -->",
        "<?php x ?>",
        "<message><!ENTITY x 'y'></message>",
        "<message><body>&custom;</body></message>",
        "<message><body>&lol9;</body></message>",
    ])
    func restricted(_ input: String) {
        #expect(streamError(header + input)?.condition == .restrictedXML)
    }

    @Test("a DTD before the stream header is refused")
    func dtdBeforeHeader() {
        let billionLaughs = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]><stream:stream>"
        #expect(streamError(billionLaughs)?.condition == .restrictedXML)
    }

    @Test("XML 1.1 and encodings other than UTF-8 are refused")
    func declaration() {
        #expect(streamError("<?xml version='1.1'?><stream:stream>")?.condition == .restrictedXML)
        #expect(streamError("<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>")?.condition == .unsupportedEncoding)
        #expect(streamError(header + "<?xml version='1.0'?>")?.condition == .restrictedXML)
    }

    @Test("malformed input is not-well-formed", arguments: [
        "<message><body>x</message>",
        "<message a='1' a='2'/>",
        "<message a=1/>",
        "<message a='<'/>",
        "<message><body>&#0;</body></message>",
        "<message><body>&#xD800;</body></message>",
        "<message><body>&amp</body></message>",
        "text at the stream level",
        "<1message/>",
        "</stream:stream2>",
    ])
    func notWellFormed(_ input: String) {
        #expect(streamError(header + input)?.condition == .notWellFormed)
    }

    @Test("invalid UTF-8, overlong encodings, NUL and control bytes are not-well-formed", arguments: [
        [0xC0, 0xAF] as [UInt8],
        [0xE0, 0x80, 0xAF],
        [0xED, 0xA0, 0x80],
        [0xFF],
        [0x00],
        [0x01],
        [0xEF, 0xBF, 0xBF],
    ])
    func invalidBytes(_ bad: [UInt8]) {
        let input = Array((header + "<message><body>").utf8) + bad + Array("</body></message>".utf8)
        do {
            _ = try parseAll([input])
            Issue.record("accepted invalid bytes \(bad)")
        } catch {
            #expect(error.condition == .notWellFormed)
        }
    }

    @Test("an undeclared prefix is bad-namespace-prefix")
    func undeclaredPrefix() {
        #expect(streamError(header + "<foo:message/>")?.condition == .badNamespacePrefix)
        #expect(streamError("<stream:stream xmlns='jabber:client'>")?.condition == .badNamespacePrefix)
    }

    @Test("limits are policy violations")
    func limits() {
        let small = XMLParserLimits(maxStanzaBytes: 100, maxDepth: 4, maxAttributesPerElement: 3, maxNamespaceDeclarationsPerElement: 2, maxNameBytes: 16, maxAttributeValueBytes: 40, maxHeaderBytes: 300)
        #expect(streamError(header + "<message><body>" + String(repeating: "x", count: 200) + "</body></message>", limits: small)?.condition == .policyViolation)
        #expect(streamError(header + "<a><b><c><d/></c></b></a>", limits: small)?.condition == .policyViolation)
        #expect(streamError(header + "<a w='1' x='2' y='3' z='4'/>", limits: small)?.condition == .policyViolation)
        #expect(streamError(header + "<a xmlns:a='1' xmlns:b='2' xmlns:c='3'/>", limits: small)?.condition == .policyViolation)
        #expect(streamError(header + "<averyveryverylongname/>", limits: small)?.condition == .policyViolation)
        #expect(streamError(header + "<a v='\(String(repeating: "v", count: 50))'/>", limits: small)?.condition == .policyViolation)
        #expect(streamError("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' " + String(repeating: "x", count: 400), limits: small)?.condition == .policyViolation)
        // An unfinished stanza that only grows hits the limit too, before it is complete.
        #expect(streamError(header + "<message><body>" + String(repeating: "y", count: 200), limits: small)?.condition == .policyViolation)
        // The same content within the limits is fine.
        #expect(streamError(header + "<a><b><c/></b></a>", limits: small) == nil)
    }

    @Test("ten thousand nested elements are refused without recursion")
    func deepNesting() {
        let deep = String(repeating: "<a>", count: 10_000)
        #expect(streamError(header + deep)?.condition == .policyViolation)
    }

    @Test("a restart keeps pipelined bytes; a reset drops them")
    func restarts() throws {
        var parser = XMLStreamParser()
        parser.feed(Array((header + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" + header).utf8))
        #expect(try parser.nextEvent() != nil)
        #expect(try parser.nextEvent() != nil)
        parser.restartKeepingBufferedInput()
        guard case .streamOpened = try parser.nextEvent() else {
            Issue.record("the pipelined header was lost")
            return
        }
        parser.feed(Array("<junk/>".utf8))
        parser.reset()
        #expect(try parser.nextEvent() == nil)
    }

    @Test("the stream end is reported and later bytes ignored")
    func streamEnd() throws {
        let events = try parse(header + corpus[6] + "</stream:stream><garbage")
        #expect(events.last == .streamClosed)
        #expect(events.count == 3)
    }
}

@Suite("XMLStreamParser hostile input")
struct XMLStreamParserHostileTests {
    @Test("a second stream header inside the stream is refused at once")
    func nestedStreamHeader() {
        #expect(streamError(header + "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x'>")?.condition == .notWellFormed)
    }

    @Test("unfinished input is reported until it completes")
    func unfinished() throws {
        var parser = XMLStreamParser()
        parser.feed(Array(header.utf8))
        _ = try parser.nextEvent()
        #expect(!parser.hasUnfinishedInput)
        parser.feed(Array("  <mess".utf8))
        #expect(try parser.nextEvent() == nil)
        #expect(parser.hasUnfinishedInput)
        parser.feed(Array("age/>".utf8))
        #expect(try parser.nextEvent() != nil)
        #expect(!parser.hasUnfinishedInput)
    }

    @Test("a one-megabyte attribute value is a policy violation with the default limits")
    func hugeAttribute() {
        #expect(streamError(header + "<message a='" + String(repeating: "x", count: 1_048_576) + "'/>")?.condition == .policyViolation)
    }
}

extension XMLStreamEvent {
    /// The element of `.element`, or nil for a stream header or close.
    fileprivate var element: Element? {
        if case .element(let element) = self { return element }
        return nil
    }
}
