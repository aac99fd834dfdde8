import Foundation
import Histogram
import NIOCore

/// The measured phases of a run. Each returns the figures it produced; `Report` prints them.
struct Scenarios {
    let driver: LoadDriver
    let serverPIDs: [Int32]

    var loop: any EventLoop { self.driver.loop }

    /// Runs `body` on the driver's event loop, where everything the driver owns lives; the
    /// driver is loop-confined, not Sendable, so the closure is handed over unchecked.
    func onLoop<T>(_ body: @escaping () -> T) async throws -> T {
        let confined = LoopConfined(body)
        return try await self.loop.submit { confined.value() }.get()
    }

    func sleep(_ seconds: Double) async throws {
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
    }

    /// A window over which server and generator CPU and memory are compared.
    struct Window {
        let startedAt = Date()
        let server: ProcessSample?
        let generator: ProcessSample?

        init(serverPIDs: [Int32]) {
            self.server = serverPIDs.isEmpty ? nil : ProcessSample.read(pids: serverPIDs)
            self.generator = ProcessSample.ofThisProcess()
        }

        func close(into report: inout Report, serverPIDs: [Int32]) -> Double {
            let seconds = Date().timeIntervalSince(self.startedAt)
            report.values["seconds"] = seconds
            if let before = self.server, let after = ProcessSample.read(pids: serverPIDs) {
                report.values["server_cpu_seconds"] = after.cpuSeconds - before.cpuSeconds
                report.values["server_rss_kib"] = Double(after.residentKiB)
            }
            if let before = self.generator, let after = ProcessSample.ofThisProcess() {
                report.values["generator_cpu_seconds"] = after.cpuSeconds - before.cpuSeconds
            }
            return seconds
        }
    }

    /// Registers `count` accounts in-band; with `subscribedPairs`, the first 2×pairs accounts
    /// then subscribe to their partner (index ^ 1) both ways, for the presence scenario.
    func register(first: Int, count: Int, subscribedPairs: Int) async throws -> Report {
        var report = Report(scenario: "register")
        let window = Window(serverPIDs: self.serverPIDs)
        try await self.onLoop { self.driver.openAll(Array(first..<first + count), purpose: .register) }.get()
        report.values["registered"] = Double(try await self.onLoop { self.driver.completedLogins })
        _ = window.close(into: &report, serverPIDs: self.serverPIDs)
        if subscribedPairs > 0 {
            try await self.onLoop { self.driver.openAll(Array(0..<2 * subscribedPairs), purpose: .login) }.get()
            for type in ["subscribe", "subscribed"] {
                try await self.onLoop {
                    for (index, connection) in self.driver.ready {
                        connection.send("<presence to='\(self.driver.target.jid(index ^ 1))' type='\(type)'/>")
                    }
                }
                try await self.sleep(2)
            }
            report.values["subscribed_pairs"] = Double(try await self.onLoop { self.driver.ready.count / 2 })
            try await self.onLoop { self.driver.closeAll() }
        }
        try await self.finish(&report)
        return report
    }

    /// `connections` clients log in and stay idle: connections/s while they arrive, and the
    /// server's memory per idle authenticated connection once they settled.
    func idle(connections: Int, settle: Double, hold: Double) async throws -> Report {
        var report = Report(scenario: "idle")
        let baseline = ProcessSample.read(pids: self.serverPIDs)
        let window = Window(serverPIDs: self.serverPIDs)
        try await self.onLoop { self.driver.openAll(Array(0..<connections), purpose: .login) }.get()
        let seconds = window.close(into: &report, serverPIDs: self.serverPIDs)
        let connected = try await self.onLoop { self.driver.ready.count }
        report.values["connections"] = Double(connected)
        report.values["connections_per_second"] = Double(connected) / seconds
        try await self.sleep(settle)
        if let baseline, let settled = ProcessSample.read(pids: self.serverPIDs), connected > 0 {
            report.values["server_rss_baseline_kib"] = Double(baseline.residentKiB)
            report.values["server_rss_kib"] = Double(settled.residentKiB)
            report.values["memory_per_connection_kib"] = Double(settled.residentKiB - baseline.residentKiB) / Double(connected)
        }
        try await self.sleep(hold)
        report.values["still_connected"] = Double(try await self.onLoop { self.driver.ready.count })
        try await self.onLoop { self.driver.closeAll() }
        try await self.finish(&report)
        return report
    }

    /// `pairs` pairs chat. With `rate` 0 flat out: each client keeps `window` messages in
    /// flight to its partner, answering every delivery with a new message. Otherwise the
    /// generator sends `rate` messages a second in total, spread evenly over the clients.
    func chat(pairs: Int, rate: Double, window inFlight: Int, warmup: Double, duration: Double) async throws -> Report {
        try await self.exchange(scenario: "chat", pairs: pairs, rate: rate, inFlight: inFlight, warmup: warmup, duration: duration) {
            index, sentAt in
            "<message to='\(self.driver.target.jid(index ^ 1))' type='chat'><body>\(MarkerScanner.marker(sentAt: sentAt, sender: index))</body></message>"
        }
    }

