import Foundation

extension AdminOperations {
    /// Uptime, sessions by transport, accounts, federation links, chat rooms in use and memory.
    public func statistics() async throws(AdminError) -> AdminServerStatistics {
        var byTransport: [String: Int] = [:]
        let sessions = self.core.sessions.allSessions()
        for (session, _) in sessions {
            let key = await session.connectionInfo()?.transport.rawValue ?? AdminStreamManagement.detached.rawValue
            byTransport[key, default: 0] += 1
        }
        let links = self.s2s?.linkCounts ?? (outbound: 0, inbound: 0)
        let now = Date()
        let routed = self.core.router.messagesRouted.load(ordering: .relaxed)
        let rate = self.messageRate.withLock { rate in rate.sample(routed, at: now) }
        let rooms = self.roomActivity
        return AdminServerStatistics(
            startedAt: self.startedAt, uptimeSeconds: Int(Date().timeIntervalSince(self.startedAt)), sessions: sessions.count,
            sessionsByTransport: byTransport, registeredAccounts: try await self.registeredAccountCount(),
            disabledAccounts: self.core.disabledAccounts.all.count, s2sOutboundLinks: links.outbound, s2sInboundStreams: links.inbound,
            s2sPeers: self.s2s?.outboundDomains ?? [], messagesRouted: routed, messagesPerSecond: rate,
            activeRooms: rooms.rooms, roomOccupants: rooms.occupants, residentMemoryBytes: Self.residentMemoryBytes())
    }

    /// A rate from a running total: the average since the sample it keeps, which it replaces
    /// once that is ten seconds old, so that a dashboard reloaded often still shows a rate over
    /// a useful span.
    struct RateSampler {
        var time: Date
        var total = 0

        mutating func sample(_ total: Int, at now: Date) -> Double {
            let seconds = now.timeIntervalSince(self.time)
            let rate = seconds > 0 ? Double(total - self.total) / seconds : 0
            if seconds >= 10 {
                self.time = now
                self.total = total
            }
            return (rate * 10).rounded() / 10
        }
    }

    /// VmRSS from /proc/self/status (Linux); nil elsewhere.
    static func residentMemoryBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        let kilobytes = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) }
        return kilobytes.map { $0 * 1024 }
    }
}
