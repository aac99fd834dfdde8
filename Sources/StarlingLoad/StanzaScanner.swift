/// Recognises the stanzas the MUC scenarios wait for — the self-presence that ends a join
/// (status code 110), a new room's 201, presence errors, the owner IQ's result — in the raw
/// bytes a server delivers after login, without building elements: it reads tags, not text.
/// Only a client that is joining runs it; once in the room it goes back to `MarkerScanner`
/// alone, so that counting groupchat deliveries stays as cheap as counting chat messages.
///
/// It follows the shape servers send after login: top-level stanzas, no comments, processing
/// instructions or CDATA (RFC 6120 §11.1 forbids the first two; no server here sends the
/// third). It reads the stanza's name, `type`, `id` and `from`, every `<status code=…/>` inside
/// it, and the condition of an `<error/>` (its first child other than `<text/>`).
struct StanzaScanner {
    struct Stanza: Equatable {
        var name: String
        var type: String?
        var id: String?
        var from: String?
        var statusCodes: [Int] = []
        var errorCondition: String?

        /// XEP-0045 §7.2.2: the presence that tells a joining client it is in the room.
        var isSelfPresence: Bool { self.name == "presence" && self.type != "error" && self.statusCodes.contains(110) }
        /// XEP-0045 §10.1.1: the room did not exist and the joining client created it.
        var isRoomCreated: Bool { self.statusCodes.contains(201) }
    }

    /// A tag cut off at the end of the previous read, from its `<`.
    private var carry: [UInt8] = []
    /// Open elements inside the stream: 0 between stanzas.
    private var depth = 0
    private var current: Stanza?
    /// Set while inside the current stanza's `<error>`: the depth of its children.
    private var errorChildDepth: Int?

    mutating func scan(_ bytes: UnsafeRawBufferPointer, found: (Stanza) -> Void) {
        if self.carry.isEmpty {
            self.scanContiguous(bytes, found: found)
        } else {
            let joined = self.carry + Array(bytes)
            self.carry.removeAll(keepingCapacity: true)
            joined.withUnsafeBytes { self.scanContiguous($0, found: found) }
        }
    }

    private mutating func scanContiguous(_ bytes: UnsafeRawBufferPointer, found: (Stanza) -> Void) {
        let count = bytes.count
        var index = 0
        while index < count {
            guard bytes[index] == UInt8(ascii: "<") else {
                index += 1
                continue
            }
            // The end of the tag: the first `>` outside a quoted attribute value.
            var end = index + 1
            var quote: UInt8 = 0
            while end < count {
                let byte = bytes[end]
                if quote != 0 {
                    if byte == quote { quote = 0 }
                } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                    quote = byte
                } else if byte == UInt8(ascii: ">") {
                    break
                }
                end += 1
            }
            guard end < count else {
                self.carry = Array(bytes[index..<count])
                return
            }
            self.tag(UnsafeRawBufferPointer(rebasing: bytes[index...end]), found: found)
            index = end + 1
        }
    }

    /// One tag, `<` to `>` inclusive.
    private mutating func tag(_ tag: UnsafeRawBufferPointer, found: (Stanza) -> Void) {
        guard tag.count >= 3 else { return }
        let first = tag[1]
        if first == UInt8(ascii: "?") || first == UInt8(ascii: "!") { return }
        if first == UInt8(ascii: "/") {
            let name = Self.localName(tag, from: 2)
            if name == "stream" { return }
            self.depth = max(0, self.depth - 1)
            if let errorChildDepth = self.errorChildDepth, self.depth < errorChildDepth { self.errorChildDepth = nil }
            if self.depth == 0, let stanza = self.current {
                self.current = nil
                found(stanza)
            }
            return
        }
        let name = Self.localName(tag, from: 1)
        if name == "stream" && self.depth == 0 { return }  // a stream header (restart): not an element to count
        let selfClosing = tag[tag.count - 2] == UInt8(ascii: "/")
        if self.depth == 0 {
            let stanza = Stanza(
                name: name, type: Self.attribute("type", in: tag), id: Self.attribute("id", in: tag), from: Self.attribute("from", in: tag))
            self.errorChildDepth = nil
            if selfClosing {
                found(stanza)
            } else {
                self.current = stanza
                self.depth = 1
            }
            return
        }
        if name == "status", let code = Self.attribute("code", in: tag).flatMap({ Int($0) }) {
            self.current?.statusCodes.append(code)
        } else if name == "error" && self.errorChildDepth == nil && !selfClosing {
            self.errorChildDepth = self.depth + 1
        } else if self.depth == self.errorChildDepth, name != "text", self.current?.errorCondition == nil {
            self.current?.errorCondition = name
        }
        if !selfClosing { self.depth += 1 }
    }

    /// The tag's name without its prefix, read from `start` up to a space, `/` or `>`.
    private static func localName(_ tag: UnsafeRawBufferPointer, from start: Int) -> String {
        var end = start
        var nameStart = start
        while end < tag.count {
            let byte = tag[end]
            if Self.isSpace(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">") { break }
            if byte == UInt8(ascii: ":") { nameStart = end + 1 }
            end += 1
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: tag[nameStart..<end]), as: UTF8.self)
    }

    /// The raw value of an unprefixed attribute of the tag (entities left as they are).
    static func attribute(_ name: StaticString, in tag: UnsafeRawBufferPointer) -> String? {
        let length = name.utf8CodeUnitCount
        return name.withUTF8Buffer { wanted -> String? in
            var index = 1
            var quote: UInt8 = 0
            while index + length < tag.count {
                let byte = tag[index]
                if quote != 0 {
                    if byte == quote { quote = 0 }
                    index += 1
                    continue
                }
                if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                    quote = byte
                    index += 1
                    continue
                }
                guard Self.isSpace(tag[index - 1]), Self.matches(tag, at: index, wanted) else {
                    index += 1
                    continue
                }
                var cursor = index + length
                while cursor < tag.count, Self.isSpace(tag[cursor]) { cursor += 1 }
                guard cursor < tag.count, tag[cursor] == UInt8(ascii: "=") else {
                    index += 1
                    continue
                }
                cursor += 1
                while cursor < tag.count, Self.isSpace(tag[cursor]) { cursor += 1 }
                guard cursor < tag.count, tag[cursor] == UInt8(ascii: "'") || tag[cursor] == UInt8(ascii: "\"") else { return nil }
                let valueQuote = tag[cursor]
                var valueEnd = cursor + 1
                while valueEnd < tag.count, tag[valueEnd] != valueQuote { valueEnd += 1 }
                guard valueEnd < tag.count else { return nil }
                return String(decoding: UnsafeRawBufferPointer(rebasing: tag[(cursor + 1)..<valueEnd]), as: UTF8.self)
            }
            return nil
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == 9 || byte == 10 || byte == 13
    }

    private static func matches(_ tag: UnsafeRawBufferPointer, at start: Int, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        guard start + wanted.count <= tag.count else { return false }
        for offset in 0..<wanted.count where tag[start + offset] != wanted[offset] { return false }
        return true
    }
}
