import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import XMPPCore
import XMPPSASL

/// `starling-load`: a load generator that speaks plain XMPP to any server (issue 5).
@main
struct StarlingLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starling-load",
        abstract: "Load an XMPP server over loopback and report connections/s, messages/s, latency and the server's CPU and memory.",
        discussion: """
            Accounts are <prefix><index>@<domain> with one password; pairs are (2k, 2k+1). Every scenario \
            prints its figures and one line `RESULT {json}` for scripts. Pin the generator and the server \
            to different cores (taskset) and pass --server-pid to read the server's RSS and CPU from /proc.
            """,
        subcommands: [Register.self, Idle.self, IdleWebSocket.self, Chat.self, Presence.self, Churn.self, MUC.self, MUCJoin.self]
    )
}

struct TargetOptions: ParsableArguments {
    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server c2s port.") var port = 5222
    @Option(help: "The server's domain.") var domain = "localhost"
    @Option(help: "Comma-separated local source addresses, used round robin (several 127.0.0.x keep ephemeral ports from running out).")
    var sources = "127.0.0.1"
    @Option(help: "starttls or direct.") var tls = "starttls"
    @Option(help: "SCRAM-SHA-1 or PLAIN.") var mechanism = "SCRAM-SHA-1"
    @Option(help: "rfc6120 (SASL, restart, bind), sasl2 (SASL2 with Bind 2) or fast (SASL2 and Bind 2 with a XEP-0484 token).")
    var login = "rfc6120"
    @Option(help: "Account name prefix.") var userPrefix = "load"
    @Option(help: "The accounts' password.") var password = "load-password"
    @Option(help: "Logins negotiating at the same time.") var concurrency = 100
    @Option(help: "Seconds a connection may take to connect.") var timeout = 30
    @Option(name: .customLong("server-pid"), help: "PID of the server process (repeatable), for RSS and CPU from /proc.")
    var serverPIDs: [Int32] = []
    @Option(help: "File that keeps SCRAM salted passwords between runs, so that the generator does not spend its core on PBKDF2.")
    var scramCache: String?

    func validate() throws {
        guard LoginMachine.Security(rawValue: self.tls) != nil else { throw ValidationError("--tls must be starttls or direct") }
        guard LoginMachine.Mechanism(rawValue: self.mechanism.uppercased()) != nil else {
            throw ValidationError("--mechanism must be SCRAM-SHA-1 or PLAIN")
        }
        guard LoginMachine.Profile(rawValue: self.login) != nil else { throw ValidationError("--login must be rfc6120, sasl2 or fast") }
        guard self.concurrency > 0 else { throw ValidationError("--concurrency must be at least 1") }
    }

    /// Builds the driver, runs `body` with the scenarios, prints the report and saves the cache.
    func run(_ body: (Scenarios) async throws -> Report) async throws {
        let target = LoadTarget(
            host: self.host, port: self.port, domain: self.domain,
            sources: self.sources.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) },
            security: LoginMachine.Security(rawValue: self.tls) ?? .starttls,
            mechanism: LoginMachine.Mechanism(rawValue: self.mechanism.uppercased()) ?? .scramSHA1,
            profile: LoginMachine.Profile(rawValue: self.login) ?? .rfc6120,
            userPrefix: self.userPrefix, password: self.password, concurrency: self.concurrency, timeout: .seconds(Int64(self.timeout)))
        let cache = SCRAMSaltedPasswordCache()
        if let path = self.scramCache { SaltedPasswordFile.load(path, into: cache) }
        // One thread: the generator gets one core, and one loop needs no locks.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let driver = try LoadDriver(target: target, loop: group.next(), saltedPasswordCache: cache)
        let report = try await body(Scenarios(driver: driver, serverPIDs: self.serverPIDs))
        report.print()
        if let path = self.scramCache { SaltedPasswordFile.save(cache, to: path) }
        try await group.shutdownGracefully()
    }
}

extension StarlingLoad {
    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create accounts by in-band registration (XEP-0077); optionally subscribe pairs to each other.")
        @OptionGroup var target: TargetOptions
        @Option(help: "Accounts to create.") var users = 1000
        @Option(help: "First index.") var first = 0
        @Option(help: "Make the first N pairs mutually subscribed (for the presence scenario).") var subscribePairs = 0

