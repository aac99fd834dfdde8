import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPStream

/// The `/metrics` endpoint of a `kind: metrics` listener (docs/metrics.md), scraped over a real
/// socket while real clients log in, chat and join a room.
@Suite("Metrics endpoint")
struct MetricsIntegrationTests {
    /// Adds a metrics listener on a free loopback port.
    static func withMetrics() -> (inout ServerConfiguration) -> Void {
        { configuration in
            configuration.listeners.append(ServerConfiguration.Listener(kind: .metrics, addresses: ["127.0.0.1"], port: 0, tls: .none))
        }
    }

    @Test("counters move: logins and a failed one, messages in and out, routing time, archive writes, rooms, connections back to zero")
    func countersMove() async throws {
        try await withServer(configure: Self.withMetrics()) { server in
            let port = try #require(server.server.port(for: .metrics))
            try await server.addUser("alice", password: "alice-password")
            try await server.addUser("bob", password: "bob-password")
            let before = try await Scrape(port: port)
            #expect(before.value(MetricNames.logins, ["mechanism": "SCRAM-SHA-256", "outcome": "success"]) == 0)

            let alice = try await server.login("alice", password: "alice-password", resource: "desk")
            let bob = try await server.login("bob", password: "bob-password", resource: "desk")
            await #expect(throws: (any Error).self) {
                _ = try await server.login("bob", password: "wrong-password")
            }
            try await alice.sendPresence()
            try await bob.sendPresence()
            for index in 0..<3 {
                try await alice.sendMessage(to: bob.jid.bare, body: "hello \(index)")
                _ = try await bob.receive { $0.name == "message" && $0.child(named: "body")?.text == "hello \(index)" }
            }
            let room = MUC.room("metrics")
            try await alice.createInstantRoom(room, as: "Alice")
            _ = try await alice.stanzasUntilPing()

            let scrape = try await Scrape(port: port)
            #expect(scrape.contentType.hasPrefix("text/plain; version=0.0.4"))
            #expect(scrape.value(MetricNames.logins, ["mechanism": "SCRAM-SHA-256", "outcome": "success"]) == 2)
            #expect(scrape.value(MetricNames.logins, ["mechanism": "SCRAM-SHA-256", "outcome": "failure"]) == 1)
            #expect(scrape.value(MetricNames.loginFailures, ["reason": "not-authorized"]) == 1)
            #expect((scrape.value(MetricNames.received, ["stream": "c2s", "kind": "message"]) ?? 0) >= 3)
            #expect((scrape.value(MetricNames.sent, ["stream": "c2s", "kind": "message"]) ?? 0) >= 3)
            #expect((scrape.value(MetricNames.received, ["stream": "c2s", "kind": "presence"]) ?? 0) >= 3)
            #expect((scrape.value(MetricNames.received, ["stream": "c2s", "kind": "iq"]) ?? 0) >= 2)
            let routed = try #require(scrape.value("starling_routing_duration_seconds_count", [:]))
            #expect(routed >= 8)
            #expect((scrape.value("starling_routing_duration_seconds_sum", [:]) ?? -1) > 0)
            let archived = scrape.value("starling_storage_operation_duration_seconds_count", ["store": "archive", "operation": "append"])
            #expect((archived ?? 0) >= 3)
            // The failed login's connection may still be closing: only the logged-in ones are exact.
            #expect(scrape.value(MetricNames.connections, ["kind": "c2s_tcp", "state": "authenticated"]) == 2)
            #expect(scrape.value("starling_sessions", [:]) == 2)
            #expect(scrape.value("starling_muc_rooms", [:]) == 1)
            #expect(scrape.value("starling_muc_occupants", [:]) == 1)
            #expect((scrape.value("starling_process_resident_memory_bytes", [:]) ?? 0) > 1_000_000)
            #expect((scrape.value("starling_start_time_seconds", [:]) ?? 0) > 1_700_000_000)
            #expect((scrape.value("starling_uptime_seconds", [:]) ?? -1) >= 0)
            // Every family carries its help and type, as promtool's lint wants.
            for family in scrape.families {
                #expect(scrape.help[family] != nil, "\(family) has no HELP")
                #expect(scrape.types[family] != nil, "\(family) has no TYPE")
            }
            #expect(!scrape.text.contains("@"), "a label carries an address")

            await alice.close()
            await bob.close()
            try await waitUntil("the connections gauge is back to zero") {
                let after = try await Scrape(port: port)
                return after.value(MetricNames.connections, ["kind": "c2s_tcp", "state": "authenticated"]) == 0
                    && after.value(MetricNames.connections, ["kind": "c2s_tcp", "state": "connected"]) == 0
            }
        }
    }

    @Test("connection gauges by kind and state: a component after its handshake, a client before it logs in; both back to zero")
    func connectionStates() async throws {
        let domain = "bot.localhost"
        let secret = "a long shared secret"
        try await withServer(configure: { configuration in
            Self.withMetrics()(&configuration)
            configuration.listeners.append(ServerConfiguration.Listener(kind: .component, addresses: ["127.0.0.1"], port: 0, tls: .starttls))
            configuration.components[domain] = ServerConfiguration.Component(secret: secret)
        }) { server in
            let port = try #require(server.server.port(for: .metrics))
            let component = try await XMPPConnection.connect(host: "127.0.0.1", port: try #require(server.server.port(for: .component)))
            try await component.send(raw: "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='\(domain)'>")
            let streamID = try #require(try await component.expectStreamHeader()[attribute: "id"])
            try await component.send(raw: "<handshake>\(ComponentStreamStateMachine.expectedDigest(streamID: streamID, secret: secret))</handshake>")
            #expect(try await component.nextElement().name == "handshake")
            let (client, _) = try await server.rawStream()

            let open = try await Scrape(port: port)
            #expect(open.value(MetricNames.connections, ["kind": "component", "state": "authenticated"]) == 1)
            #expect(open.value(MetricNames.connections, ["kind": "component", "state": "connected"]) == 0)
            #expect(open.value(MetricNames.connections, ["kind": "c2s_tcp", "state": "connected"]) == 1)
            #expect(open.value(MetricNames.connections, ["kind": "c2s_tcp", "state": "authenticated"]) == 0)

            await component.close()
            await client.close()
            try await waitUntil("both connections are uncounted") {
                let closed = try await Scrape(port: port)
                return closed.value(MetricNames.connections, ["kind": "component", "state": "authenticated"]) == 0
                    && closed.value(MetricNames.connections, ["kind": "c2s_tcp", "state": "connected"]) == 0
            }
        }
    }

    @Test("event-loop lag is measured while the metrics listener runs")
    func eventLoopLag() async throws {
        try await withServer(configure: Self.withMetrics()) { server in
            let port = try #require(server.server.port(for: .metrics))
            // One sample per loop and second: two seconds give at least two.
            try await waitUntil("event-loop lag samples") {
                let scrape = try await Scrape(port: port)
                return (scrape.value("starling_event_loop_lag_seconds_count", [:]) ?? 0) >= 2
            }
            let scrape = try await Scrape(port: port)
            #expect((scrape.value("starling_event_loop_lag_seconds_bucket", ["le": "+Inf"]) ?? 0) >= 2)
        }
    }

    @Test("two servers in one process keep their own counts")
    func registryPerServer() async throws {
        try await withServer(configure: Self.withMetrics()) { first in
            try await withServer(configure: Self.withMetrics()) { second in
                try await first.addUser("alice", password: "alice-password")
                let alice = try await first.login("alice", password: "alice-password")
                let counted = try await Scrape(port: try #require(first.server.port(for: .metrics)))
                let untouched = try await Scrape(port: try #require(second.server.port(for: .metrics)))
                #expect(counted.value(MetricNames.logins, ["mechanism": "SCRAM-SHA-256", "outcome": "success"]) == 1)
                #expect(untouched.value(MetricNames.logins, ["mechanism": "SCRAM-SHA-256", "outcome": "success"]) == 0)
                await alice.close()
            }
        }
    }

    @Test("only GET /metrics is served; other paths and methods are 404")
    func otherPaths() async throws {
        try await withServer(configure: Self.withMetrics()) { server in
            let port = try #require(server.server.port(for: .metrics))
            #expect(try await httpGet(port: port, path: "/").status == 404)
            #expect(try await httpGet(port: port, path: "/metrics/../etc/passwd").status == 404)
            #expect(try await httpRequest(port: port, method: "POST", path: "/metrics").status == 404)
        }
    }

    @Test("off by default: no metrics listener, and the HTTP listener does not serve /metrics")
    func offByDefault() async throws {
        #expect(!ServerConfiguration().listeners.contains { $0.kind == .metrics })
        try await withServer(configure: { configuration in
            configuration.listeners.append(ServerConfiguration.Listener(kind: .http, addresses: ["127.0.0.1"], port: 0, tls: .none))
        }) { server in
            #expect(server.server.port(for: .metrics) == nil)
            let http = try #require(server.server.port(for: .http))
            #expect(try await httpGet(port: http, path: "/metrics").status == 404)
        }
    }

    @Test("the configuration file: kind metrics defaults to plain HTTP on loopback, port 5290; STARTTLS is refused")
    func configuration() throws {
        let configuration = try ConfigurationLoader.load(yaml: "listeners:\n  - kind: metrics\n")
        let listener = try #require(configuration.listeners.first)
        #expect(listener.kind == .metrics && listener.tls == .none && listener.port == 5290)
        #expect(listener.addresses == ["127.0.0.1", "::1"])
        #expect(throws: (any Error).self) {
            _ = try ConfigurationLoader.load(yaml: "listeners:\n  - {kind: metrics, tls: starttls}\n")
        }
    }

    @Test("docs/metrics.md describes every metric the endpoint exports")
    func documented() async throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../docs/metrics.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        try await withServer(configure: Self.withMetrics()) { server in
            let scrape = try await Scrape(port: try #require(server.server.port(for: .metrics)))
            #expect(scrape.families.count >= 14)
            for family in scrape.families {
                #expect(text.contains("`\(family)`"), "docs/metrics.md does not list \(family)")
            }
        }
    }
}

enum MetricNames {
    static let logins = "starling_logins_total"
    static let loginFailures = "starling_login_failures_total"
    static let received = "starling_stanzas_received_total"
    static let sent = "starling_stanzas_sent_total"
    static let connections = "starling_connections"
}

/// One scrape of `/metrics`, parsed from the text exposition format.
struct Scrape {
    let text: String
    let contentType: String
    /// Sample values by `name{label="value",…}` as printed (labels in the server's order).
    private(set) var samples: [String: Double] = [:]
    private(set) var help: [String: String] = [:]
    private(set) var types: [String: String] = [:]

    init(port: Int) async throws {
        let response = try await httpGet(port: port, path: "/metrics")
        try #require(response.status == 200)
        self.text = response.body
        self.contentType = response.headers["content-type"] ?? ""
        for line in self.text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ", maxSplits: 3)
                guard parts.count == 4 else { continue }
                if parts[1] == "HELP" { self.help[String(parts[2])] = String(parts[3]) } else { self.types[String(parts[2])] = String(parts[3]) }
            } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " ") {
                self.samples[String(line[..<space])] = Double(line[line.index(after: space)...])
            }
        }
    }

    /// The metric families, as their TYPE lines name them.
    var families: [String] { self.types.keys.sorted() }

    /// The sample with exactly these labels, matched in any order.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        for (key, value) in self.samples {
            guard key == name || key.hasPrefix(name + "{") else { continue }
            var found: [String: String] = [:]
            if let open = key.firstIndex(of: "{"), key.hasSuffix("}") {
                let inner = key[key.index(after: open)..<key.index(before: key.endIndex)]
                for pair in inner.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    found[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
            }
            if found == labels { return value }
        }
        return nil
    }
}
