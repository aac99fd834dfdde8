import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import XMPPSASL
import XMPPServer
import XMPPServerModules

@testable import StarlingLoad

/// The generator against a real Starling on loopback: what it reports must be what happened.
@Suite(.serialized) struct ScenarioTests {
    private func withServer(_ body: (XMPPServer, Int) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = NSTemporaryDirectory() + "starling-load-test-" + UUID().uuidString
        configuration.listeners = [ServerConfiguration.Listener(kind: .c2s, addresses: ["127.0.0.1"], port: 0, tls: .starttls)]
        configuration.modules.registration = true
        configuration.modules.registrationsPerIPPerHour = 1000
        configuration.logLevel = .warning
        var logger = Logger(label: "starling-load-test")
        logger.logLevel = .warning
        let server = try XMPPServer(configuration: configuration, modules: DefaultModules.modules(for: configuration), logger: logger)
        try await server.start()
        do {
            try await body(server, server.port(for: .starttls) ?? 0)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
        try? FileManager.default.removeItem(atPath: configuration.dataDirectory)
    }

    private func scenarios(
        port: Int, mechanism: LoginMachine.Mechanism, profile: LoginMachine.Profile = .rfc6120, group: MultiThreadedEventLoopGroup
    ) throws -> Scenarios {
        let target = LoadTarget(
            host: "127.0.0.1", port: port, domain: "localhost", sources: ["127.0.0.1", "127.0.0.2"], security: .starttls,
            mechanism: mechanism, profile: profile, userPrefix: "load", password: "load-password", concurrency: 4, timeout: .seconds(10))
        let driver = try LoadDriver(target: target, loop: group.next(), saltedPasswordCache: SCRAMSaltedPasswordCache())
        return Scenarios(driver: driver, serverPIDs: [getpid()])
    }

    @Test func registersChatsAndChurnsAgainstARealServer() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await self.withServer { server, port in
            let load = try self.scenarios(port: port, mechanism: .scramSHA1, group: group)
            let registered = try await load.register(first: 0, count: 6, subscribedPairs: 1)
            #expect(registered.values["registered"] == 6)
            #expect(registered.values["subscribed_pairs"] == 1)
            #expect(registered.errors.isEmpty)

            let idle = try await load.idle(connections: 6, settle: 0.2, hold: 0)
            #expect(idle.values["connections"] == 6)
            #expect(idle.values["still_connected"] == 6)
            #expect(idle.values["memory_per_connection_kib"] != nil)

            // How many arrive in the window is the machine's business (a full-suite run on two
            // cores delivered 7 in half a second); that they arrive and are timed is the generator's.
            let chat = try await load.chat(pairs: 2, rate: 0, window: 2, warmup: 0.2, duration: 1)
            #expect(chat.errors.isEmpty)
            #expect((chat.values["delivered"] ?? 0) > 0)
            #expect((chat.values["latency_p99_ms"] ?? 0) > 0)
            #expect(chat.values["server_cpu_seconds"] != nil)

            // Paced runs: how close the delivered rate comes to the target depends on the machine
            // (this one is shared), so it is a benchmark figure (scripts/bench-compare.sh), not
            // a test. What must hold on any machine: the run is clean, messages arrive, and the
            // report says which rate was asked for.
            let paced = try await load.chat(pairs: 2, rate: 200, window: 0, warmup: 0.2, duration: 1)
            #expect(paced.errors.isEmpty)
            #expect(paced.values["connections"] == 4)
            #expect(paced.values["target_rate"] == 200)
            #expect((paced.values["delivered"] ?? 0) > 0)

            let presence = try await load.presence(pairs: 1, rate: 50, warmup: 0.2, duration: 1)
            #expect(presence.errors.isEmpty)
            #expect(presence.values["connections"] == 2)
            #expect((presence.values["delivered"] ?? 0) > 0)

            let churn = try await load.churn(first: 0, accounts: 6, rate: 0, duration: 0.5)
            #expect(churn.errors.isEmpty)
            #expect((churn.values["logins"] ?? 0) > 2)
            // TCP, STARTTLS's header and <starttls/>, TLS, header, <auth/>, <response/>, the
            // restarted header, <bind/>.
            #expect(churn.values["round_trips_per_login"] == 9)
        }
        try await group.shutdownGracefully()
    }