        func run() async throws {
            try await self.target.run { try await $0.register(first: self.first, count: self.users, subscribedPairs: self.subscribePairs) }
        }
    }

    struct Idle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Log in N clients and keep them idle: connections/s and memory per connection.")
        @OptionGroup var target: TargetOptions
        @Option(help: "Clients (accounts 0..<N).") var connections = 1000
        @Option(help: "Seconds to wait after the last login before reading memory.") var settle = 5.0
        @Option(help: "Seconds to stay connected after that.") var hold = 0.0

        func run() async throws {
            try await self.target.run { try await $0.idle(connections: self.connections, settle: self.settle, hold: self.hold) }
        }
    }

    struct Chat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One-to-one chat between P pairs: messages/s delivered and end-to-end latency.")
        @OptionGroup var target: TargetOptions
        @Option(help: "Pairs (accounts 0..<2P).") var pairs = 100
        @Option(help: "Messages a second in total; 0 is flat out.") var rate = 0.0
        @Option(help: "Flat out: messages each client keeps in flight.") var window = 1
        @Option(help: "Seconds before measuring.") var warmup = 3.0
        @Option(help: "Seconds measured.") var duration = 10.0

        func run() async throws {
            try await self.target.run {
                try await $0.chat(pairs: self.pairs, rate: self.rate, window: self.window, warmup: self.warmup, duration: self.duration)
            }
        }
    }

    struct Presence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Presence churn between P subscribed pairs (see register --subscribe-pairs).")
        @OptionGroup var target: TargetOptions
        @Option(help: "Pairs (accounts 0..<2P).") var pairs = 100
        @Option(help: "Presence changes a second in total.") var rate = 1000.0
        @Option(help: "Seconds before measuring.") var warmup = 3.0
        @Option(help: "Seconds measured.") var duration = 10.0

        func run() async throws {
            try await self.target.run { try await $0.presence(pairs: self.pairs, rate: self.rate, warmup: self.warmup, duration: self.duration) }
        }
    }

    struct Churn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Login/logout churn: logins/s and login latency.")
        @OptionGroup var target: TargetOptions
        @Option(help: "First account index of the pool.") var first = 0
        @Option(help: "Accounts in the pool (one login at a time per account).") var accounts = 1000
        @Option(help: "Logins a second; 0 is flat out with --concurrency logins at once.") var rate = 0.0
        @Option(help: "Seconds measured.") var duration = 10.0

        func run() async throws {
            try await self.target.run { try await $0.churn(first: self.first, accounts: self.accounts, rate: self.rate, duration: self.duration) }
        }
    }
}

/// Where the MUC scenarios meet.
struct RoomOptions: ParsableArguments {
    @Option(help: "The room's name (its JID's local part).") var room = "bench"
    @Option(name: .customLong("muc-domain"), help: "The MUC service's domain (default conference.<domain>).") var mucDomain: String?
    @Option(help: "Seconds the joins may take in all before the scenario goes on without the rest.") var joinTimeout = 120.0

    func mucRoom(domain: String) -> MUCRoom {
        MUCRoom(jid: "\(self.room)@\(self.mucDomain ?? "conference.\(domain)")")
    }
}

extension StarlingLoad {
    struct MUC: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "muc",
            abstract: "Groupchat (XEP-0045): N occupants in one room, S of them sending flat out; deliveries/s and server CPU per 1,000 deliveries.")
        @OptionGroup var target: TargetOptions
        @OptionGroup var room: RoomOptions
        @Option(help: "Occupants (accounts 0..<N); the first creates the room if it does not exist.") var occupants = 200
        @Option(help: "Senders among them (accounts 0..<S).") var senders = 4
        @Option(help: "Messages each sender keeps in flight (until the room reflects them back).") var window = 16
        @Option(help: "Seconds before measuring.") var warmup = 2.0
        @Option(help: "Seconds measured.") var duration = 10.0

        func run() async throws {
            try await self.target.run {
                try await $0.muc(
                    room: self.room.mucRoom(domain: self.target.domain), occupants: self.occupants, senders: self.senders,
                    window: self.window, warmup: self.warmup, duration: self.duration, joinTimeout: self.room.joinTimeout)
            }
        }
    }

    struct MUCJoin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "muc-join",
            abstract: "Joining a large room (XEP-0045): with M occupants in, the time for one more client to get its self-presence.")
        @OptionGroup var target: TargetOptions
        @OptionGroup var room: RoomOptions
        @Option(help: "Occupants already in the room (accounts 0..<M).") var size = 2000
        @Option(help: "Joins measured, one at a time (accounts M..<M+J).") var joins = 5
        @Option(help: "Joins a second while filling the room.") var fillRate = 200.0
        @Option(help: "Joins waiting for their self-presence at once while filling the room.") var fillConcurrency = 20
        @Option(help: "Seconds the filling may take at most.") var fillTimeout = 300.0

        func run() async throws {
            try await self.target.run {
                try await $0.mucJoin(
                    room: self.room.mucRoom(domain: self.target.domain), size: self.size, joins: self.joins, fillRate: self.fillRate,
                    fillConcurrency: self.fillConcurrency, fillTimeout: self.fillTimeout, joinTimeout: self.room.joinTimeout)
            }
        }
    }
}

/// The SCRAM cache on disk: one line per account, `username iterations salt salted-password`
/// (base64). Holds derived keys, not passwords; for load-test accounts only.
enum SaltedPasswordFile {
    static func load(_ path: String, into cache: SCRAMSaltedPasswordCache) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4, let iterations = Int(fields[1]), let salt = Base64.decode(fields[2]),
                let salted = Base64.decode(fields[3])
            else { continue }
            cache.store(salted, for: .init(hash: .sha1, username: String(fields[0]), salt: salt, iterations: iterations))
        }
    }

    static func save(_ cache: SCRAMSaltedPasswordCache, to path: String) {
        let lines = cache.allEntries.map { key, salted in
            "\(key.username) \(key.iterations) \(Base64.encode(key.salt)) \(Base64.encode(salted))"
        }
        try? (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

