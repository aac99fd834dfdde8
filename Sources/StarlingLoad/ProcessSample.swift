import Foundation

/// A process's resident memory and CPU time, read from /proc, for the server under test (by
/// PID, possibly several: ejabberd's node is more than one process) and for the generator.
struct ProcessSample {
    var residentKiB: Int
    var cpuSeconds: Double

    static func read(pids: [Int32]) -> ProcessSample? {
        var total = ProcessSample(residentKiB: 0, cpuSeconds: 0)
        for pid in pids {
            guard let sample = Self.read(path: "/proc/\(pid)") else { return nil }
            total.residentKiB += sample.residentKiB
            total.cpuSeconds += sample.cpuSeconds
        }
        return total
    }

    static func ofThisProcess() -> ProcessSample? {
        Self.read(path: "/proc/self")
    }

    private static func read(path: String) -> ProcessSample? {
        guard let status = try? String(contentsOfFile: path + "/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: path + "/stat", encoding: .utf8)
        else { return nil }
        let rssLine = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        let residentKiB = rssLine.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        // Fields after the parenthesised command name, which may itself contain spaces.
        guard let afterName = stat.range(of: ")", options: .backwards)?.upperBound else { return nil }
        let fields = stat[afterName...].split(separator: " ")
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessSample(residentKiB: residentKiB, cpuSeconds: (user + system) / ticksPerSecond)
    }
}
