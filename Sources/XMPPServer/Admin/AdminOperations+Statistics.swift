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
        let rooms = self.roomActivity
        return AdminServerStatistics(
            startedAt: self.startedAt, uptimeSeconds: Int(Date().timeIntervalSince(self.startedAt)), sessions: sessions.count,
            sessionsByTransport: byTransport, registeredAccounts: try await self.registeredAccountCount(),
            disabledAccounts: self.core.disabledAccounts.all.count, s2sOutboundLinks: links.outbound, s2sInboundStreams: links.inbound,
            activeRooms: rooms.rooms, roomOccupants: rooms.occupants, residentMemoryBytes: Self.residentMemoryBytes())
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
