/// An incremental parser for the restricted XML of RFC 6120 §11.
///
/// Bytes are fed in whatever pieces the network delivers; `nextEvent()` returns each
/// complete event, or nil when it needs more bytes. A token cut anywhere (mid-name,
/// mid-character, mid-entity) is simply retried once more bytes arrive, so the events are the
/// same however the input is split. DTDs, comments, processing instructions and entity
/// references other than the five predefined ones are refused, as RFC 6120 §11.1 asks.
public struct XMLStreamParser: Sendable {
    public var limits: XMLParserLimits

    private var buffer: [UInt8] = []
    private var position = 0
    /// Buffer length at the last incomplete attempt: a retry is pointless until a byte that
    /// could finish the token (`>` or `<`) arrives after it.
    private var incompleteScanFrom: Int?
    private var openElements: [OpenElement] = []
    private var namespaceDeclarations: [[(prefix: String, uri: String)]] = []
    private var streamOpen = false
    private var streamEnded = false
    private var sawAnything = false
    /// Bytes already consumed that belong to the element being read at depth 1.
    private var stanzaBytesConsumed = 0
    private var failure: XMLStreamError?

    public init(limits: XMLParserLimits = XMLParserLimits()) {
        self.limits = limits
    }

    /// Forgets everything, buffered bytes included: a new stream starts (after STARTTLS or
    /// SASL success, RFC 6120 §5.4.3.3 and §6.4.6).
    public mutating func reset() {
        self = XMLStreamParser(limits: self.limits)
    }

    /// Starts a new stream but keeps bytes already received after the current position,
    /// for a stream restart where the peer may legitimately have pipelined the new header.
    public mutating func restartKeepingBufferedInput() {
        let pending = Array(self.buffer[self.position...])
        self = XMLStreamParser(limits: self.limits)
        self.buffer = pending
    }

    public var bufferedByteCount: Int { self.buffer.count - self.position }

    /// True while a depth-1 element has been started and not finished.
    public var isInsideStanza: Bool { self.openElements.count > 1 }

