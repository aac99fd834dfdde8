import Crypto

/// The `tls-exporter` channel binding (RFC 9266) computed from a TLS 1.3 exporter master
/// secret, for TLS stacks that do not export keying material themselves.
///
/// swift-nio-ssl has no `SSL_export_keying_material`, but its key-log callback hands out
/// NSS key-log lines, among them `EXPORTER_SECRET <client_random> <secret>` for TLS 1.3.
/// From that secret RFC 8446 §7.5 derives any exporter:
///
/// ```
/// TLS-Exporter(label, context, length) =
///     HKDF-Expand-Label(Derive-Secret(secret, label, ""), "exporter", Hash(context), length)
/// ```
///
/// The values here were checked against OpenSSL's own exporter (`openssl s_client
/// -keymatexport EXPORTER-Channel-Binding -keymatexportlen 32 -keylogfile …`) for all three
/// TLS 1.3 cipher suites; the test vectors are in `TLSExporter+Tests.swift`.
public enum TLSExporter {
    /// RFC 9266 §2: the label, an empty context and 32 bytes.
    public static let channelBindingLabel = "EXPORTER-Channel-Binding"
    public static let channelBindingLength = 32

    /// The `tls-exporter` channel binding for a connection whose exporter master secret this is.
    ///
    /// The secret's length names the cipher suite's hash: TLS 1.3 secrets are `Hash.length`
    /// bytes, 32 for the SHA-256 suites (AES-128-GCM, ChaCha20-Poly1305) and 48 for
    /// AES-256-GCM-SHA384, which are all the suites TLS 1.3 stacks offer. Nil for any other
    /// length: a binding computed with the wrong hash would only fail the login later.
    public static func channelBinding(exporterSecret secret: [UInt8]) -> [UInt8]? {
        self.export(secret: secret, label: self.channelBindingLabel, context: [], length: self.channelBindingLength)
    }

    /// TLS-Exporter of RFC 8446 §7.5.
    public static func export(secret: [UInt8], label: String, context: [UInt8], length: Int) -> [UInt8]? {
        switch secret.count {
        case SHA256.Digest.byteCount:
            return self.export(SHA256.self, secret: secret, label: label, context: context, length: length)
        case SHA384.Digest.byteCount:
            return self.export(SHA384.self, secret: secret, label: label, context: context, length: length)
        default:
            return nil
        }
    }

    private static func export<H: HashFunction>(_: H.Type, secret: [UInt8], label: String, context: [UInt8], length: Int) -> [UInt8]? {
        let emptyHash = Array(H.hash(data: [UInt8]()))
        guard let derived = self.expandLabel(H.self, secret: secret, label: label, context: emptyHash, length: H.Digest.byteCount) else { return nil }
        return self.expandLabel(H.self, secret: derived, label: "exporter", context: Array(H.hash(data: context)), length: length)
    }

    /// HKDF-Expand-Label of RFC 8446 §7.1; nil where the `HkdfLabel` fields would not fit.
    static func expandLabel<H: HashFunction>(_: H.Type, secret: [UInt8], label: String, context: [UInt8], length: Int) -> [UInt8]? {
        let fullLabel = Array("tls13 \(label)".utf8)
        guard length > 0, length <= Int(UInt16.max), length <= 255 * H.Digest.byteCount, fullLabel.count <= 255, context.count <= 255 else {
            return nil
        }
        var info: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xFF), UInt8(fullLabel.count)]
        info += fullLabel
        info.append(UInt8(context.count))
        info += context
        let key = HKDF<H>.expand(pseudoRandomKey: SymmetricKey(data: secret), info: info, outputByteCount: length)
        return key.withUnsafeBytes { Array($0) }
    }
}

/// One line of the NSS key-log format that carries a TLS 1.3 exporter master secret.
public struct TLSExporterSecretLine: Sendable {
    /// The ClientHello random, which names the connection.
    public var clientRandom: [UInt8]
    public var secret: [UInt8]

    /// Parses `EXPORTER_SECRET <64 hex digits> <hex>` (a trailing newline allowed); nil for
    /// every other line, so a key-log callback can pass everything it is given.
    public init?(_ line: some Collection<UInt8>) {
        let prefix = Array("EXPORTER_SECRET ".utf8)
        guard line.starts(with: prefix) else { return nil }
        var bytes = Array(line.dropFirst(prefix.count))
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        let fields = bytes.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard fields.count == 2, let random = Self.hex(fields[0]), random.count == 32, let secret = Self.hex(fields[1]), !secret.isEmpty else {
            return nil
        }
        self.clientRandom = random
        self.secret = secret
    }

    private static func hex(_ digits: some Collection<UInt8>) -> [UInt8]? {
        guard digits.count % 2 == 0 else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(digits.count / 2)
        var high: UInt8?
        for digit in digits {
            let value: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let first = high {
                result.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return result
    }
}
