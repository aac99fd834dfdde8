import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore

/// Measures how late the event loops run what is scheduled on them: once per `interval`, each
/// loop gets a task for a deadline, and how long after the deadline it ran goes into
/// `starling_event_loop_lag_seconds`. A loop busy with one long piece of work (a blocking
/// call, a huge stanza) shows here before connections time out. One pending task per loop;
/// `stop()` cancels them all and none is scheduled afterwards.
final class EventLoopLagMonitor: Sendable {
    private let lag: CoreMetrics.Timer
    private let interval: TimeAmount
    private let scheduled = NIOLockedValueBox<(stopped: Bool, tasks: [ObjectIdentifier: Scheduled<Void>])>((false, [:]))

    init(lag: CoreMetrics.Timer, interval: TimeAmount = .seconds(1)) {
        self.lag = lag
        self.interval = interval
    }

    func start(on group: any EventLoopGroup) {
        for loop in group.makeIterator() { self.scheduleNext(on: loop) }
    }

    private func scheduleNext(on loop: any EventLoop) {
        let deadline = NIODeadline.now() + self.interval
        self.scheduled.withLockedValue { state in
            guard !state.stopped else { return }
            state.tasks[ObjectIdentifier(loop)] = loop.scheduleTask(deadline: deadline) { [weak self] in
                guard let self else { return }
                self.lag.recordNanoseconds(max(0, (NIODeadline.now() - deadline).nanoseconds))
                self.scheduleNext(on: loop)
            }
        }
    }

    func stop() {
        let tasks = self.scheduled.withLockedValue { state in
            state.stopped = true
            defer { state.tasks.removeAll() }
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
    }
}
