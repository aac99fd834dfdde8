import NIOCore

/// Finds the ClientHello random at the start of a TLS connection (RFC 8446 §4.1.2).
///
/// The NSS key log names each connection by this random, and swift-nio-ssl does not say
/// which random a connection has; the server reads it off the wire. Records may split the
/// ClientHello anywhere, so record payloads are joined until the handshake header, the
/// legacy version and the 32 random bytes are in.
public struct TLSClientRandomParser: Sendable {
    public enum Result: Sendable, Hashable {
        case needMoreData
        case found([UInt8])
        /// Not a TLS handshake, or more bytes than any ClientHello puts before its random.
        case giveUp
    }

    private var pending: [UInt8] = []
    private var handshake: [UInt8] = []
    private var records = 0
    private var done = false

    /// A ClientHello puts its random 38 bytes into the handshake stream; a peer that needs
    /// more than a few records for that is not one we bind to.
    private static let maximumRecords = 8

    public init() {}

    public mutating func consume(_ bytes: some Collection<UInt8>) -> Result {
        guard !self.done else { return .giveUp }
        self.pending += bytes
        while self.pending.count >= 5 {
            // TLSPlaintext: type 22 (handshake), legacy version 3.x, then a 16-bit length.
            guard self.pending[0] == 22, self.pending[1] == 3 else { return self.finish(.giveUp) }
            let length = Int(self.pending[3]) << 8 | Int(self.pending[4])
            guard length > 0 else { return self.finish(.giveUp) }
            let available = min(length, self.pending.count - 5)
            self.handshake += self.pending[5..<(5 + available)]
            if available < length {
                // Keep the header with a shortened length so the rest of this record follows.
                let remaining = length - available
                self.pending = [22, self.pending[1], self.pending[2], UInt8(remaining >> 8), UInt8(remaining & 0xFF)]
            } else {
                self.pending.removeFirst(5 + length)
                self.records += 1
            }
            if self.handshake.count >= 38 {
                // Handshake type 1 (client_hello), a 24-bit length, the legacy version, the random.
                guard self.handshake[0] == 1 else { return self.finish(.giveUp) }
                return self.finish(.found(Array(self.handshake[6..<38])))
            }
            if self.records >= Self.maximumRecords { return self.finish(.giveUp) }
            if available < length { return .needMoreData }
        }
        return .needMoreData
    }

    private mutating func finish(_ result: Result) -> Result {
        self.done = true
        self.pending = []
        self.handshake = []
        return result
    }
}

/// Fired down the pipeline by `TLSClientRandomHandler` once the ClientHello random is known,
/// before the TLS handler sees the bytes that complete the ClientHello.
public struct TLSClientRandomEvent: Sendable, Hashable {
    public var clientRandom: [UInt8]
}

/// Sits in front of the server's TLS handler, copies the ClientHello random out of the first
/// bytes as they pass (changing nothing), announces it with `TLSClientRandomEvent`, and
/// removes itself. The event goes out before the bytes are passed on, so whoever waits for
/// the random has it before the TLS handler can finish the handshake and log its secrets.
public final class TLSClientRandomHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private var parser = TLSClientRandomParser()

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        let result = self.parser.consume(buffer.readableBytesView)
        switch result {
        case .needMoreData:
            context.fireChannelRead(data)
        case .found(let random):
            context.fireUserInboundEventTriggered(TLSClientRandomEvent(clientRandom: random))
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        case .giveUp:
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}
