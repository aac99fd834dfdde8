import Foundation
import NIOConcurrencyHelpers

/// Defences that span connections: authentication failures per address and per account
/// (a growing delay, then a temporary refusal), and caps on connections that have not
/// authenticated yet, per address and in total.
final class AbuseControls: @unchecked Sendable {
    private let lock = NIOLock()
    private let limits: ServerConfiguration.Limits
    private var failures: [String: [Date]] = [:]
    private var unauthenticated: [String: Int] = [:]
    private var unauthenticatedTotal = 0
    private static let window: TimeInterval = 900

    init(limits: ServerConfiguration.Limits) {
        self.limits = limits
    }

    // MARK: - Authentication failures

    private static func keys(address: String, account: String?) -> [String] {
        ["ip:" + address] + (account.map { ["account:" + $0] } ?? [])
    }

    private func recent(_ key: String, now: Date) -> [Date] {
        (self.failures[key] ?? []).filter { now.timeIntervalSince($0) < Self.window }
    }

    /// Records a failure; returns how long to wait before answering it.
    func authenticationFailed(address: String, account: String?) -> TimeAmountSeconds {
        let now = Date()
        return self.lock.withLock {
            var worst = 0
            for key in Self.keys(address: address, account: account) {
                var times = self.recent(key, now: now)
                times.append(now)
                self.failures[key] = times
                worst = max(worst, times.count)
            }
            // 0.25 s, 0.5 s, 1 s … up to 8 s.
            return min(0.25 * pow(2, Double(worst - 1)), 8)
        }
    }

    /// True when the address or the account failed too often recently.
    func isLockedOut(address: String, account: String?) -> Bool {
        let now = Date()
        return self.lock.withLock {
            Self.keys(address: address, account: account).contains { self.recent($0, now: now).count >= self.limits.authenticationLockoutFailures }
        }
    }

    // MARK: - Unauthenticated connections

    /// Counts a new connection; false when its address or the server has too many already.
    func connectionOpened(address: String) -> Bool {
        self.lock.withLock {
            guard self.unauthenticatedTotal < self.limits.maxUnauthenticatedConnections,
                (self.unauthenticated[address] ?? 0) < self.limits.maxUnauthenticatedPerAddress
            else { return false }
            self.unauthenticated[address, default: 0] += 1
            self.unauthenticatedTotal += 1
            return true
        }
    }

    /// The connection authenticated or closed.
    func connectionLeftUnauthenticated(address: String) {
        self.lock.withLock {
            guard let count = self.unauthenticated[address] else { return }
            self.unauthenticated[address] = count > 1 ? count - 1 : nil
            self.unauthenticatedTotal -= 1
        }
    }
}

typealias TimeAmountSeconds = Double

/// A token bucket for read-rate shaping: `rate` bytes per second, up to `burst` at once.
struct TokenBucket: Sendable {
    let rate: Double
    let burst: Double
    private(set) var tokens: Double
    private var updated: Double

    init(rate: Int, burst: Int, now: Double) {
        self.rate = Double(rate)
        self.burst = Double(max(burst, rate))
        self.tokens = self.burst
        self.updated = now
    }

    /// Takes `bytes`; returns how many seconds to pause reading (0 when there was enough).
    mutating func take(_ bytes: Int, now: Double) -> Double {
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= Double(bytes)
        return self.tokens >= 0 ? 0 : -self.tokens / self.rate
    }

    /// Gives back what a refused request took, so refusals do not push the wait further out.
    mutating func refund(_ count: Int) {
        self.tokens = min(self.burst, self.tokens + Double(count))
    }
}