    /// True while input is waiting to complete something: a stanza, a tag, or the header.
    public var hasUnfinishedInput: Bool {
        guard !self.streamEnded else { return false }
        if self.openElements.count > 1 { return true }
        return self.buffer[self.position...].contains { !(($0 == 0x20) || ($0 == 0x09) || ($0 == 0x0A) || ($0 == 0x0D)) }
    }

    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if self.position > 0 && self.position == self.buffer.count {
            self.buffer.removeAll(keepingCapacity: true)
            self.position = 0
            self.incompleteScanFrom = nil
        }
        self.buffer.append(contentsOf: bytes)
    }

    /// Gives back the input buffer once everything in it was consumed: most connections are
    /// idle most of the time, and each would otherwise keep its largest read allocated.
    public mutating func releaseConsumedInput() {
        guard self.position == self.buffer.count else { return }
        if self.buffer.capacity > 0 {
            self.buffer = []
            self.position = 0
            self.incompleteScanFrom = nil
        }
        // Between stanzas only the stream root is open; the stacks keep the capacity of the
        // deepest stanza unless they are made again.
        if self.openElements.count == 1 && self.openElements.capacity > 1 {
            self.openElements = [self.openElements[0]]
        }
        if self.namespaceDeclarations.count == 1 && self.namespaceDeclarations.capacity > 1 {
            self.namespaceDeclarations = [self.namespaceDeclarations[0]]
        }
    }

    /// The next complete event, or nil when more input is needed.
    public mutating func nextEvent() throws(XMLStreamError) -> XMLStreamEvent? {
        if let failure = self.failure {
            throw failure
        }
        do {
            let event = try self.parseNext()
            if event == nil {
                try self.checkPendingSize()
                self.compact()
            }
            return event
        } catch {
            self.failure = error
            throw error
        }
    }

    // MARK: - Driver

    private struct Incomplete: Error {}

    private struct OpenElement: Sendable {
        var qualifiedName: [UInt8]
        var element: Element
    }

    private mutating func parseNext() throws(XMLStreamError) -> XMLStreamEvent? {
        while true {
            if self.streamEnded {
                // Bytes after </stream:stream> are ignored: the stream is over.
                self.position = self.buffer.count
                return nil
            }
            guard self.position < self.buffer.count else { return nil }
            if let scanFrom = self.incompleteScanFrom {
                if !self.buffer[scanFrom...].contains(where: { $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "<") }) {
                    self.incompleteScanFrom = self.buffer.count
                    return nil
                }
                self.incompleteScanFrom = nil
            }
            let tokenStart = self.position
            do {
                if let event = try self.parseToken() {
                    return event
                }
            } catch let error as XMLStreamError {
                throw error
            } catch {
                self.position = tokenStart
                self.incompleteScanFrom = self.buffer.count
                return nil
            }
        }
    }

    private mutating func checkPendingSize() throws(XMLStreamError) {
        let pending = self.buffer.count - self.position
        if !self.streamOpen {
            if pending > self.limits.maxHeaderBytes {
                throw .limitExceeded("stream header larger than \(self.limits.maxHeaderBytes) bytes")
            }
        } else if self.stanzaBytesConsumed + pending > self.limits.maxStanzaBytes {
            throw .limitExceeded("stanza larger than \(self.limits.maxStanzaBytes) bytes")
        }
    }

    private mutating func compact() {
        if self.position > 4096 && self.position * 2 > self.buffer.count {
            self.buffer.removeFirst(self.position)
            if let scanFrom = self.incompleteScanFrom {
                self.incompleteScanFrom = scanFrom - self.position
            }
            self.position = 0
        }
    }

    /// Parses one token; returns an event when the token completes one.
    private mutating func parseToken() throws(any Error) -> XMLStreamEvent? {
        if !self.streamOpen {
            return try self.parseProlog()
        }
        let byte = self.buffer[self.position]
        if byte == UInt8(ascii: "<") {
            return try self.parseMarkup()
        }
        try self.parseText()
        return nil
    }

    // MARK: - Prolog and stream header

    private mutating func parseProlog() throws(any Error) -> XMLStreamEvent? {
        var cursor = self.position
        while cursor < self.buffer.count, Self.isWhitespace(self.buffer[cursor]) {
            cursor += 1
        }
        guard cursor < self.buffer.count else {
            self.position = cursor
            throw Incomplete()
        }
        guard self.buffer[cursor] == UInt8(ascii: "<") else {
            throw XMLStreamError.notWellFormed("text before the stream header")
        }
        let markupStart = cursor
        guard cursor + 1 < self.buffer.count else { throw Incomplete() }
        switch self.buffer[cursor + 1] {
        case UInt8(ascii: "?"):
            guard cursor + 5 < self.buffer.count else { throw Incomplete() }
            let isDeclaration = self.matches("<?xml", at: cursor) && Self.isWhitespace(self.buffer[cursor + 5])
            guard isDeclaration, !self.sawAnything, markupStart == self.position else {
                throw XMLStreamError.restrictedXML("processing instructions are not allowed")
            }
            guard let end = self.find("?>", from: cursor + 5) else {
                if self.buffer.count - cursor > self.limits.maxHeaderBytes {
                    throw XMLStreamError.limitExceeded("XML declaration too long")
                }
                throw Incomplete()
            }
            try self.checkDeclaration(Array(self.buffer[(cursor + 5)..<end]))
            self.position = end + 2
            self.sawAnything = true
            return nil
        case UInt8(ascii: "!"):
            throw XMLStreamError.restrictedXML("DTDs and comments are not allowed")
        case UInt8(ascii: "/"):
            throw XMLStreamError.notWellFormed("closing tag before the stream header")
        default:
            self.position = cursor
            let (element, qualifiedName, selfClosing) = try self.parseStartTag()
            self.sawAnything = true
            self.streamOpen = true
            let declared = self.namespaceDeclarations.last ?? []
            var prefixes: [String: String] = [:]
            var contentNamespace: String?
            for declaration in declared {
                if declaration.prefix.isEmpty {
                    contentNamespace = declaration.uri
                } else {
                    prefixes[declaration.prefix] = declaration.uri
                }
            }
            let header = StreamHeader(
                name: element.name,
                namespace: element.namespace,
                attributes: element.attributes,
                contentNamespace: contentNamespace,
                declaredPrefixes: prefixes
            )
            if selfClosing {
                self.streamEnded = true
            } else {
                // The header went out as an event; the open root only needs its name.
                self.openElements.append(OpenElement(qualifiedName: qualifiedName, element: Element(name: element.name, namespace: element.namespace)))
            }
            self.stanzaBytesConsumed = 0
            return .streamOpened(header)
        }
    }

    private func checkDeclaration(_ body: [UInt8]) throws(XMLStreamError) {
        guard let text = String(validating: body, as: UTF8.self) else {
            throw .notWellFormed("invalid UTF-8 in the XML declaration")
        }
        let pseudoAttributes = Self.pseudoAttributes(text)
        if let version = pseudoAttributes["version"], version != "1.0" {
            throw .restrictedXML("only XML 1.0 is allowed, not \(version)")
        }
        if let encoding = pseudoAttributes["encoding"], encoding.lowercased() != "utf-8" {
            throw .unsupportedEncoding("encoding \(encoding) is not supported; use UTF-8")
        }
    }

    private static func pseudoAttributes(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var rest = Substring(text)
        while let equals = rest.firstIndex(of: "=") {
            let name = rest[..<equals].trimmingWhitespace()
            var after = rest[rest.index(after: equals)...].drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
            guard let quote = after.first, quote == "'" || quote == "\"" else { break }
            after = after.dropFirst()
            guard let close = after.firstIndex(of: quote) else { break }
            result[String(name)] = String(after[..<close])
            rest = after[after.index(after: close)...]
        }
        return result
    }

    // MARK: - Markup inside the stream

    private mutating func parseMarkup() throws(any Error) -> XMLStreamEvent? {
        let start = self.position
        guard start + 1 < self.buffer.count else { throw Incomplete() }
        switch self.buffer[start + 1] {
        case UInt8(ascii: "/"):
            return try self.parseEndTag()
        case UInt8(ascii: "?"):
            throw XMLStreamError.restrictedXML("processing instructions are not allowed")
        case UInt8(ascii: "!"):
            guard start + 3 < self.buffer.count else { throw Incomplete() }
            if self.buffer[start + 2] == UInt8(ascii: "[") {
                guard start + 9 <= self.buffer.count else { throw Incomplete() }
                guard self.matches("<![CDATA[", at: start), self.openElements.count > 1 else {
                    throw XMLStreamError.notWellFormed("unexpected markup declaration")
                }
                try self.parseCDATA()
                return nil
            }
            throw XMLStreamError.restrictedXML("DTDs, comments and entity declarations are not allowed")
        default:
            let tagStart = self.position
            let (element, qualifiedName, selfClosing) = try self.parseStartTag()
            if self.openElements.count == 1 {
                self.stanzaBytesConsumed = 0
                if element.name == "stream" && element.namespace == XMPPNamespace.stream {
                    throw XMLStreamError.notWellFormed("a stream header inside the stream")
                }
            }
            self.stanzaBytesConsumed += self.position - tagStart
            try self.checkStanzaSize()
            if self.openElements.count + 1 > self.limits.maxDepth {
                throw XMLStreamError.limitExceeded("elements nested deeper than \(self.limits.maxDepth)")
            }
            if selfClosing {
                self.namespaceDeclarations.removeLast()
                return self.close(element)
            }
            self.openElements.append(OpenElement(qualifiedName: qualifiedName, element: element))
            return nil
        }
    }

    private mutating func checkStanzaSize() throws(XMLStreamError) {
        if self.stanzaBytesConsumed > self.limits.maxStanzaBytes {
            throw .limitExceeded("stanza larger than \(self.limits.maxStanzaBytes) bytes")
        }
    }

    /// Attaches a finished element to its parent, or emits it when it is a depth-1 element.
    private mutating func close(_ element: Element) -> XMLStreamEvent? {
        if self.openElements.count == 1 {
            self.stanzaBytesConsumed = 0
            return .element(element)
        }
        self.openElements[self.openElements.count - 1].element.children.append(.element(element))
        return nil
    }

    private mutating func parseEndTag() throws(any Error) -> XMLStreamEvent? {
        let start = self.position
        var cursor = start + 2
        let nameStart = cursor
        while true {
            guard cursor < self.buffer.count else { throw Incomplete() }
            let byte = self.buffer[cursor]
            if byte == UInt8(ascii: ">") || Self.isWhitespace(byte) { break }
            cursor += 1
            if cursor - nameStart > self.limits.maxNameBytes {
                throw XMLStreamError.limitExceeded("name longer than \(self.limits.maxNameBytes) bytes")
            }
        }
        let name = Array(self.buffer[nameStart..<cursor])
        while true {
            guard cursor < self.buffer.count else { throw Incomplete() }
            let byte = self.buffer[cursor]
            if byte == UInt8(ascii: ">") { break }
            guard Self.isWhitespace(byte) else { throw XMLStreamError.notWellFormed("junk in a closing tag") }
            cursor += 1
        }
        self.position = cursor + 1
        guard let open = self.openElements.last else {
            throw XMLStreamError.notWellFormed("closing tag with nothing open")
        }
        guard open.qualifiedName == name else {
            throw XMLStreamError.notWellFormed("closing tag does not match the open element")
        }
        self.openElements.removeLast()
        self.namespaceDeclarations.removeLast()
        if self.openElements.isEmpty {
            self.streamEnded = true
            return .streamClosed
        }
        self.stanzaBytesConsumed += self.position - start
        try self.checkStanzaSize()
        return self.close(open.element)
    }

    private mutating func parseCDATA() throws(any Error) {
        let contentStart = self.position + 9
        guard let end = self.find("]]>", from: contentStart) else { throw Incomplete() }
        let text = try self.decodeCharacters(self.buffer[contentStart..<end], entities: false)
        self.stanzaBytesConsumed += end + 3 - self.position
        self.position = end + 3
        try self.checkStanzaSize()
        self.appendText(text)
    }

    private mutating func parseText() throws(any Error) {
        let start = self.position
        guard let end = self.buffer[start...].firstIndex(of: UInt8(ascii: "<")) else {
            if self.openElements.count == 1 && !self.buffer[start...].allSatisfy(Self.isWhitespace) {
                throw XMLStreamError.notWellFormed("character data at the stream level")
            }
            throw Incomplete()
        }
        let raw = self.buffer[start..<end]
        if self.openElements.count == 1 {
            // Between stanzas only whitespace (keep-alives, RFC 6120 §4.6.1) may appear.
            guard raw.allSatisfy(Self.isWhitespace) else {
                throw XMLStreamError.notWellFormed("character data at the stream level")
            }
            self.position = end
            return
        }
        let text = try self.decodeCharacters(raw, entities: true)
        self.stanzaBytesConsumed += end - start
        self.position = end
        try self.checkStanzaSize()
        self.appendText(text)
    }

    private mutating func appendText(_ text: String) {
        guard !text.isEmpty else { return }
        let index = self.openElements.count - 1
        if case .text(let previous) = self.openElements[index].element.children.last {
            self.openElements[index].element.children[self.openElements[index].element.children.count - 1] = .text(previous + text)
        } else {
            self.openElements[index].element.children.append(.text(text))
        }
    }

    // MARK: - Start tags and namespaces

    private struct RawAttribute {
        var name: [UInt8]
        var value: String
    }

    /// Parses `<name attr='v' ...>` or `<name .../>` at `position`, resolving namespaces.
    private mutating func parseStartTag() throws(any Error) -> (Element, [UInt8], Bool) {
        var cursor = self.position + 1
        let qualifiedName = try self.scanName(&cursor)
        var rawAttributes: [RawAttribute] = []
        var plainCount = 0
        var selfClosing = false
        while true {
            let hadSpace = self.skipWhitespace(&cursor)
            guard cursor < self.buffer.count else { throw Incomplete() }
            let byte = self.buffer[cursor]
            if byte == UInt8(ascii: ">") {
                cursor += 1
                break
            }
            if byte == UInt8(ascii: "/") {
                guard cursor + 1 < self.buffer.count else { throw Incomplete() }
                guard self.buffer[cursor + 1] == UInt8(ascii: ">") else {
                    throw XMLStreamError.notWellFormed("'/' not followed by '>' in a tag")
                }
                cursor += 2
                selfClosing = true
                break
            }
            guard hadSpace else { throw XMLStreamError.notWellFormed("attributes must be separated by white space") }
            let name = try self.scanName(&cursor)
            self.skipWhitespace(&cursor)
            guard cursor < self.buffer.count else { throw Incomplete() }
            guard self.buffer[cursor] == UInt8(ascii: "=") else { throw XMLStreamError.notWellFormed("attribute without a value") }
            cursor += 1
            self.skipWhitespace(&cursor)
            guard cursor < self.buffer.count else { throw Incomplete() }
            let quote = self.buffer[cursor]
            guard quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
                throw XMLStreamError.notWellFormed("attribute value not quoted")
            }
            let valueStart = cursor + 1
            guard let valueEnd = self.buffer[valueStart...].firstIndex(of: quote) else {
                if self.buffer.count - valueStart > self.limits.maxAttributeValueBytes {
                    throw XMLStreamError.limitExceeded("attribute value longer than \(self.limits.maxAttributeValueBytes) bytes")
                }
                throw Incomplete()
            }
            if valueEnd - valueStart > self.limits.maxAttributeValueBytes {
                throw XMLStreamError.limitExceeded("attribute value longer than \(self.limits.maxAttributeValueBytes) bytes")
            }
            let rawValue = self.buffer[valueStart..<valueEnd]
            if rawValue.contains(UInt8(ascii: "<")) {
                throw XMLStreamError.notWellFormed("'<' in an attribute value")
            }
            let value = try self.decodeCharacters(rawValue, entities: true, normalizeWhitespace: true)
            rawAttributes.append(RawAttribute(name: name, value: value))
            let isDeclaration = name == Self.xmlnsBytes || name.starts(with: Self.xmlnsColonBytes)
            if !isDeclaration {
                plainCount += 1
            } else if rawAttributes.count - plainCount > self.limits.maxNamespaceDeclarationsPerElement {
                throw XMLStreamError.limitExceeded("more than \(self.limits.maxNamespaceDeclarationsPerElement) namespace declarations on one element")
            }
            if plainCount > self.limits.maxAttributesPerElement {
                throw XMLStreamError.limitExceeded("more than \(self.limits.maxAttributesPerElement) attributes on one element")
            }
            cursor = valueEnd + 1
        }

        // Only now that the whole tag is here do we touch parser state.
        var declarations: [(prefix: String, uri: String)] = []
        var plainAttributes: [RawAttribute] = []
        for attribute in rawAttributes {
            if attribute.name == Self.xmlnsBytes {
                declarations.append((prefix: "", uri: attribute.value))
            } else if attribute.name.starts(with: Self.xmlnsColonBytes) {
                let prefix = try Self.string(attribute.name.dropFirst(6))
                guard !attribute.value.isEmpty, prefix != "xmlns" else {
                    throw XMLStreamError.notWellFormed("invalid namespace declaration for prefix \(prefix)")
                }
                if prefix == "xml" && attribute.value != XMLNamespace.xml {
                    throw XMLStreamError.notWellFormed("the xml prefix cannot be rebound")
                }
                declarations.append((prefix: prefix, uri: attribute.value))
            } else {
                plainAttributes.append(attribute)
            }
        }
        if declarations.count > self.limits.maxNamespaceDeclarationsPerElement {
            throw XMLStreamError.limitExceeded("more than \(self.limits.maxNamespaceDeclarationsPerElement) namespace declarations on one element")
        }
        self.namespaceDeclarations.append(declarations)
        do {
            let (prefix, localName) = try Self.split(qualifiedName)
            guard let namespace = self.resolve(prefix: prefix) else {
                throw XMLStreamError.badNamespacePrefix("undeclared prefix '\(prefix)'")
            }
            var attributes: [Attribute] = []
            attributes.reserveCapacity(plainAttributes.count)
            for raw in plainAttributes {
                let (attributePrefix, attributeName) = try Self.split(raw.name)
                var attributeNamespace: String?
                if !attributePrefix.isEmpty {
                    guard let resolved = self.resolve(prefix: attributePrefix) else {
                        throw XMLStreamError.badNamespacePrefix("undeclared prefix '\(attributePrefix)'")
                    }
                    attributeNamespace = resolved
                }
                if attributes.contains(where: { $0.name == attributeName && $0.namespace == attributeNamespace }) {
                    throw XMLStreamError.notWellFormed("duplicate attribute \(attributeName)")
                }
                attributes.append(Attribute(name: attributeName, namespace: attributeNamespace, value: raw.value))
            }
            self.position = cursor
            return (Element(name: localName, namespace: namespace, attributes: attributes), qualifiedName, selfClosing)
        } catch {
            self.namespaceDeclarations.removeLast()
            throw error
        }
    }

    private func resolve(prefix: String) -> String? {
        if prefix == "xml" { return XMLNamespace.xml }
        for level in self.namespaceDeclarations.reversed() {
            for declaration in level.reversed() where declaration.prefix == prefix {
                return declaration.uri
            }
        }
        return prefix.isEmpty ? "" : nil
    }

    private static let xmlnsBytes = Array("xmlns".utf8)
    private static let xmlnsColonBytes = Array("xmlns:".utf8)

    private static func split(_ qualifiedName: [UInt8]) throws(XMLStreamError) -> (String, String) {
        guard let colon = qualifiedName.firstIndex(of: UInt8(ascii: ":")) else {
            return ("", try self.string(qualifiedName[...]))
        }
        let prefix = qualifiedName[..<colon]
        let local = qualifiedName[(colon + 1)...]
        guard !prefix.isEmpty, !local.isEmpty, !local.contains(UInt8(ascii: ":")) else {
            throw .notWellFormed("malformed qualified name")
        }
        if prefix.elementsEqual("xmlns".utf8) {
            throw .notWellFormed("the xmlns prefix cannot name an element or attribute")
        }
        return (try self.string(prefix), try self.string(local))
    }

    private static func string(_ bytes: ArraySlice<UInt8>) throws(XMLStreamError) -> String {
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .notWellFormed("invalid UTF-8 in a name")
        }
        return string
    }

    private func scanName(_ cursor: inout Int) throws(any Error) -> [UInt8] {
        let start = cursor
        while true {
            guard cursor < self.buffer.count else {
                if cursor - start > self.limits.maxNameBytes {
                    throw XMLStreamError.limitExceeded("name longer than \(self.limits.maxNameBytes) bytes")
                }
                throw Incomplete()
            }
            let byte = self.buffer[cursor]
            if Self.isNameByte(byte, first: cursor == start) {
                cursor += 1
                if cursor - start > self.limits.maxNameBytes {
                    throw XMLStreamError.limitExceeded("name longer than \(self.limits.maxNameBytes) bytes")
                }
                continue
            }
            break
        }
        guard cursor > start else { throw XMLStreamError.notWellFormed("expected a name") }
        let byte = self.buffer[cursor]
        guard Self.isWhitespace(byte) || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=") else {
            throw XMLStreamError.notWellFormed("invalid character in a name")
        }
        return Array(self.buffer[start..<cursor])
    }

    @discardableResult
    private func skipWhitespace(_ cursor: inout Int) -> Bool {
        let start = cursor
        while cursor < self.buffer.count, Self.isWhitespace(self.buffer[cursor]) {
            cursor += 1
        }
        return cursor > start
    }

    // MARK: - Character data

    /// Validates UTF-8 and XML characters and decodes references.
    private func decodeCharacters(_ raw: ArraySlice<UInt8>, entities: Bool, normalizeWhitespace: Bool = false) throws(XMLStreamError) -> String {
        var needsRewrite = false
        var mayHaveNonCharacters = false
        for byte in raw {
            if byte < 0x20 {
                guard byte == 0x09 || byte == 0x0A || byte == 0x0D else {
                    throw .notWellFormed("control character 0x\(String(byte, radix: 16)) is not allowed in XML")
                }
                if byte == 0x0D || normalizeWhitespace { needsRewrite = true }
            } else if byte == UInt8(ascii: "&") {
                needsRewrite = true
            } else if byte == UInt8(ascii: ">") {
                continue
            } else if byte == 0xEF {
                mayHaveNonCharacters = true
            }
        }
        guard let validated = String(validating: raw, as: UTF8.self) else {
            throw .notWellFormed("invalid UTF-8")
        }
        if mayHaveNonCharacters {
            for scalar in validated.unicodeScalars where scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                throw .notWellFormed("U+\(String(scalar.value, radix: 16, uppercase: true)) is not an XML character")
            }
        }
        guard needsRewrite else { return validated }
        if !entities && !normalizeWhitespace {
            return validated.replacingLineBreaks()
        }
        var result = ""
        result.reserveCapacity(raw.count)
        var scalars = validated.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            switch scalar {
            case "&" where entities:
                guard let semicolon = scalars.firstIndex(of: ";") else {
                    throw .notWellFormed("unterminated entity reference")
                }
                let name = String(String.UnicodeScalarView(scalars[..<semicolon]))
                scalars = scalars[scalars.index(after: semicolon)...]
                result.unicodeScalars.append(try Self.resolveReference(name))
            case "\r":
                if scalars.first == "\n" { scalars.removeFirst() }
                result.unicodeScalars.append(normalizeWhitespace ? " " : "\n")
            case "\n" where normalizeWhitespace, "\t" where normalizeWhitespace:
                result.unicodeScalars.append(" ")
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func resolveReference(_ name: String) throws(XMLStreamError) -> Unicode.Scalar {
        switch name {
        case "lt": return "<"
        case "gt": return ">"
        case "amp": return "&"
        case "quot": return "\""
        case "apos": return "'"
        default: break
        }
        guard name.hasPrefix("#") else {
            if name.isEmpty || name.count > 64 {
                throw .notWellFormed("malformed entity reference")
            }
            throw .restrictedXML("entity &\(name); is not one of the predefined entities")
        }
        let digits = name.dropFirst()
        let value: UInt32?
        if digits.hasPrefix("x") {
            let hex = digits.dropFirst()
            value = hex.isEmpty || hex.count > 8 ? nil : UInt32(hex, radix: 16)
        } else {
            value = digits.isEmpty || digits.count > 10 ? nil : UInt32(digits, radix: 10)
        }
        guard let value, Self.isXMLCharacter(value), let scalar = Unicode.Scalar(value) else {
            throw .notWellFormed("character reference &\(name); is not an XML character")
        }
        return scalar
    }

    static func isXMLCharacter(_ value: UInt32) -> Bool {
        switch value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    // MARK: - Byte helpers

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"), UInt8(ascii: ":"), 0x80...0xFF:
            return true
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return !first
        default:
            return false
        }
    }

    private func matches(_ literal: StaticString, at index: Int) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= self.buffer.count else { return false }
        return literal.withUTF8Buffer { literalBytes in
            for offset in 0..<count where self.buffer[index + offset] != literalBytes[offset] {
                return false
            }
            return true
        }
    }

    private func find(_ literal: StaticString, from index: Int) -> Int? {
        let count = literal.utf8CodeUnitCount
        var cursor = index
        while cursor + count <= self.buffer.count {
            if self.matches(literal, at: cursor) { return cursor }
            cursor += 1
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = self.firstIndex(where: { !isSpace($0) }), let last = self.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[first...last]
    }
}

extension String {
    fileprivate func replacingLineBreaks() -> String {
        var result = ""
        var scalars = self.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            if scalar == "\r" {
                if scalars.first == "\n" { scalars.removeFirst() }
                result.unicodeScalars.append("\n")
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
