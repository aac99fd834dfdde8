import XMPPCore

/// What the server advertised before SASL began, hashed into SCRAM's server-first-message as
/// the `h` attribute (XEP-0474 SASL SCRAM Downgrade Protection, version 0.5.0).
///
/// A man in the middle who holds the server's certificate key can strip the strong SCRAM
/// mechanisms or the better channel-binding types from the stream features. The server
/// puts a hash of what it really advertised in server-first; the client compares it with a
/// hash of what it saw. The client proof covers server-first, so an attacker who edits `h`
/// fails the login too.
///
/// Both sides build the same value: the server from what it offered on this stream, the
/// client from the features it received.
public struct SCRAMDowngradeProtection: Sendable, Hashable {
    /// The SASL mechanism names advertised, as sent (unknown names included).
    public var mechanisms: [String]
    /// The XEP-0440 channel-binding types, or nil when no `<sasl-channel-binding/>` was
    /// advertised (which hashes differently from an empty list).
    public var channelBindingTypes: [String]?

    public init(mechanisms: [String], channelBindingTypes: [String]?) {
        self.mechanisms = mechanisms
        self.channelBindingTypes = channelBindingTypes
    }

    /// The string XEP-0474 §5.1 hashes: mechanisms sorted by octet and joined by U+001E, then,
    /// when channel-binding types were advertised, U+001F and the sorted types joined by U+001E.
    /// The separators cannot occur in XML, so no list can pass for another.
    public var hashInput: [UInt8] {
        var result = Self.joined(self.mechanisms)
        if let types = self.channelBindingTypes {
            result.append(0x1F)
            result += Self.joined(types)
        }
        return result
    }

    /// The `h` attribute's value: the hash input under the SCRAM mechanism's own hash, base64.
    public func attributeValue(hash: SCRAMHash) -> String {
        Base64.encode(hash.hash(self.hashInput))
    }

    /// "i;octet" collation (RFC 4790 §9.3): byte order, whatever the locale.
    private static func joined(_ names: [String]) -> [UInt8] {
        let sorted = names.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        var result: [UInt8] = []
        for (index, name) in sorted.enumerated() {
            if index > 0 { result.append(0x1E) }
            result += name
        }
        return result
    }
}
