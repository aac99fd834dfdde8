import Testing
@testable import XMPPServer

@Suite("S2SResolver")
struct S2SResolverTests {
    private func target(_ host: String) -> S2SResolver.Target { S2SResolver.Target(host: host, port: 5269, directTLS: false) }

    @Test("lower priority first; within a priority, weight decides the odds (RFC 2782)")
    func ordering() {
        let records = [(priority: 20, weight: 0, target: self.target("backup")), (10, 90, self.target("big")), (10, 10, self.target("small"))]
        #expect(S2SResolver.order(records, random: { _ in 100 }).map(\.host) == ["big", "small", "backup"])
        #expect(S2SResolver.order(records, random: { _ in 5 }).map(\.host) == ["small", "big", "backup"])
        var firsts: [String: Int] = [:]
        for _ in 0..<1000 { firsts[S2SResolver.order(records)[0].host, default: 0] += 1 }
        #expect((firsts["big"] ?? 0) > (firsts["small"] ?? 0))
        #expect(firsts["backup"] == nil)
    }

    @Test("static routes win, and xmpps:// routes use direct TLS")
    func routes() {
        let resolver = S2SResolver(routes: ["a.test": "127.0.0.2:5269", "b.test": "xmpps://[::1]:5270"], useDNS: false)
        #expect(resolver.targets(for: "a.test") == [S2SResolver.Target(host: "127.0.0.2", port: 5269, directTLS: false)])
        #expect(resolver.targets(for: "b.test") == [S2SResolver.Target(host: "::1", port: 5270, directTLS: true)])
        #expect(resolver.targets(for: "c.test").isEmpty)
    }
}