    /// Every client of `pairs` mutually subscribed pairs changes its status `rate` times a
    /// second in total; each change is broadcast to the partner.
    func presence(pairs: Int, rate: Double, warmup: Double, duration: Double) async throws -> Report {
        try await self.exchange(scenario: "presence", pairs: pairs, rate: max(rate, 1), inFlight: 0, warmup: warmup, duration: duration) {
            index, sentAt in
            "<presence><status>\(MarkerScanner.marker(sentAt: sentAt, sender: index))</status></presence>"
        }
    }

    private func exchange(
        scenario: String, pairs: Int, rate: Double, inFlight: Int, warmup: Double, duration: Double,
        stanza: @escaping (Int, UInt64) -> String
    ) async throws -> Report {
        var report = Report(scenario: scenario)
        let clients = 2 * pairs
        try await self.onLoop { self.driver.openAll(Array(0..<clients), purpose: .login) }.get()
        let connected = try await self.onLoop { self.driver.ready.count }
        report.values["connections"] = Double(connected)
        try await self.sleep(1)  // let initial presence and probes settle
        var sending = true
        let flatOut = rate <= 0
        try await self.onLoop {
            self.driver.onMarker = { connection, marker in
                // Presence also comes back to its sender's own session: not a delivery.
                guard marker.sender != connection.index else { return }
                self.driver.recordDelivery(marker)
                if flatOut && sending { connection.send(stanza(connection.index, LoadDriver.nowNanoseconds()), flush: false) }
            }
            self.driver.onReadComplete = { $0.flush() }
        }
        var ticker: RepeatedTask?
        if flatOut {
            try await self.onLoop {
                for connection in self.driver.ready.values {
                    for _ in 0..<max(inFlight, 1) { connection.send(stanza(connection.index, LoadDriver.nowNanoseconds()), flush: false) }
                    connection.flush()
                }
            }
        } else {
            ticker = try await self.onLoop { self.startTicker(rate: rate, stanza: stanza, sending: { sending }) }
        }
        try await self.sleep(warmup)
        let window = try await self.onLoop {
            self.driver.recording = true
            return Window(serverPIDs: self.serverPIDs)
        }
        try await self.sleep(duration)
        let delivered = try await self.onLoop {
            self.driver.recording = false
            sending = false
            ticker?.cancel()
            return self.driver.delivered
        }
        let seconds = window.close(into: &report, serverPIDs: self.serverPIDs)
        report.values["target_rate"] = rate
        report.values["delivered"] = Double(delivered)
        report.values["delivered_per_second"] = Double(delivered) / seconds
        if let cpu = report.values["server_cpu_seconds"], delivered > 0 {
            report.values["server_cpu_seconds_per_1000"] = cpu / Double(delivered) * 1000
        }
        report.latency(try await self.onLoop { self.driver.deliveryLatency }, prefix: "latency")
        try await self.sleep(1)  // drain what is in flight before logging out
        try await self.onLoop {
            self.driver.onMarker = nil
            self.driver.closeAll()
        }
        try await self.finish(&report)
        return report
    }

