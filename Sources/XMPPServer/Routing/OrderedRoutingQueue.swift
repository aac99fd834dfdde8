import NIOCore
import XMPPCore

/// Routes what one stream received one stanza after another, in the order it arrived
/// (RFC 6120 §10.1), for every kind of stream (client, server, component).
///
/// A task takes what has queued up, routes it, and the next batch starts when it is done. No
/// task lives while the stream is idle: a long-lived task keeps the stack slabs of its deepest
/// call for good, about 10 KiB for every idle connection. Input is paused while too much
/// waits, and resumed once the queue has drained far enough. Loop-confined: every method runs
/// on `eventLoop`.
final class OrderedRoutingQueue {
    enum Work: Sendable {
        case stanza(Element, origin: StanzaOrigin)
        case sessionEnded(ClientSession, SessionPresence)
    }

    private let router: Router
    private let eventLoop: any EventLoop
    private var queue: [Work] = []
    /// The size of the batch a task is routing now; 0 when none runs.
    private var inFlight = 0
    private var pausedInput = false
    private let pauseInput: () -> Void
    private let resumeInput: () -> Void
    static let pauseAbove = 64
    static let resumeBelow = 16

    init(router: Router, eventLoop: any EventLoop, pauseInput: @escaping () -> Void, resumeInput: @escaping () -> Void) {
        self.router = router
        self.eventLoop = eventLoop
        self.pauseInput = pauseInput
        self.resumeInput = resumeInput
    }

    var pending: Int { self.queue.count + self.inFlight }

    func enqueue(_ work: Work) {
        self.queue.append(work)
        if self.inFlight == 0 { self.routeQueuedBatch() }
        if self.pending > Self.pauseAbove && !self.pausedInput {
            self.pausedInput = true
            self.pauseInput()
        }
    }

    private func routeQueuedBatch() {
        let batch = self.queue
        self.queue = []
        self.inFlight = batch.count
        let router = self.router
        let eventLoop = self.eventLoop
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        router.routingTasks.wrappingAdd(1, ordering: .relaxed)
        Task {
            for work in batch {
                switch work {
                case .stanza(let stanza, let origin):
                    let metrics = router.metrics
                    if let stream = origin.metricsStream { metrics.stanzaReceived(stanza, stream: stream) }
                    let started = NIODeadline.now()
                    await router.route(stanza, origin: origin)
                    metrics.routingDuration.recordNanoseconds((NIODeadline.now() - started).nanoseconds)
                case .sessionEnded(let session, let presence):
                    await router.emit(.sessionEnded(session, presence))
                    await router.rerouteUnacknowledged(of: session)
                }
            }
            eventLoop.execute { loopBound.value.routedBatch() }
            router.routingTasks.wrappingSubtract(1, ordering: .releasing)
        }
    }

    private func routedBatch() {
        self.inFlight = 0
        // The next batch starts before reading resumes: resuming parses stanzas at once, and
        // they must queue behind that batch, not start a second task beside it.
        if !self.queue.isEmpty { self.routeQueuedBatch() }
        if self.pausedInput && self.pending < Self.resumeBelow {
            self.pausedInput = false
            self.resumeInput()
        }
    }
}
