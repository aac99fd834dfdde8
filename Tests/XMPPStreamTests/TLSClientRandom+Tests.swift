import NIOCore
import NIOEmbedded
import Testing
@testable import XMPPStream

/// The start of a ClientHello: handshake type 1, a 24-bit length, legacy version 3.3, the
/// random, then the rest (session ID, suites…), here filler.
private let random: [UInt8] = (0..<32).map { UInt8(0xA0 &+ $0) }
private let clientHello: [UInt8] = [1, 0, 0, 200, 3, 3] + random + [UInt8](repeating: 0x42, count: 200 - 34)

private func record(_ fragment: some Collection<UInt8>) -> [UInt8] {
    [22, 3, 1, UInt8(fragment.count >> 8), UInt8(fragment.count & 0xFF)] + fragment
}

@Suite("ClientHello random")
struct TLSClientRandomTests {
    @Test("found in one record, whether it arrives at once or byte by byte")
    func oneRecord() {
        var whole = TLSClientRandomParser()
        #expect(whole.consume(record(clientHello)) == .found(random))

        var drip = TLSClientRandomParser()
        let bytes = record(clientHello)
        var results: [TLSClientRandomParser.Result] = []
        for byte in bytes {
            let result = drip.consume([byte])
            results.append(result)
            if result != .needMoreData { break }
        }
        #expect(results.last == .found(random))
        // Found as soon as the random's last byte is in: 5 record + 6 handshake + 32 bytes.
        #expect(results.count == 43)
    }

    @Test("found when records split the ClientHello before or inside the random")
    func splitRecords() {
        for cut in [1, 4, 6, 20, 37] {
            var parser = TLSClientRandomParser()
            let bytes = record(clientHello[..<cut]) + record(clientHello[cut...])
            #expect(parser.consume(bytes) == .found(random), "cut at \(cut)")
        }
    }

    @Test("anything but a ClientHello in a handshake record is given up on", arguments: [
        Array("<?xml version='1.0'?><stream:stream".utf8),
        [23, 3, 3, 0, 50] + [UInt8](repeating: 0, count: 50),
        record([2, 0, 0, 200, 3, 3] + random),
        [22, 3, 1, 0, 0],
    ])
    func notAClientHello(_ bytes: [UInt8]) {
        var parser = TLSClientRandomParser()
        #expect(parser.consume(bytes) == .giveUp)
        #expect(parser.consume(record(clientHello)) == .giveUp)
    }

    @Test("a ClientHello spread over too many tiny records is given up on")
    func tooManyRecords() {
        var parser = TLSClientRandomParser()
        var bytes: [UInt8] = []
        for byte in clientHello.prefix(20) { bytes += record([byte]) }
        #expect(parser.consume(bytes) == .giveUp)
    }

    @Test("the handler announces the random before passing the bytes on unchanged, then leaves")
    func handler() throws {
        let recorder = EventRecorder()
        let channel = EmbeddedChannel(handlers: [TLSClientRandomHandler(), recorder])
        let bytes = record(clientHello)
        try channel.writeInbound(channel.allocator.buffer(bytes: bytes[..<30]))
        try channel.writeInbound(channel.allocator.buffer(bytes: bytes[30...]))
        #expect(recorder.log == ["read 30", "random", "read \(bytes.count - 30)"])
        #expect(recorder.random == random)
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: TLSClientRandomHandler.self) }
        try channel.writeInbound(channel.allocator.buffer(bytes: [1, 2, 3]))
        #expect(recorder.log.last == "read 3")
        _ = try channel.finish()
    }
}

private final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var log: [String] = []
    var random: [UInt8]?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.log.append("read \(self.unwrapInboundIn(data).readableBytes)")
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSClientRandomEvent {
            self.log.append("random")
            self.random = event.clientRandom
        }
    }
}
