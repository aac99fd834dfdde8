import XMPPCore

/// RFC 7395 framing: XMPP over WebSocket carries one whole element per text frame, and the
/// stream's start and end as `<open/>` and `<close/>` in the framing namespace. Translates
/// frames to the stream events a client stream already understands, and back.
public enum WebSocketFraming {
    public static let namespace = "urn:ietf:params:xml:ns:xmpp-framing"
    /// The WebSocket subprotocol (RFC 7395 §3.1).
    public static let subprotocol = "xmpp"

    /// What one text frame from the client says: a stream (re)start, an element, or the end.
    /// A frame that is not exactly one well-formed element is a parse error (§3.3.3).
    public static func event(fromFrame text: String, limits: XMLParserLimits) throws(XMLStreamError) -> XMLStreamEvent {
        var parser = XMLStreamParser(limits: limits)
        // Clients may leave `jabber:client` implicit on stanzas; `stream:` prefixes need a declaration.
        parser.feed(Array("<frame xmlns='\(XMPPNamespace.client)' xmlns:stream='\(XMPPNamespace.stream)'>".utf8))
        parser.feed(Array(text.utf8))
        parser.feed(Array("</frame>".utf8))
        guard case .streamOpened = try parser.nextEvent() else { throw .notWellFormed("the frame could not be read") }
        guard case .element(let element) = try parser.nextEvent() else { throw .notWellFormed("a frame carries one element") }
        guard case .streamClosed = try parser.nextEvent() else { throw .notWellFormed("a frame carries exactly one element") }
        guard element.namespace == Self.namespace else { return .element(element) }
        switch element.name {
        case "open":
            var attributes: [Attribute] = []
            for attribute in element.attributes where attribute.namespace == nil || attribute.namespace == XMLNamespace.xml {
                attributes.append(attribute)
            }
            return .streamOpened(StreamHeader(attributes: attributes, contentNamespace: XMPPNamespace.client, declaredPrefixes: ["stream": XMPPNamespace.stream]))
        case "close":
            return .streamClosed
        default:
            throw .notWellFormed("unknown framing element \(element.name)")
        }
    }

    /// The server's `<open/>` for a stream header (§3.4).
    public static func openFrame(_ header: StreamHeader) -> String {
        var output = "<open xmlns='\(Self.namespace)'"
        for attribute in header.attributes {
            output += attribute.namespace == XMLNamespace.xml ? " xml:" : " "
            output += attribute.name + "='"
            XMLSerializer.escape(attribute.value, attribute: true, into: &output)
            output += "'"
        }
        return output + "/>"
    }

    /// `<close/>`, optionally sending the client elsewhere (§3.6.1 `see-other-uri`).
    public static func closeFrame(seeOtherURI: String? = nil) -> String {
        guard let uri = seeOtherURI else { return "<close xmlns='\(Self.namespace)'/>" }
        var output = "<close xmlns='\(Self.namespace)' see-other-uri='"
        XMLSerializer.escape(uri, attribute: true, into: &output)
        return output + "'/>"
    }

    private static let serializer = XMLSerializer(defaultNamespace: "", prefixes: [XMPPNamespace.stream: "stream"])

    /// An element as a frame: every namespace declared on it, since no stream element
    /// encloses it (§3.3.3); `stream:features` and `stream:error` keep their usual prefix.
    public static func frame(_ element: Element) -> String {
        let text = Self.serializer.string(element)
        guard element.namespace == XMPPNamespace.stream else { return text }
        let tag = "<stream:\(element.name)"
        return tag + " xmlns:stream='\(XMPPNamespace.stream)'" + text.dropFirst(tag.count)
    }
}
