import NIOCore
import NIOEmbedded
import Testing
import XMPPCore
@testable import XMPPStream

/// Records events and, on `<starttls/>`, asks for a restart the way the server does.
private final class Recorder: ChannelInboundHandler {
    typealias InboundIn = XMLStreamEvent
    let decoder: XMLStreamDecoderHandler
    var events: [XMLStreamEvent] = []

    init(decoder: XMLStreamDecoderHandler) {
        self.decoder = decoder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let event = self.unwrapInboundIn(data)
        self.events.append(event)
        if case .element(let element) = event, element.name == "starttls" {
            self.decoder.restartStream(discardingBufferedInput: true)
        }
    }
}

@Suite("XMLStreamDecoderHandler")
struct XMLStreamDecoderHandlerTests {
    @Test("bytes pipelined behind <starttls/> in the same read are dropped")
    func starttlsDiscardsPipelinedBytes() throws {
        let decoder = XMLStreamDecoderHandler()
        let recorder = Recorder(decoder: decoder)
        let channel = EmbeddedChannel(handlers: [decoder, recorder])
        let input = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='x' version='1.0'>"
            + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='get' id='evil'/>"
        try channel.writeInbound(ByteBuffer(string: input))
        #expect(recorder.events.count == 2)
        // The next bytes start a new stream: the injected IQ never appears.
        try channel.writeInbound(ByteBuffer(string: "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='x' version='1.0'>"))
        #expect(recorder.events.count == 3)
        guard case .streamOpened = recorder.events[2] else {
            Issue.record("expected a fresh stream header, got \(recorder.events[2])")
            return
        }
        _ = try channel.finish()
    }

    @Test("a parse error is passed on as an error")
    func parseErrorsSurface() throws {
        let channel = EmbeddedChannel(handlers: [XMLStreamDecoderHandler()])
        #expect(throws: XMLStreamError.self) {
            try channel.writeInbound(ByteBuffer(string: "<!DOCTYPE x>"))
        }
        _ = try? channel.finish()
    }

    @Test("pausing holds events until resumed, in order")
    func pauseAndResume() throws {
        let decoder = XMLStreamDecoderHandler()
        let recorder = Recorder(decoder: decoder)
        let channel = EmbeddedChannel(handlers: [decoder, recorder])
        try channel.writeInbound(ByteBuffer(string: "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"))
        decoder.pause()
        try channel.writeInbound(ByteBuffer(string: "<a/><b/>"))
        #expect(recorder.events.count == 1)
        try channel.writeInbound(ByteBuffer(string: "<c/>"))
        #expect(recorder.events.count == 1)
        decoder.resume()
        // Held events come out as they arrived, across reads: a, b, then c.
        let names = recorder.events.dropFirst().map { event -> String in
            if case .element(let element) = event { return element.name }
            return "\(event)"
        }
        #expect(names == ["a", "b", "c"])
        #expect(recorder.events.count == 4)
        _ = try channel.finish()
    }
}

/// Counts the reads the channel asks the socket for.
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0

    func read(context: ChannelHandlerContext) {
        self.reads += 1
        context.read()
    }
}

@Suite("XMLStreamDecoderHandler backpressure")
struct XMLStreamDecoderBackpressureTests {
    @Test("while paused no read reaches the socket; resuming issues the held read once")
    func pausedHoldsReads() throws {
        let counter = ReadCounter()
        let decoder = XMLStreamDecoderHandler()
        let channel = EmbeddedChannel(handlers: [counter, decoder])
        channel.read()
        #expect(counter.reads == 1)
        decoder.pause()
        channel.read()
        channel.read()
        #expect(counter.reads == 1)
        decoder.resume()
        #expect(counter.reads == 2)
        decoder.resume()
        #expect(counter.reads == 2)
        _ = try channel.finish()
    }
}
