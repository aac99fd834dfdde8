import Foundation
import NIOCore

/// A room on a MUC service (XEP-0045) and the occupants' nicknames in it.
struct MUCRoom {
    /// `room@service`.
    var jid: String

    func nick(_ index: Int) -> String { "u\(index)" }
}

/// The MUC scenarios (issue 13): groupchat fan-out, and joining a large room.
extension Scenarios {
    struct JoinResult {
        var joined = 0
        var failed = 0
        /// Still waiting for their self-presence when time was up.
        var unfinished = 0
        var notStarted = 0
        var created = false
        /// Per completed join: nanoseconds from join presence to self-presence, and the
        /// presence stanzas from the room before it.
        var latencies: [UInt64] = []
        var presencesBeforeSelf: [Int] = []
    }

    /// Joins the clients `indices` (logged in, scanning stanzas) to `room`: at most
    /// `concurrency` waiting for their self-presence at once and, with `rate` > 0, at most
    /// `rate` joins started a second. Gives up after `timeout` seconds: what is still waiting
    /// counts as `unfinished` (and as an error `no self-presence` if `lateIsError`), what has
    /// not started as `notStarted`. A client that is in stops scanning stanzas. Runs on the loop.
    func join(_ indices: [Int], room: MUCRoom, concurrency: Int, rate: Double, timeout: Double, lateIsError: Bool = true)
        -> EventLoopFuture<JoinResult>
    {
        let driver = self.driver
        let loop = self.loop
        let promise = loop.makePromise(of: JoinResult.self)
        var pending = indices[...]
        var waiting: [Int: (join: RoomJoin, startedAt: UInt64)] = [:]
        var result = JoinResult()
        var started = 0
        var finished = false
        let startedAt = LoadDriver.nowNanoseconds()
        var ticker: RepeatedTask?
        var deadline: Scheduled<Void>?

        func complete() {
            guard !finished else { return }
            finished = true
            driver.onStanza = nil
            ticker?.cancel()
            deadline?.cancel()
            promise.succeed(result)
        }
        func startMore() {
            guard !finished else { return }
            var budget =
                rate > 0 ? Int(Double(LoadDriver.nowNanoseconds() - startedAt) / 1e9 * rate) + 1 - started : Int.max
            while waiting.count < concurrency, budget > 0, let index = pending.popFirst() {
                // A client that did not log in was counted as an error by the driver already.
                guard let connection = driver.ready[index] else { continue }
                let join = RoomJoin(room: room.jid, nick: room.nick(index))
                waiting[index] = (join, LoadDriver.nowNanoseconds())
                connection.send(join.joinStanza)
                started += 1
                budget -= 1
            }
            if pending.isEmpty && waiting.isEmpty { complete() }
        }
        driver.onStanza = { connection, stanza in
            guard var entry = waiting[connection.index] else { return }
            let step = entry.join.received(stanza)
            switch step {
            case .waiting:
                waiting[connection.index] = entry
            case .send(let text):
                waiting[connection.index] = entry
                connection.send(text)
            case .joined(let created):
                waiting.removeValue(forKey: connection.index)
                connection.stopScanningStanzas()
                result.joined += 1
                result.created = result.created || created
                result.latencies.append(LoadDriver.nowNanoseconds() - entry.startedAt)
                result.presencesBeforeSelf.append(entry.join.presencesBeforeSelf)
                startMore()
            case .failed(let reason):
                waiting.removeValue(forKey: connection.index)
                connection.stopScanningStanzas()
                result.failed += 1
                driver.recordError(reason)
                startMore()
            }
        }
        if rate > 0 {
            ticker = loop.scheduleRepeatedTask(initialDelay: .milliseconds(5), delay: .milliseconds(5)) { _ in startMore() }
        }
        deadline = loop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
            for index in waiting.keys {
                driver.ready[index]?.stopScanningStanzas()
                if lateIsError { driver.recordError("no self-presence within \(Int(timeout)) s") }
            }
            result.unfinished = waiting.count
            result.notStarted = pending.count
            waiting.removeAll()
            complete()
        }
        startMore()
        return promise.futureResult
    }

    /// Logs in `indices` (scanning stanzas), then the first joins `room`, creating it if it
    /// does not exist, and the others follow. Joins still waiting after `timeout` are reported
    /// (`joins_unfinished`), not counted as errors: the filling is bounded by design.
    private func fillRoom(
        _ indices: [Int], room: MUCRoom, concurrency: Int, rate: Double, timeout: Double, report: inout Report
    ) async throws -> JoinResult {
        try await self.onLoop {
            self.driver.scansStanzas = true
            return self.driver.openAll(indices, purpose: .login)
        }.get()
        report.values["connections"] = Double(try await self.onLoop { self.driver.ready.count })
        let fillStarted = Date()
        var result = JoinResult()
        if let first = indices.first {
            result = try await self.onLoop { self.join([first], room: room, concurrency: 1, rate: 0, timeout: timeout) }.get()
        }
        let rest = Array(indices.dropFirst())
        if !rest.isEmpty {
            let remaining = max(1, timeout - Date().timeIntervalSince(fillStarted))
            let others = try await self.onLoop {
                self.join(rest, room: room, concurrency: concurrency, rate: rate, timeout: remaining, lateIsError: false)
            }.get()
            result.joined += others.joined
            result.failed += others.failed
            result.unfinished += others.unfinished
            result.notStarted += others.notStarted
            result.latencies += others.latencies
            result.presencesBeforeSelf += others.presencesBeforeSelf
        }
        report.values["room_created"] = result.created ? 1 : 0
        report.values["occupants"] = Double(result.joined)
        report.values["fill_seconds"] = Date().timeIntervalSince(fillStarted)
        report.values["joins_failed"] = Double(result.failed)
        report.values["joins_unfinished"] = Double(result.unfinished)
        report.values["joins_not_started"] = Double(result.notStarted)
        return result
    }

    /// Waits until the server has used under a tenth of a core for half a second (at most
    /// `limit` seconds), so that a backlog of broadcasts is not measured as the next step's
    /// cost. Without a server PID, waits one second.
    func waitForQuietServer(limit: Double) async throws {
        guard !self.serverPIDs.isEmpty else { return try await self.sleep(1) }
        let started = Date()
        while Date().timeIntervalSince(started) < limit {
            guard let before = ProcessSample.read(pids: self.serverPIDs) else { return }
            try await self.sleep(0.5)
            guard let after = ProcessSample.read(pids: self.serverPIDs) else { return }
            if after.cpuSeconds - before.cpuSeconds < 0.05 { return }
        }
    }

    /// `occupants` clients join one room; the first `senders` of them send groupchat messages
    /// flat out, each keeping `window` messages in flight: the room reflects every message to
    /// its sender too (XEP-0045 §7.4), and that copy is the sender's cue for the next one.
    /// Every occupant counts the messages it receives: deliveries/s, end-to-end latency and
    /// server CPU per 1,000 deliveries.
    func muc(room: MUCRoom, occupants: Int, senders: Int, window inFlight: Int, warmup: Double, duration: Double, joinTimeout: Double)
        async throws -> Report
    {
        var report = Report(scenario: "muc")
        let joined = try await self.fillRoom(
            Array(0..<occupants), room: room, concurrency: self.driver.target.concurrency, rate: 0, timeout: joinTimeout, report: &report)
        report.values["join_ms_p50"] = Self.median(joined.latencies).map { Double($0) / 1e6 }
        try await self.waitForQuietServer(limit: 30)
        var sending = true
        var echoes = 0
        let message = { (index: Int, sentAt: UInt64) in
            "<message to='\(room.jid)' type='groupchat'><body>\(MarkerScanner.marker(sentAt: sentAt, sender: index))</body></message>"
        }
        let senderCount = try await self.onLoop { () -> Int in
            self.driver.onMarker = { connection, marker in
                self.driver.recordDelivery(marker)
                // The room's copy of this sender's own message: the next one may go.
                guard marker.sender == connection.index, connection.index < senders else { return }
                if self.driver.recording { echoes += 1 }
                if sending { connection.send(message(connection.index, LoadDriver.nowNanoseconds()), flush: false) }
            }
            self.driver.onReadComplete = { $0.flush() }
            var count = 0
            for index in 0..<senders {
                guard let connection = self.driver.ready[index] else { continue }
                count += 1
                for _ in 0..<max(inFlight, 1) { connection.send(message(index, LoadDriver.nowNanoseconds()), flush: false) }
                connection.flush()
            }
            return count
        }
        report.values["senders"] = Double(senderCount)
        try await self.sleep(warmup)
        let window = try await self.onLoop {
            self.driver.recording = true
            return Window(serverPIDs: self.serverPIDs)
        }
        try await self.sleep(duration)
        let (delivered, sent) = try await self.onLoop {
            self.driver.recording = false
            sending = false
            return (self.driver.delivered, echoes)
        }
        let seconds = window.close(into: &report, serverPIDs: self.serverPIDs)
        report.values["delivered"] = Double(delivered)
        report.values["delivered_per_second"] = Double(delivered) / seconds
        report.values["messages_per_second"] = Double(sent) / seconds
        if let cpu = report.values["server_cpu_seconds"], delivered > 0 {
            report.values["server_cpu_seconds_per_1000"] = cpu / Double(delivered) * 1000
        }
        report.latency(try await self.onLoop { self.driver.deliveryLatency }, prefix: "latency")
        try await self.sleep(1)  // drain what is in flight before logging out
        try await self.onLoop {
            self.driver.onMarker = nil
            self.driver.onReadComplete = nil
            self.driver.scansStanzas = false
            self.driver.closeAll()
        }
        try await self.finish(&report)
        return report
    }

    /// A room of `size` occupants is filled first (at most `fillRate` joins a second, at most
    /// `fillConcurrency` waiting at once, within `fillTimeout` seconds); then, the server idle
    /// again, `joins` more clients join one at a time, each leaving again before the next: the
    /// time from join presence to self-presence (median, min, max), the presence stanzas each
    /// received before its self-presence (the occupant list), and the server's CPU per join.
    func mucJoin(
        room: MUCRoom, size: Int, joins: Int, fillRate: Double, fillConcurrency: Int, fillTimeout: Double, joinTimeout: Double
    ) async throws -> Report {
        var report = Report(scenario: "muc-join")
        let clients = Array(0..<size + joins)
        try await self.onLoop {
            self.driver.scansStanzas = true
            return self.driver.openAll(Array(clients.suffix(joins)), purpose: .login)
        }.get()
        let filled = try await self.fillRoom(
            Array(clients.prefix(size)), room: room, concurrency: fillConcurrency, rate: fillRate, timeout: fillTimeout, report: &report)
        report.values["connections"] = Double(try await self.onLoop { self.driver.ready.count })
        report.values["fill_joins_per_second"] = Double(filled.joined) / max(report.values["fill_seconds"] ?? 1, 0.001)
        var latencies: [UInt64] = []
        var presences: [Int] = []
        var cpu: [Double] = []
        for index in clients.suffix(joins) {
            try await self.waitForQuietServer(limit: 60)
            let before = ProcessSample.read(pids: self.serverPIDs)
            let one = try await self.onLoop { self.join([index], room: room, concurrency: 1, rate: 0, timeout: joinTimeout) }.get()
            if let before, let after = ProcessSample.read(pids: self.serverPIDs) { cpu.append(after.cpuSeconds - before.cpuSeconds) }
            latencies += one.latencies
            presences += one.presencesBeforeSelf
            // Out again, so that every measured join finds the same room.
            try await self.onLoop {
                self.driver.ready[index]?.send("<presence to='\(room.jid)/\(room.nick(index))' type='unavailable'/>")
            }
        }
        report.values["joins_measured"] = Double(latencies.count)
        if let median = Self.median(latencies) {
            report.values["join_ms_p50"] = Double(median) / 1e6
            report.values["join_ms_min"] = Double(latencies.min() ?? 0) / 1e6
            report.values["join_ms_max"] = Double(latencies.max() ?? 0) / 1e6
        }
        report.values["presences_before_self"] = Self.median(presences).map(Double.init)
        // Up to the self-presence only: the newcomer's presence to the others may still be going out.
        report.values["server_cpu_ms_per_join"] = Self.median(cpu).map { $0 * 1000 }
        try await self.onLoop {
            self.driver.scansStanzas = false
            self.driver.closeAll()
        }
        try await self.finish(&report)
        return report
    }

    static func median<T: Comparable>(_ values: [T]) -> T? {
        values.isEmpty ? nil : values.sorted()[values.count / 2]
    }
}
