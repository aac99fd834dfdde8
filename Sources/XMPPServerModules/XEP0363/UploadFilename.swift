import Foundation

/// The file name a client asked for, made safe to show in a URL and a Content-Disposition
/// header. It never names anything on disk: files live under their random slot id.
enum UploadFilename {
    /// Longest name kept, in UTF-8 bytes; longer ones keep their extension.
    static let maxBytes = 200

    /// The name as served: NFC, without directories' separators, control or formatting
    /// characters (no right-to-left override turning `gpj.exe` into `exe.jpg`), leading dots or
    /// spaces, at most `maxBytes`. Nil for a name that is empty, has control characters or
    /// leaves nothing once cleaned.
    static func sanitized(_ requested: String) -> String? {
        let name = requested.precomposedStringWithCanonicalMapping
        guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return nil }
        var cleaned = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            switch scalar {
            case "/", "\\", ":", "*", "?", "\"", "<", ">", "|", "%", "#", "&", "+", ";", "=":
                cleaned.append("_")
            case _ where scalar.properties.generalCategory == .format || scalar.properties.isWhitespace:
                cleaned.append("_")
            default:
                cleaned.append(scalar)
            }
        }
        var result = String(cleaned)
        while result.hasPrefix(".") || result.hasPrefix("_") { result.removeFirst() }
        while result.hasSuffix(".") { result.removeLast() }
        guard !result.isEmpty else { return nil }
        return Self.truncated(result)
    }

    /// Cut to `maxBytes` on a character boundary, keeping a short extension.
    private static func truncated(_ name: String) -> String {
        guard name.utf8.count > Self.maxBytes else { return name }
        var stem = name
        var suffix = ""
        if let dot = name.lastIndex(of: "."), name.distance(from: dot, to: name.endIndex) <= 16 {
            stem = String(name[..<dot])
            suffix = String(name[dot...])
        }
        while stem.utf8.count + suffix.utf8.count > Self.maxBytes, !stem.isEmpty { stem.removeLast() }
        return stem + suffix
    }

    /// The name as one URL path segment: unreserved ASCII as is, every other byte of its UTF-8
    /// percent-encoded (RFC 3986 §2.3).
    static func pathSegment(_ name: String) -> String {
        var segment = ""
        for byte in name.utf8 {
            if byte.isUnreservedURLCharacter {
                segment.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                segment += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return segment
    }

    /// A path segment as sent, decoded; nil for a bad escape, bytes that are not UTF-8, or a
    /// decoded `/`, `\` or NUL (an encoded separator is refused, never followed).
    static func decodeSegment(_ segment: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = segment.utf8.makeIterator()
        while let byte = utf8.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.next().flatMap(\.hexValue), let low = utf8.next().flatMap(\.hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        guard !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") || $0 == 0 }) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}

extension UInt8 {
    fileprivate var isUnreservedURLCharacter: Bool {
        (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A) || (self >= 0x30 && self <= 0x39) || self == 0x2D || self == 0x2E
            || self == 0x5F || self == 0x7E
    }

    fileprivate var hexValue: UInt8? {
        switch self {
        case 0x30...0x39: return self - 0x30
        case 0x41...0x46: return self - 0x41 + 10
        case 0x61...0x66: return self - 0x61 + 10
        default: return nil
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
