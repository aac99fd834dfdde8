/// An XMPP address (RFC 7622): `localpart@domainpart/resourcepart`, every part prepared.
///
/// Two JIDs are equal when their prepared forms are, so `Juliet@Example.COM` and
/// `juliet@example.com` compare and hash alike.
public struct JID: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let localpart: String?
    public let domainpart: String
    public let resourcepart: String?

    /// Each part of an address may be at most this many octets (RFC 7622 §3.1).
    public static let maxPartBytes = 1023

    /// Parses and prepares an address string (RFC 7622 §3.1 for where each part begins).
    public init(_ string: String) throws(JIDError) {
        if let prepared = Self.alreadyPreparedASCII(string) {
            self = prepared
        } else {
            try self.init(preparing: string)
        }
    }

    /// The full RFC 7622 path: split at the first `/`, then at the `@` before it, and prepare
    /// each part (PRECIS, IDNA).
    init(preparing string: String) throws(JIDError) {
        var rest = Substring(string)
        var resource: Substring?
        if let slash = rest.firstIndex(of: "/") {
            resource = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var local: Substring?
        if let at = rest.firstIndex(of: "@") {
            local = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        try self.init(localpart: local.map(String.init), domainpart: String(rest), resourcepart: resource.map(String.init))
    }

    public init(localpart: String?, domainpart: String, resourcepart: String? = nil) throws(JIDError) {
        if let localpart {
            self.localpart = try Self.prepareLocalpart(localpart)
        } else {
            self.localpart = nil
        }
        self.domainpart = try Self.prepareDomainpart(domainpart)
        if let resourcepart {
            self.resourcepart = try Self.prepareResourcepart(resourcepart)
        } else {
            self.resourcepart = nil
        }
    }

    private init(prepared localpart: String?, domainpart: String, resourcepart: String?) {
        self.localpart = localpart
        self.domainpart = domainpart
        self.resourcepart = resourcepart
    }

    // MARK: - Derived addresses

    public var bare: JID { JID(prepared: self.localpart, domainpart: self.domainpart, resourcepart: nil) }
    public var domain: JID { JID(prepared: nil, domainpart: self.domainpart, resourcepart: nil) }
    public var isBare: Bool { self.resourcepart == nil }
    public var isFull: Bool { self.resourcepart != nil }
    public var isDomainOnly: Bool { self.localpart == nil && self.resourcepart == nil }

    /// This address with another resource, prepared as a resourcepart.
    public func with(resource: String) throws(JIDError) -> JID {
        JID(prepared: self.localpart, domainpart: self.domainpart, resourcepart: try Self.prepareResourcepart(resource))
    }

    public var description: String {
        var result = ""
        if let localpart {
            result += localpart
            result += "@"
        }
        result += self.domainpart
        if let resourcepart {
            result += "/"
            result += resourcepart
        }
        return result
    }

    public static func < (lhs: JID, rhs: JID) -> Bool {
        lhs.description < rhs.description
    }

    // MARK: - Preparation of each part

    /// Characters RFC 7622 §3.3.1 forbids in a localpart on top of the PRECIS profile.
    private static let forbiddenInLocalpart: Set<Unicode.Scalar> = ["\"", "&", "'", "/", ":", "<", ">", "@"]

    public static func prepareLocalpart(_ input: String) throws(JIDError) -> String {
        guard !input.isEmpty else { throw JIDError(.emptyLocalpart) }
        let prepared: String
        do {
            prepared = try PRECIS.usernameCaseMapped(input)
        } catch {
            throw JIDError(.invalidLocalpart(error))
        }
        if prepared.unicodeScalars.contains(where: Self.forbiddenInLocalpart.contains) {
            throw JIDError(.forbiddenCharacterInLocalpart)
        }
        guard prepared.utf8.count <= Self.maxPartBytes else { throw JIDError(.tooLong("localpart")) }
        return prepared
    }

    public static func prepareResourcepart(_ input: String) throws(JIDError) -> String {
        guard !input.isEmpty else { throw JIDError(.emptyResourcepart) }
        let prepared: String
        do {
            prepared = try PRECIS.opaqueString(input)
        } catch {
            throw JIDError(.invalidResourcepart(error))
        }
        guard prepared.utf8.count <= Self.maxPartBytes else { throw JIDError(.tooLong("resourcepart")) }
        return prepared
    }

    public static func prepareDomainpart(_ input: String) throws(JIDError) -> String {
        var domain = Substring(input)
        if domain.hasSuffix(".") { domain = domain.dropLast() }
        guard !domain.isEmpty else { throw JIDError(.emptyDomainpart) }
        guard input.utf8.count <= Self.maxPartBytes else { throw JIDError(.tooLong("domainpart")) }
        if domain.hasPrefix("[") {
            guard domain.hasSuffix("]"), domain.count > 2,
                domain.dropFirst().dropLast().allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." })
            else { throw JIDError(.invalidDomainpart) }
            return domain.lowercased()
        }
        if let ascii = Self.asciiDomain(domain) {
            return ascii
        }
        guard let unicode = ICU.idnaToUnicode(String(domain)), let ascii = ICU.idnaToASCII(unicode),
            !unicode.isEmpty, ascii.utf8.count <= 253
        else {
            throw JIDError(.invalidDomainpart)
        }
        guard unicode.utf8.count <= Self.maxPartBytes else { throw JIDError(.tooLong("domainpart")) }
        return unicode
    }

    /// The common case, parsed in one pass: an ASCII address that preparation would leave as
    /// it is (lower-case localpart of identifier characters, LDH domain, printable resource).
    /// The router parses addresses on every stanza, and the PRECIS and IDNA path costs about a
    /// quarter of the server's CPU there. Anything else returns nil and takes that path.
    static func alreadyPreparedASCII(_ string: String) -> JID? {
        let utf8 = string.utf8
        return utf8.withContiguousStorageIfAvailable { bytes -> JID? in
            var at: Int?
            var slash: Int?
            for (index, byte) in bytes.enumerated() {
                if byte == UInt8(ascii: "/") {
                    slash = index
                    break
                }
                if byte == UInt8(ascii: "@") {
                    guard at == nil else { return nil }
                    at = index
                }
            }
            let domainStart = at.map { $0 + 1 } ?? 0
            let domainEnd = slash ?? bytes.count
            if let at {
                guard at > 0, at <= Self.maxPartBytes else { return nil }
                for byte in bytes[0..<at] {
                    switch byte {
                    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): continue
                    case UInt8(ascii: "A")...UInt8(ascii: "Z"): return nil  // case mapping
                    case UInt8(ascii: "\""), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: ":"), UInt8(ascii: "<"), UInt8(ascii: ">"): return nil
                    case 0x21...0x7E: continue
                    default: return nil
                    }
                }
            }
            guard Self.isPreparedLDHDomain(bytes[domainStart..<domainEnd]) else { return nil }
            if let slash {
                guard slash + 1 < bytes.count, bytes.count - slash - 1 <= Self.maxPartBytes else { return nil }
                for byte in bytes[(slash + 1)...] where !(0x20...0x7E).contains(byte) { return nil }
            }
            func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
            return JID(
                prepared: at.map { text(0..<$0) }, domainpart: text(domainStart..<domainEnd),
                resourcepart: slash.map { text(($0 + 1)..<bytes.count) })
        } ?? nil
    }

    /// Lower-cased LDH domain names (and IPv4 literals) need no IDNA processing.
    private static func asciiDomain(_ domain: Substring) -> String? {
        let lowered = domain.utf8.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }
        return Self.isPreparedLDHDomain(lowered) ? String(decoding: lowered, as: UTF8.self) : nil
    }

    /// "xn--" packed as `isPreparedLDHDomain` packs a label's first four bytes.
    private static let aLabelPrefix: UInt32 = "xn--".utf8.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }

    /// A domain preparation leaves as it is: labels of lower-case letters, digits and inner
    /// hyphens, 1 to 63 bytes each and 253 in all, none of them an A-label (`xn--`, which IDNA
    /// turns into a U-label).
    private static func isPreparedLDHDomain<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        var labelLength = 0
        var labelStart: UInt32 = 0
        var previous = UInt8(ascii: ".")
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                labelLength += 1
            case UInt8(ascii: "-") where previous != UInt8(ascii: "."):
                labelLength += 1
            case UInt8(ascii: ".") where labelLength > 0 && previous != UInt8(ascii: "-"):
                labelLength = 0
                labelStart = 0
                previous = byte
                continue
            default:
                return false
            }
            guard labelLength <= 63 else { return false }
            if labelLength <= 4 {
                labelStart |= UInt32(byte) << (8 * (labelLength - 1))
                if labelLength == 4 && labelStart == Self.aLabelPrefix { return false }
            }
            previous = byte
        }
        return labelLength > 0 && previous != UInt8(ascii: "-")
    }
}