    /// Sends `rate` stanzas a second in total, round robin over the ready clients, catching up
    /// every millisecond on what the elapsed time calls for.
    private func startTicker(rate: Double, stanza: @escaping (Int, UInt64) -> String, sending: @escaping () -> Bool) -> RepeatedTask {
        let clients = self.driver.ready.values.sorted { $0.index < $1.index }
        let startedAt = LoadDriver.nowNanoseconds()
        var sent = 0
        var next = 0
        return self.loop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in
            guard sending(), !clients.isEmpty else { return }
            let now = LoadDriver.nowNanoseconds()
            let due = Int(Double(now - startedAt) / 1e9 * rate) - sent
            guard due > 0 else { return }
            var touched: [LoadConnection] = []
            for _ in 0..<due {
                let client = clients[next % clients.count]
                next += 1
                client.send(stanza(client.index, now), flush: false)
                touched.append(client)
            }
            for client in touched { client.flush() }
            sent += due
        }
    }

    /// Logins and logouts: each login takes an account from `first..<first+accounts` that is
    /// not in use, binds, sends presence and logs out at once. With `rate` 0 flat out,
    /// `concurrency` logins at a time; otherwise `rate` logins a second (never more than
    /// `concurrency` at once: what cannot start in time is counted as `behind`).
    func churn(first: Int, accounts: Int, rate: Double, duration: Double) async throws -> Report {
        var report = Report(scenario: "churn")
        if self.driver.target.profile == .fast {
            // Every account logs in once with its password to get a token; the measured logins use tokens.
            try await self.onLoop { self.driver.openAll(Array(first..<first + accounts), purpose: .login) }.get()
            try await self.onLoop { self.driver.closeAll() }
            report.values["tokens"] = Double(try await self.onLoop { self.driver.fastTokens.count })
            try await self.onLoop { self.driver.resetFigures() }
        }
        let window = Window(serverPIDs: self.serverPIDs)
        let finished = try await self.onLoop { () -> EventLoopFuture<(logins: Int, behind: Int)> in
            let driver = self.driver
            let done = self.loop.makePromise(of: (logins: Int, behind: Int).self)
            var free = Array(first..<first + accounts)
            var inFlight: [ObjectIdentifier: Int] = [:]
            var logins = 0
            var behind = 0
            var stopping = false
            let startedAt = LoadDriver.nowNanoseconds()
            var started = 0
            func start() -> Bool {
                guard !stopping, inFlight.count < driver.target.concurrency, let account = free.popLast() else { return false }
                let connection = driver.open(account, purpose: .login)
                inFlight[ObjectIdentifier(connection)] = account
                started += 1
                return true
            }
            driver.onFinished = { connection in
                guard let account = inFlight.removeValue(forKey: ObjectIdentifier(connection)) else { return }
                free.insert(account, at: 0)
                if connection.isReady {
                    logins += 1
                    connection.close()
                    driver.forget(connection)
                }
                if rate <= 0 { _ = start() }
                if stopping && inFlight.isEmpty { done.succeed((logins, behind)) }
            }
            if rate <= 0 {
                while start() {}
            }
            let ticker: RepeatedTask? =
                rate > 0
                ? self.loop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in
                    let due = Int(Double(LoadDriver.nowNanoseconds() - startedAt) / 1e9 * rate) - started
                    for _ in 0..<max(due, 0) where !start() {
                        behind += 1
                        started += 1
                    }
                } : nil
            self.loop.scheduleTask(in: .nanoseconds(Int64(duration * 1e9))) {
                stopping = true
                ticker?.cancel()
                if inFlight.isEmpty { done.succeed((logins, behind)) }
            }
            return done.futureResult
        }.get()
        let seconds = window.close(into: &report, serverPIDs: self.serverPIDs)
        report.values["target_rate"] = rate
        report.values["logins"] = Double(finished.logins)
        report.values["logins_per_second"] = Double(finished.logins) / seconds
        report.values["behind"] = Double(finished.behind)
        let (roundTrips, bytes) = try await self.onLoop { (self.driver.loginRoundTrips, self.driver.loginBytes) }
        if finished.logins > 0 {
            report.values["round_trips_per_login"] = Double(roundTrips) / Double(finished.logins)
            report.values["xmpp_bytes_per_login"] = Double(bytes) / Double(finished.logins)
        }
        if let cpu = report.values["server_cpu_seconds"], finished.logins > 0 {
            report.values["server_cpu_ms_per_login"] = cpu / Double(finished.logins) * 1000
        }
        try await self.finish(&report)
        return report
    }

    func finish(_ report: inout Report) async throws {
        let (latency, errors) = try await self.onLoop { (self.driver.loginLatency, self.driver.errors) }
        report.latency(latency, prefix: "login_latency")
        report.errors = errors
        try await self.onLoop { self.driver.resetFigures() }
    }
}

/// The figures of one scenario, printed for people and as one JSON line for scripts.
struct Report {
    let scenario: String
    var values: [String: Double] = [:]
    var errors: [String: Int] = [:]

    mutating func latency(_ histogram: Histogram<UInt64>, prefix: String) {
        guard histogram.totalCount > 0 else { return }
        for (name, percentile) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)] {
            self.values["\(prefix)_\(name)_ms"] = Double(histogram.valueAtPercentile(percentile)) / 1000
        }
        self.values["\(prefix)_max_ms"] = Double(histogram.max) / 1000
    }

    func print() {
        Swift.print("== \(self.scenario)")
        for key in self.values.keys.sorted() {
            Swift.print("  \(key): \(String(format: "%.3f", self.values[key] ?? 0))")
        }
        let errorTotal = self.errors.values.reduce(0, +)
        Swift.print("  errors: \(errorTotal)")
        for (reason, count) in self.errors.sorted(by: { $0.value > $1.value }).prefix(5) {
            Swift.print("    \(count)× \(reason)")
        }
        var json: [String: Any] = ["scenario": self.scenario, "errors": errorTotal]
        for (key, value) in self.values { json[key] = value }
        if let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]) {
            Swift.print("RESULT " + String(decoding: data, as: UTF8.self))
        }
    }
}
