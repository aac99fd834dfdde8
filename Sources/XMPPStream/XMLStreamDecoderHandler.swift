import NIOCore
import XMPPCore

/// Turns bytes into stream events with `XMLStreamParser`.
///
/// The handler after it may, while handling an event, ask for the stream to be restarted
/// (`restartStream(discardingBufferedInput:)`): the rest of what was read is then either
/// dropped (STARTTLS: bytes pipelined behind `<starttls/>` were sent in plaintext and must
/// never be parsed as the encrypted stream) or parsed as the start of the new stream (SASL).
///
/// While paused it also holds back the channel's reads, so a peer that sends faster than its
/// stanzas are handled fills its own socket buffer, not the server's memory.
public final class XMLStreamDecoderHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = XMLStreamEvent
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var parser: XMLStreamParser
    private var failed = false
    private var discardRequested = false
    private var paused = false
    private var draining = false
    /// A read the channel asked for while paused, issued on `resume()`.
    private var heldRead = false
    private var context: ChannelHandlerContext?

    public init(limits: XMLParserLimits = XMLParserLimits()) {
        self.parser = XMLStreamParser(limits: limits)
    }

    public var limits: XMLParserLimits {
        get { self.parser.limits }
        set { self.parser.limits = newValue }
    }

    /// Since when the input has held an unfinished element (nil when it holds none).
    public private(set) var unfinishedSince: NIODeadline?

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.failed else { return }
        let buffer = self.unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { self.parser.feed($0) }
        self.drain(context: context)
    }

    /// Stops delivering events and reading from the socket until `resume()`; what was read
    /// already stays buffered.
    public func pause() {
        self.paused = true
    }

    public func resume() {
        guard self.paused else { return }
        self.paused = false
        guard let context = self.context else { return }
        self.drain(context: context)
        if self.heldRead && !self.paused {
            self.heldRead = false
            context.read()
        }
    }

    public var isPaused: Bool { self.paused }

    public func read(context: ChannelHandlerContext) {
        if self.paused {
            self.heldRead = true
        } else {
            context.read()
        }
    }

    private func drain(context: ChannelHandlerContext) {
        self.draining = true
        defer { self.draining = false }
        while !self.failed && !self.paused {
            let event: XMLStreamEvent?
            do {
                event = try self.parser.nextEvent()
            } catch {
                self.failed = true
                context.fireErrorCaught(error)
                return
            }
            guard let event else {
                if self.parser.hasUnfinishedInput {
                    if self.unfinishedSince == nil { self.unfinishedSince = .now() }
                } else {
                    self.unfinishedSince = nil
                    self.parser.releaseConsumedInput()
                }
                return
            }
            self.unfinishedSince = nil
            context.fireChannelRead(self.wrapInboundOut(event))
            if self.discardRequested {
                self.discardRequested = false
                return
            }
        }
    }

    /// Starts a new stream on the same connection (RFC 6120 §4.3.3).
    public func restartStream(discardingBufferedInput: Bool) {
        let limits = self.parser.limits
        if discardingBufferedInput {
            self.parser = XMLStreamParser(limits: limits)
            // Stop the loop that is handing out events from the old buffer, if one is running.
            self.discardRequested = self.draining
        } else {
            self.parser.restartKeepingBufferedInput()
        }
    }
}
