/// The HTTP rules of the upload service as pure functions: what a path names, which
/// content types are accepted and how they are served, and what a Range header asks for.
enum UploadHTTPRules {
    // MARK: - Paths

    enum PathVerdict: Equatable {
        case slot(id: String, filename: String)
        /// Malformed: an encoded separator, a dot segment, a bad escape, extra segments.
        case badRequest
        /// Well formed but names no slot that could exist.
        case notFound
    }

    /// `<prefix><32 hex slot id>/<filename segment>`, judged on the path as sent. The slot id
    /// is the only part that ever becomes a file system path, and only once it is known to be
    /// 32 lower-case hex digits.
    static func parsePath(_ path: String, prefix: String) -> PathVerdict {
        guard path.hasPrefix(prefix) else { return .notFound }
        let rest = path.dropFirst(prefix.count)
        let lowered = rest.lowercased()
        // %2F, %5C and %00 would be separators or terminators once decoded.
        if lowered.contains("%2f") || lowered.contains("%5c") || lowered.contains("%00") { return .badRequest }
        let segments = rest.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == "." || $0 == ".." || $0.lowercased() == "%2e" || $0.lowercased() == "%2e%2e" }) {
            return .badRequest
        }
        guard segments.count == 2 else { return segments.count > 2 ? .badRequest : .notFound }
        guard let filename = UploadFilename.decodeSegment(segments[1]), !filename.isEmpty, filename != ".", filename != ".." else {
            return .badRequest
        }
        let id = String(segments[0])
        guard UploadSlotID.isValid(id) else { return .notFound }
        return .slot(id: id, filename: filename)
    }

    /// `a=1&b=2` into a dictionary; values are left encoded (ours never need decoding).
    static func queryItems(_ query: String?) -> [String: String] {
        var items: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, items[String(parts[0])] == nil else { continue }
            items[String(parts[0])] = String(parts[1])
        }
        return items
    }

    // MARK: - Content types

    static let defaultContentType = "application/octet-stream"

    /// A media type (`type/subtype`, optional parameters) in lower case without spaces around
    /// the separators; nil when it is not one (control characters, missing subtype, too long).
    static func normalizedContentType(_ raw: String) -> String? {
        let trimmed = raw.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty, trimmed.utf8.count <= 255, trimmed.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        let parts = trimmed.split(separator: ";", omittingEmptySubsequences: false).map { String($0).trimmingASCIIWhitespace() }
        let media = parts[0].lowercased()
        let halves = media.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2, halves.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(\.isTokenCharacter) }) else { return nil }
        var normalized = media
        for parameter in parts.dropFirst() where !parameter.isEmpty {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].utf8.allSatisfy(\.isTokenCharacter) else { return nil }
            normalized += ";\(pair[0].lowercased())=\(pair[1])"
        }
        return normalized
    }

    /// Whether a browser may show the file in place: images (not SVG, which runs script),
    /// audio and video. Everything else (HTML, SVG, XML, JavaScript, PDF, text…) is served as
    /// an attachment, so an upload never runs as a page of the upload origin.
    static func isInline(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";").first.map { $0.lowercased() } ?? ""
        if media.hasPrefix("audio/") || media.hasPrefix("video/") { return true }
        return ["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp", "image/heic", "image/heif"].contains(media)
    }

    /// `inline` or `attachment`, with the name as RFC 6266 asks: an ASCII fallback and the
    /// UTF-8 name percent-encoded (RFC 8187).
    static func contentDisposition(filename: String, contentType: String) -> String {
        let fallback = String(filename.unicodeScalars.map { $0.isASCII && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
        let kind = Self.isInline(contentType) ? "inline" : "attachment"
        return "\(kind); filename=\"\(fallback)\"; filename*=UTF-8''\(UploadFilename.pathSegment(filename))"
    }

    // MARK: - Ranges

    enum RangeVerdict: Equatable {
        /// No usable Range header: the whole file (RFC 9110 §14.2: invalid ones are ignored).
        case whole
        case partial(first: Int, last: Int)
        case unsatisfiable
    }

    /// One range of `bytes=a-b`, `bytes=a-` or `bytes=-n`; several ranges are answered with the
    /// whole file, which RFC 9110 allows.
    static func range(_ header: String?, size: Int) -> RangeVerdict {
        guard let header = header?.trimmingASCIIWhitespace(), header.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst("bytes=".count).trimmingASCIIWhitespace()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let start = spec[..<dash].trimmingASCIIWhitespace()
        let end = spec[spec.index(after: dash)...].trimmingASCIIWhitespace()
        guard start.utf8.allSatisfy(\.isASCIIDigit), end.utf8.allSatisfy(\.isASCIIDigit), !(start.isEmpty && end.isEmpty) else { return .whole }
        if start.isEmpty {
            // A suffix: the last n bytes.
            guard let count = Int(end) else { return .whole }
            guard count > 0, size > 0 else { return .unsatisfiable }
            return .partial(first: max(0, size - count), last: size - 1)
        }
        guard let first = Int(start) else { return .unsatisfiable }
        let last = end.isEmpty ? size - 1 : (Int(end).map { min($0, size - 1) } ?? size - 1)
        if !end.isEmpty, let requested = Int(end), requested < first { return .whole }
        guard first < size else { return .unsatisfiable }
        return .partial(first: first, last: last)
    }
}

extension UInt8 {
    /// RFC 9110 §5.6.2 token characters.
    fileprivate var isTokenCharacter: Bool {
        if (self >= 0x30 && self <= 0x39) || (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A) { return true }
        return Array("!#$%&'*+-.^_`|~".utf8).contains(self)
    }

    fileprivate var isASCIIDigit: Bool { self >= 0x30 && self <= 0x39 }
}

extension StringProtocol {
    fileprivate func trimmingASCIIWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}