/// Why an address could not be prepared; stanzas answer it with `jid-malformed`.
public struct JIDError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case emptyLocalpart, emptyDomainpart, emptyResourcepart
        case invalidLocalpart(PRECIS.Failure)
        case invalidResourcepart(PRECIS.Failure)
        case forbiddenCharacterInLocalpart
        case invalidDomainpart
        case tooLong(String)
    }

    public var reason: Reason

    public init(_ reason: Reason) {
        self.reason = reason
    }

    public var stanzaError: StanzaError { StanzaError(.jidMalformed) }

    public var description: String {
        switch self.reason {
        case .emptyLocalpart: "the localpart (before @) is empty"
        case .emptyDomainpart: "the domainpart is empty"
        case .emptyResourcepart: "the resourcepart (after /) is empty"
        case .invalidLocalpart(let failure): "the localpart is not a valid username: \(failure.explanation)"
        case .invalidResourcepart(let failure): "the resourcepart is not valid: \(failure.explanation)"
        case .forbiddenCharacterInLocalpart: "the localpart contains one of \" & ' / : < > @"
        case .invalidDomainpart: "the domainpart is not a valid domain name"
        case .tooLong(let part): "the \(part) is longer than \(JID.maxPartBytes) bytes"
        }
    }
}

extension PRECIS.Failure {
    var explanation: String {
        switch self {
        case .empty: "it is empty after preparation"
        case .disallowedCharacter(let scalar): "U+\(String(scalar.value, radix: 16, uppercase: true)) is not allowed"
        case .contextRuleFailed(let scalar): "U+\(String(scalar.value, radix: 16, uppercase: true)) is not allowed in this position"
        case .bidiRuleFailed: "it mixes right-to-left and left-to-right text in a way the Bidi Rule forbids"
        case .unicodeLibraryFailure: "the Unicode library could not process it"
        }
    }
}
