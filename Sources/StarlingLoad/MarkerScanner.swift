/// Finds the timestamps the load generator writes into message bodies and presence status,
/// `~LT<send time in ns>.<sender index>~`, in the raw bytes a server delivers, without parsing
/// the XML: the generator must stay cheaper than the server it measures. Servers re-serialise
/// stanzas in their own ways, but character data made of digits survives unchanged.
struct MarkerScanner {
    struct Marker: Equatable {
        var sentAt: UInt64
        var sender: Int
    }

    static let longestMarker = 3 + 20 + 1 + 20 + 1

    /// The start of a marker cut off at the end of the previous read.
    private var carry: [UInt8] = []
    /// Set once the server's `</stream:stream>` or a stream error went by.
    private(set) var sawStreamEnd = false

    static func marker(sentAt: UInt64, sender: Int) -> String {
        "~LT\(sentAt).\(sender)~"
    }

    mutating func scan(_ bytes: UnsafeRawBufferPointer, found: (Marker) -> Void) {
        if self.carry.isEmpty {
            self.scanContiguous(bytes, found: found)
        } else {
            let joined = self.carry + Array(bytes)
            self.carry.removeAll(keepingCapacity: true)
            joined.withUnsafeBytes { self.scanContiguous($0, found: found) }
        }
    }

    private mutating func scanContiguous(_ bytes: UnsafeRawBufferPointer, found: (Marker) -> Void) {
        let count = bytes.count
        var index = 0
        while index < count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "<") {
                if Self.matches(bytes, at: index, "</stream:stream") || Self.matches(bytes, at: index, "<stream:error") {
                    self.sawStreamEnd = true
                }
                index += 1
                continue
            }
            guard byte == UInt8(ascii: "~") else {
                index += 1
                continue
            }
            switch Self.parseMarker(bytes, at: index) {
            case .complete(let marker, let length):
                found(marker)
                index += length
            case .incomplete:
                self.carry = Array(bytes[index..<count])
                return
            case .notAMarker:
                index += 1
            }
        }
    }

    private enum Parsed {
        case complete(Marker, length: Int)
        case incomplete
        case notAMarker
    }

    private static func parseMarker(_ bytes: UnsafeRawBufferPointer, at start: Int) -> Parsed {
        let count = bytes.count
        let prefix: [UInt8] = [UInt8(ascii: "~"), UInt8(ascii: "L"), UInt8(ascii: "T")]
        var index = start
        for expected in prefix {
            guard index < count else { return .incomplete }
            guard bytes[index] == expected else { return .notAMarker }
            index += 1
        }
        var sentAt: UInt64 = 0
        var sender = 0
        var digits = 0
        var inSender = false
        while index < count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits += 1
                guard digits <= 20 else { return .notAMarker }
                if inSender {
                    sender = sender &* 10 &+ Int(byte - UInt8(ascii: "0"))
                } else {
                    sentAt = sentAt &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
                }
            case UInt8(ascii: ".") where !inSender && digits > 0:
                inSender = true
                digits = 0
            case UInt8(ascii: "~") where inSender && digits > 0:
                return .complete(Marker(sentAt: sentAt, sender: sender), length: index - start)
            default:
                return .notAMarker
            }
        }
        return index - start < Self.longestMarker ? .incomplete : .notAMarker
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, at start: Int, _ text: StaticString) -> Bool {
        let length = text.utf8CodeUnitCount
        guard start + length <= bytes.count else { return false }
        return text.withUTF8Buffer { expected in
            for offset in 0..<length where bytes[start + offset] != expected[offset] { return false }
            return true
        }
    }
}
