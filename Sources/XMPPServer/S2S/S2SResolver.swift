import CResolvShim
import Foundation

/// Where to connect for a remote domain: a static route, then DNS SRV (`_xmpps-server._tcp`
/// for direct TLS, `_xmpp-server._tcp` for STARTTLS) by priority and weight, then the domain
/// itself on 5269 (RFC 6120 §3.2, XEP-0368).
struct S2SResolver: Sendable {
    struct Target: Sendable, Hashable {
        var host: String
        var port: Int
        var directTLS: Bool
    }

    let routes: [String: String]
    let useDNS: Bool

    func targets(for domain: String) -> [Target] {
        if var route = self.routes[domain] {
            // "xmpps://host:port" routes to a direct TLS listener (XEP-0368).
            let directTLS = route.hasPrefix("xmpps://")
            if directTLS { route.removeFirst("xmpps://".count) }
            guard let colon = route.lastIndex(of: ":"), let port = Int(route[route.index(after: colon)...]) else { return [] }
            let host = route[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return [Target(host: host, port: port, directTLS: directTLS)]
        }
        guard self.useDNS else { return [] }
        var targets = Self.srv("_xmpps-server._tcp.\(domain)", directTLS: true) + Self.srv("_xmpp-server._tcp.\(domain)", directTLS: false)
        if targets.isEmpty {
            targets = [Target(host: domain, port: 5269, directTLS: false)]
        }
        return targets
    }

    /// Records ordered by priority, and by weight (RFC 2782) within a priority.
    private static func srv(_ name: String, directTLS: Bool) -> [Target] {
        var buffer = [CChar](repeating: 0, count: 16_384)
        let count = starling_srv_lookup(name, &buffer, Int32(buffer.count))
        guard count > 0 else { return [] }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var records: [(priority: Int, weight: Int, target: Target)] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4, let priority = Int(fields[0]), let weight = Int(fields[1]), let port = Int(fields[2]) else { continue }
            let host = String(fields[3])
            if host == "." { return [] }  // "service not available" (RFC 2782)
            records.append((priority, weight, Target(host: host, port: port, directTLS: directTLS)))
        }
        return self.order(records.map { ($0.priority, $0.weight, $0.target) })
    }

    /// RFC 2782: lowest priority first; within a priority, a weighted random order.
    static func order(_ records: [(priority: Int, weight: Int, target: Target)], random: (Int) -> Int = { Int.random(in: 0..<max($0, 1)) }) -> [Target] {
        var result: [Target] = []
        for priority in Set(records.map(\.priority)).sorted() {
            var group = records.filter { $0.priority == priority }.sorted { $0.weight < $1.weight }
            while !group.isEmpty {
                let total = group.reduce(0) { $0 + $1.weight }
                var pick = random(total + 1)
                var index = 0
                for (position, record) in group.enumerated() {
                    pick -= record.weight
                    index = position
                    if pick <= 0 { break }
                }
                result.append(group.remove(at: index).target)
            }
        }
        return result
    }
}