    /// A reconnect with SASL2 and Bind 2 costs two round trips fewer than RFC 6120's, one more
    /// fewer with a FAST token, and the generator's own count says so.
    @Test func churnsWithSASL2AndBind2AndFAST() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await self.withServer { server, port in
            _ = try await self.scenarios(port: port, mechanism: .scramSHA1, group: group).register(first: 0, count: 4, subscribedPairs: 0)
            let load = try self.scenarios(port: port, mechanism: .scramSHA1, profile: .sasl2, group: group)
            let churn = try await load.churn(first: 0, accounts: 4, rate: 0, duration: 0.5)
            #expect(churn.errors.isEmpty)
            #expect((churn.values["logins"] ?? 0) > 2)
            #expect(churn.values["round_trips_per_login"] == 7)
            let sasl2Bytes = try #require(churn.values["xmpp_bytes_per_login"])

            // With FAST every account first logs in with its password for a token; the measured
            // logins use the tokens and save the SCRAM round trip.
            let fast = try self.scenarios(port: port, mechanism: .scramSHA1, profile: .fast, group: group)
            let fastChurn = try await fast.churn(first: 0, accounts: 4, rate: 0, duration: 0.5)
            #expect(fastChurn.errors.isEmpty)
            #expect(fastChurn.values["tokens"] == 4)
            #expect((fastChurn.values["logins"] ?? 0) > 2)
            #expect(fastChurn.values["round_trips_per_login"] == 6)
            // No SCRAM challenge and response: fewer bytes too.
            #expect(try #require(fastChurn.values["xmpp_bytes_per_login"]) < sasl2Bytes)
        }
        try await group.shutdownGracefully()
    }

    /// The MUC scenarios against Starling's own chat rooms (conference.localhost, on by default).
    @Test func chatsAndJoinsInARoom() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await self.withServer { server, port in
            let load = try self.scenarios(port: port, mechanism: .scramSHA1, group: group)
            _ = try await load.register(first: 0, count: 7, subscribedPairs: 0)
            let muc = try await load.muc(
                room: MUCRoom(jid: "bench@conference.localhost"), occupants: 4, senders: 2, window: 2, warmup: 0.2, duration: 0.5,
                joinTimeout: 10)
            #expect(muc.errors.isEmpty)
            #expect(muc.values["occupants"] == 4)
            #expect(muc.values["room_created"] == 1)
            #expect((muc.values["delivered"] ?? 0) > 10)
            #expect((muc.values["messages_per_second"] ?? 0) > 0)

            let join = try await load.mucJoin(
                room: MUCRoom(jid: "join@conference.localhost"), size: 5, joins: 2, fillRate: 100, fillConcurrency: 2, fillTimeout: 10,
                joinTimeout: 10)
            #expect(join.errors.isEmpty)
            #expect(join.values["occupants"] == 5)
            #expect(join.values["joins_measured"] == 2)
            // Each measured joiner leaves again, so both find the same five occupants.
            #expect(join.values["presences_before_self"] == 5)
        }
        try await group.shutdownGracefully()
    }

    @Test func reportsAWrongPasswordAsAnError() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await self.withServer { server, port in
            let load = try self.scenarios(port: port, mechanism: .plain, group: group)
            _ = try await load.register(first: 0, count: 1, subscribedPairs: 0)
            let wrong = LoadTarget(
                host: "127.0.0.1", port: port, domain: "localhost", sources: [], security: .starttls, mechanism: .plain,
                userPrefix: "load", password: "not-the-password", concurrency: 1, timeout: .seconds(10))
            let driver = try LoadDriver(target: wrong, loop: group.next(), saltedPasswordCache: SCRAMSaltedPasswordCache())
            let report = try await Scenarios(driver: driver, serverPIDs: []).idle(connections: 1, settle: 0, hold: 0)
            #expect(report.values["connections"] == 0)
            #expect(report.errors.keys.contains { $0.contains("not-authorized") })
        }
        try await group.shutdownGracefully()
    }
}
