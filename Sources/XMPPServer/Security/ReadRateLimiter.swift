import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Shapes how fast one connection may send (a token bucket, as Prosody's limits module does):
/// when the bucket is empty, reading stops until it has refilled. Nothing is dropped; a flood
/// just arrives slowly.
final class ReadRateLimiter: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var bucket: TokenBucket
    private let statistics: ServerStatistics
    private var paused = false

    init(bytesPerSecond: Int, burst: Int, statistics: ServerStatistics) {
        self.bucket = TokenBucket(rate: bytesPerSecond, burst: burst, now: ProcessInfo.processInfo.systemUptime)
        self.statistics = statistics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data).readableBytes
        let wait = self.bucket.take(bytes, now: ProcessInfo.processInfo.systemUptime)
        context.fireChannelRead(data)
        guard wait > 0, !self.paused else { return }
        self.paused = true
        self.statistics.increment(\.throttledReads)
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        context.eventLoop.scheduleTask(in: .milliseconds(Int64(wait * 1000) + 1)) { [weak self] in
            self?.paused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        }
    }
}

/// Counters an operator (and the tests) can read.
public final class ServerStatistics: @unchecked Sendable {
    public struct Values: Sendable {
        public var throttledReads = 0
        public var authenticationLockouts = 0
        public var refusedConnections = 0
        public var slowInputTimeouts = 0
        /// Client connection handlers alive in memory (open or not yet freed).
        public var liveConnectionHandlers = 0
        /// Client streams alive in memory, whatever their transport (open or not yet freed).
        public var liveClientStreams = 0
        /// Client sessions alive in memory (bound, detached, or not yet freed).
        public var liveSessions = 0
        /// Outbound server-to-server streams opened.
        public var outboundStreamsOpened = 0
    }

    private let box = NIOLockedValueBox(Values())

    public var values: Values { self.box.withLockedValue { $0 } }

    func increment(_ keyPath: WritableKeyPath<Values, Int>) {
        self.box.withLockedValue { $0[keyPath: keyPath] += 1 }
    }

    func decrement(_ keyPath: WritableKeyPath<Values, Int>) {
        self.box.withLockedValue { $0[keyPath: keyPath] -= 1 }
    }
}
