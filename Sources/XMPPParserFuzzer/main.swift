import XMPPCore

/// libFuzzer entry point: feeds the input to the stream parser in two pieces, split at a
/// position taken from the first byte, and drains every event. A crash, a trap or a hang is
/// a finding; a thrown `XMLStreamError` is the expected answer to bad input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let first = bytes.first else { return 0 }
    let split = min(Int(first), bytes.count)
    var parser = XMLStreamParser(limits: XMLParserLimits(maxStanzaBytes: 65_536))
    for piece in [bytes[..<split], bytes[split...]] {
        parser.feed(piece)
        while true {
            do {
                guard let event = try parser.nextEvent() else { break }
                if case .element(let element) = event {
                    _ = XMLSerializer.stream(contentNamespace: XMPPNamespace.client).string(element)
                    _ = element.to
                }
            } catch {
                return 0
            }
        }
    }
    return 0
}
