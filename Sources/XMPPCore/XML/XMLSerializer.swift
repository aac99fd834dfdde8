/// Writes elements as XML text with minimal namespace declarations.
///
/// The serializer never copies text through unescaped, so user-supplied content read from
/// one stream is always re-serialised, never reflected byte for byte into another.
public struct XMLSerializer: Sendable {
    /// The default namespace in force where the element is written (the stream's content
    /// namespace for a stanza).
    public var defaultNamespace: String
    /// Namespace URI to prefix, for prefixes declared by an enclosing element (the stream).
    public var prefixes: [String: String]

    public init(defaultNamespace: String, prefixes: [String: String] = [:]) {
        self.defaultNamespace = defaultNamespace
        self.prefixes = prefixes
    }

    /// The serializer for depth-1 elements of a stream with the given content namespace.
    public static func stream(contentNamespace: String) -> XMLSerializer {
        XMLSerializer(defaultNamespace: contentNamespace, prefixes: [XMPPNamespace.stream: "stream"])
    }

    /// One shared serializer for client streams: a copy shares its tables instead of building
    /// them again for every connection.
    public static let clientStream = XMLSerializer.stream(contentNamespace: XMPPNamespace.client)

    public func string(_ element: Element) -> String {
        var output = ""
        output.reserveCapacity(256)
        self.write(element, into: &output)
        return output
    }

    public func write(_ element: Element, into output: inout String) {
        Self.write(element, defaultNamespace: self.defaultNamespace, prefixes: self.prefixes, memo: SerializedChildrenMemo.current, into: &output)
    }

    /// `memo` is used for the element's children (top level only): see `SerializedChildrenMemo`.
    private static func write(_ element: Element, defaultNamespace: String, prefixes: [String: String], memo: SerializedChildrenMemo? = nil, into output: inout String) {
        var elementDefault = defaultNamespace
        var qualifiedName = element.name
        var declaration: String?
        if element.namespace != defaultNamespace {
            if let prefix = prefixes[element.namespace] {
                qualifiedName = prefix + ":" + element.name
            } else {
                elementDefault = element.namespace
                declaration = element.namespace
            }
        }
        output += "<"
        output += qualifiedName
        if let declaration {
            output += " xmlns='"
            self.escape(declaration, attribute: true, into: &output)
            output += "'"
        }
        var generated = 0
        for attribute in element.attributes {
            output += " "
            if let namespace = attribute.namespace {
                if namespace == XMLNamespace.xml {
                    output += "xml:"
                } else if let prefix = prefixes[namespace] {
                    output += prefix + ":"
                } else {
                    let prefix = "ns\(generated)"
                    generated += 1
                    output += "xmlns:\(prefix)='"
                    self.escape(namespace, attribute: true, into: &output)
                    output += "' \(prefix):"
                }
            }
            output += attribute.name
            output += "='"
            self.escape(attribute.value, attribute: true, into: &output)
            output += "'"
        }
        if element.children.isEmpty {
            output += "/>"
            return
        }
        output += ">"
        if let memo {
            memo.write(element.children, defaultNamespace: elementDefault, prefixes: prefixes, into: &output) { output in
                self.writeChildren(element.children, defaultNamespace: elementDefault, prefixes: prefixes, into: &output)
            }
        } else {
            self.writeChildren(element.children, defaultNamespace: elementDefault, prefixes: prefixes, into: &output)
        }
        output += "</"
        output += qualifiedName
        output += ">"
    }

    private static func writeChildren(_ children: [Node], defaultNamespace: String, prefixes: [String: String], into output: inout String) {
        for child in children {
            switch child {
            case .element(let child):
                self.write(child, defaultNamespace: defaultNamespace, prefixes: prefixes, into: &output)
            case .text(let text):
                self.escape(text, attribute: false, into: &output)
            }
        }
    }

    public static func escape(_ text: String, attribute: Bool, into output: inout String) {
        var plainRun = true
        for byte in text.utf8 where byte == UInt8(ascii: "&") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">")
            || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") || byte == 0x0D || (attribute && (byte == 0x09 || byte == 0x0A))
        {
            plainRun = false
            break
        }
        if plainRun {
            output += text
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "'" where attribute: output += "&apos;"
            case "\"" where attribute: output += "&quot;"
            case "\r": output += "&#13;"
            case "\n" where attribute: output += "&#10;"
            case "\t" where attribute: output += "&#9;"
            default: output.unicodeScalars.append(scalar)
            }
        }
    }
}

extension Element {
    /// This element as XML, declaring its own namespace.
    public var xmlString: String {
        XMLSerializer(defaultNamespace: "").string(self)
    }
}

extension StreamHeader {
    /// The opening tag (with XML declaration) that starts a stream.
    public func openingTag(includeDeclaration: Bool = true) -> String {
        var output = includeDeclaration ? "<?xml version='1.0'?>" : ""
        output += "<stream:stream xmlns='"
        XMLSerializer.escape(self.contentNamespace ?? XMPPNamespace.client, attribute: true, into: &output)
        output += "' xmlns:stream='\(XMPPNamespace.stream)'"
        for (prefix, uri) in self.declaredPrefixes.sorted(by: { $0.key < $1.key }) where prefix != "stream" {
            output += " xmlns:\(prefix)='"
            XMLSerializer.escape(uri, attribute: true, into: &output)
            output += "'"
        }
        for attribute in self.attributes {
            output += attribute.namespace == XMLNamespace.xml ? " xml:" : " "
            output += attribute.name + "='"
            XMLSerializer.escape(attribute.value, attribute: true, into: &output)
            output += "'"
        }
        output += ">"
        return output
    }

    public static let closingTag = "</stream:stream>"
}
