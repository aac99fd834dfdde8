import XMPPCore

extension Element {
    /// Parses one element from XML text, as stored by modules (default namespace `jabber:client`).
    public static func parse(_ text: String, defaultNamespace: String = XMPPNamespace.client) -> Element? {
        var parser = XMLStreamParser(limits: XMLParserLimits(maxStanzaBytes: 16 * 1024 * 1024, maxDepth: 128, maxAttributeValueBytes: 16 * 1024 * 1024))
        parser.feed(Array("<s xmlns='\(defaultNamespace)'>".utf8))
        parser.feed(Array(text.utf8))
        guard case .streamOpened = try? parser.nextEvent(), case .element(let element) = try? parser.nextEvent() else { return nil }
        return element
    }

    /// This element as text for storage, in the `jabber:client` default namespace.
    public var storedText: String {
        XMLSerializer(defaultNamespace: XMPPNamespace.client).string(self)
    }
}
