import NIOCore
import XMPPCore

/// The output side every stream handler shares (client, server, component): elements and
/// headers as text, and the close with an optional stream error.
struct StreamWriter {
    let serializer: XMLSerializer

    func write(_ text: String, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.write(NIOAny(buffer), promise: promise)
    }

    func write(_ element: Element, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        self.write(self.serializer.string(element), context: context, promise: promise)
    }

    /// Sends the error (if any) and the closing tag, then closes the connection once written.
    func close(with error: StreamError?, context: ChannelHandlerContext) {
        var text = error.map { self.serializer.string($0.element) } ?? ""
        text += StreamHeader.closingTag
        let channel = context.channel
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
        self.write(text, context: context, promise: promise)
        context.flush()
    }
}
