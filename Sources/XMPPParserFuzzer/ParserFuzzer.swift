import Foundation
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

#if FUZZING
/// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("XMPPParserFuzzer_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzStreamParser(data, size) }
}
#else
/// Without libFuzzer (an ordinary build) the target replays the files it is given, so a
/// crashing input can be rerun under a debugger: `XMPPParserFuzzer crash-…`.
@main
struct ReplayInputs {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                continue
            }
            let bytes = [UInt8](data)
            _ = bytes.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return CInt(0) }
                return fuzzStreamParser(base, buffer.count)
            }
            print("replayed \(path)")
        }
    }
}
#endif
