/// An XML element of an XMPP stream: a stanza, a nonza, or one of their children.
///
/// Names are stored unprefixed with their resolved namespace URI; prefixes are a
/// serialisation detail and are chosen again by the serializer, so an element read from
/// one stream can be written to another without carrying the sender's prefixes along.
public struct Element: Sendable, Hashable {
    public var name: String
    public var namespace: String
    public var attributes: [Attribute]
    public var children: [Node]

    public init(name: String, namespace: String, attributes: [Attribute] = [], children: [Node] = []) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
        self.children = children
    }

    /// Builds an element from unqualified attribute pairs, the common case in stanzas.
    public init(_ name: String, namespace: String, attributes: [(String, String)] = [], children: [Element] = [], text: String? = nil) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes.map { Attribute(name: $0.0, value: $0.1) }
        self.children = children.map(Node.element)
        if let text {
            self.children.append(.text(text))
        }
    }
}

/// One attribute; `namespace` is nil for unqualified attributes (nearly all of them in XMPP).
public struct Attribute: Sendable, Hashable {
    public var name: String
    public var namespace: String?
    public var value: String

    public init(name: String, namespace: String? = nil, value: String) {
        self.name = name
        self.namespace = namespace
        self.value = value
    }
}

/// A child of an element: another element or character data.
public enum Node: Sendable, Hashable {
    case element(Element)
    case text(String)
}

// MARK: - Access

extension Element {
    /// The value of an unqualified attribute.
    public subscript(attribute name: String) -> String? {
        get { self.attributes.first { $0.name == name && $0.namespace == nil }?.value }
        set {
            if let index = self.attributes.firstIndex(where: { $0.name == name && $0.namespace == nil }) {
                if let newValue {
                    self.attributes[index].value = newValue
                } else {
                    self.attributes.remove(at: index)
                }
            } else if let newValue {
                self.attributes.append(Attribute(name: name, value: newValue))
            }
        }
    }

    /// `xml:lang`, which RFC 6120 §8.1.5 lets stanzas carry.
    public var language: String? {
        self.attributes.first { $0.name == "lang" && $0.namespace == XMLNamespace.xml }?.value
    }

    public var elements: [Element] {
        self.children.compactMap {
            if case .element(let element) = $0 { return element }
            return nil
        }
    }

    public func child(named name: String, namespace: String? = nil) -> Element? {
        for case .element(let element) in self.children
        where element.name == name && (namespace == nil || element.namespace == namespace) {
            return element
        }
        return nil
    }

    public func children(named name: String, namespace: String? = nil) -> [Element] {
        self.elements.filter { $0.name == name && (namespace == nil || $0.namespace == namespace) }
    }

    /// The concatenated character data directly inside this element.
    public var text: String {
        var result = ""
        for case .text(let text) in self.children {
            result += text
        }
        return result
    }

    public mutating func append(_ element: Element) {
        self.children.append(.element(element))
    }

    public mutating func append(contentsOf elements: [Element]) {
        self.children.append(contentsOf: elements.map(Node.element))
    }

    public mutating func append(text: String) {
        self.children.append(.text(text))
    }

    /// This element with `old` replaced by `new` on itself and every descendant in `old`:
    /// stanzas travel as `jabber:server` between servers and `jabber:client` to clients.
    public func relabeling(namespace old: String, to new: String) -> Element {
        var copy = self
        if copy.namespace == old { copy.namespace = new }
        copy.children = self.children.map { child in
            if case .element(let element) = child, element.namespace == old {
                return .element(element.relabeling(namespace: old, to: new))
            }
            return child
        }
        return copy
    }

    public mutating func removeChildren(where predicate: (Element) -> Bool) {
        // Checked first: removing nothing would still copy children shared with other copies
        // of the stanza (a broadcast's), which its serialization relies on sharing.
        let matches = self.children.contains {
            if case .element(let element) = $0 { return predicate(element) }
            return false
        }
        guard matches else { return }
        self.children.removeAll {
            if case .element(let element) = $0 { return predicate(element) }
            return false
        }
    }
}

/// Namespaces with a fixed meaning in XML itself.
public enum XMLNamespace {
    public static let xml = "http://www.w3.org/XML/1998/namespace"
    public static let xmlns = "http://www.w3.org/2000/xmlns/"
}
