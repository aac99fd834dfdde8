import XMPPStorage

/// An administrator asking the server to stop (XEP-0133 shutdown). The server does not stop
/// itself: whoever runs it (`starling serve`) waits for a request beside its signals and
/// shuts down as for SIGTERM, so there is one way to stop.
final class ShutdownRequests: Sendable {
    private let waiters = LockedBox<[CheckedContinuation<Void, Never>]>([])

    /// Returns once a shutdown is requested.
    func wait() async {
        await withCheckedContinuation { continuation in
            self.waiters.withLock { $0.append(continuation) }
        }
    }

    /// Wakes whoever waits, after `seconds`; false when nobody waits (the server runs inside a
    /// test or another program, which stops it itself).
    func request(after seconds: Int) -> Bool {
        guard self.waiters.withLock({ !$0.isEmpty }) else { return false }
        Task {
            if seconds > 0 { try? await Task.sleep(nanoseconds: UInt64(seconds) * 1_000_000_000) }
            let waiting = self.waiters.withLock { waiters in
                defer { waiters.removeAll() }
                return waiters
            }
            for continuation in waiting { continuation.resume() }
        }
        return true
    }
}
