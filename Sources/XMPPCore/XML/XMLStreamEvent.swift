/// What the stream parser produces: the opening tag of a stream, each complete depth-1
/// element (stanzas and nonzas), and the closing tag.
public enum XMLStreamEvent: Sendable, Hashable {
    case streamOpened(StreamHeader)
    case element(Element)
    case streamClosed
}

/// The `<stream:stream>` opening tag (RFC 6120 §4.7) as received.
public struct StreamHeader: Sendable, Hashable {
    public var name: String
    public var namespace: String
    public var attributes: [Attribute]
    /// The default namespace declared on the header: `jabber:client` or `jabber:server`.
    public var contentNamespace: String?
    /// The prefixes declared on the header, prefix to URI.
    public var declaredPrefixes: [String: String]

    public init(
        name: String = "stream",
        namespace: String = XMPPNamespace.stream,
        attributes: [Attribute] = [],
        contentNamespace: String? = nil,
        declaredPrefixes: [String: String] = [:]
    ) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
        self.contentNamespace = contentNamespace
        self.declaredPrefixes = declaredPrefixes
    }

    public subscript(attribute name: String) -> String? {
        self.attributes.first { $0.name == name && $0.namespace == nil }?.value
    }

    public var language: String? {
        self.attributes.first { $0.name == "lang" && $0.namespace == XMLNamespace.xml }?.value
    }
}

/// Limits the parser enforces; each exceeded limit is a `policy-violation` stream error.
public struct XMLParserLimits: Sendable, Hashable {
    /// Bytes of one depth-1 element, from its `<` to the end of its closing tag.
    public var maxStanzaBytes: Int
    /// Element nesting, the stream element counting as depth 1.
    public var maxDepth: Int
    public var maxAttributesPerElement: Int
    public var maxNamespaceDeclarationsPerElement: Int
    public var maxNameBytes: Int
    public var maxAttributeValueBytes: Int
    /// Bytes of the stream header, XML declaration included.
    public var maxHeaderBytes: Int

    public init(
        maxStanzaBytes: Int = 262_144,
        maxDepth: Int = 48,
        maxAttributesPerElement: Int = 64,
        maxNamespaceDeclarationsPerElement: Int = 16,
        maxNameBytes: Int = 256,
        maxAttributeValueBytes: Int = 65_536,
        maxHeaderBytes: Int = 4096
    ) {
        self.maxStanzaBytes = maxStanzaBytes
        self.maxDepth = maxDepth
        self.maxAttributesPerElement = maxAttributesPerElement
        self.maxNamespaceDeclarationsPerElement = maxNamespaceDeclarationsPerElement
        self.maxNameBytes = maxNameBytes
        self.maxAttributeValueBytes = maxAttributeValueBytes
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// Small limits for a stream that has not authenticated yet.
    public static let preAuthentication = XMLParserLimits(maxStanzaBytes: 10_240, maxDepth: 16, maxAttributesPerElement: 16)
}
