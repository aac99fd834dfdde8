/// The three stanza kinds of RFC 6120 §8.
public enum StanzaKind: String, Sendable, Hashable {
    case message, presence, iq
}

extension Element {
    /// The stanza kind, when this element is a stanza of the `jabber:client` or
    /// `jabber:server` namespace.
    public var stanzaKind: StanzaKind? {
        guard self.namespace == XMPPNamespace.client || self.namespace == XMPPNamespace.server else { return nil }
        return StanzaKind(rawValue: self.name)
    }

    public var stanzaType: String? { self[attribute: "type"] }
    public var id: String? { self[attribute: "id"] }

    public var to: JID? {
        get { self[attribute: "to"].flatMap { try? JID($0) } }
        set { self[attribute: "to"] = newValue?.description }
    }

    public var from: JID? {
        get { self[attribute: "from"].flatMap { try? JID($0) } }
        set { self[attribute: "from"] = newValue?.description }
    }

    /// True for a stanza of type error, which must never be answered with another error
    /// (RFC 6120 §8.3.1).
    public var isErrorStanza: Bool { self.stanzaType == "error" }

    /// The error reply to this stanza: addresses swapped, type error, the error element
    /// appended; the original payload is left out so no user data is reflected.
    public func errorReply(_ error: StanzaError) -> Element {
        var reply = Element(name: self.name, namespace: self.namespace)
        if let id = self.id { reply[attribute: "id"] = id }
        if let from = self[attribute: "from"] { reply[attribute: "to"] = from }
        if let to = self[attribute: "to"] { reply[attribute: "from"] = to }
        reply[attribute: "type"] = "error"
        reply.append(error.element(namespace: self.namespace))
        return reply
    }

    /// An empty `type='result'` reply to an IQ, with an optional payload.
    public func iqResult(payload: Element? = nil) -> Element {
        var reply = Element(name: "iq", namespace: self.namespace)
        if let id = self.id { reply[attribute: "id"] = id }
        if let from = self[attribute: "from"] { reply[attribute: "to"] = from }
        if let to = self[attribute: "to"] { reply[attribute: "from"] = to }
        reply[attribute: "type"] = "result"
        if let payload { reply.append(payload) }
        return reply
    }

    /// The single payload child of an IQ get or set (RFC 6120 §8.2.3).
    public var iqPayload: Element? {
        let elements = self.elements
        return elements.count == 1 ? elements[0] : nil
    }
}
