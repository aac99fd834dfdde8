import Crypto
import Foundation
import Logging
import NIOCore
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules
import XMPPStorage

/// `starling-bench pubsub [CONTACTS] [ITEMS] [--in-process]` (defaults 1,000 and 10,000):
///
/// 1. Starts a Starling server (XMPPServer with the default modules, SQLite in a temporary
///    data directory, the generated certificate, one STARTTLS listener on an ephemeral
///    loopback port) in a child process (`starling-bench pubsub-server`), so that its CPU
///    time can be read from /proc; with `--in-process` in this process instead. The server
///    creates `owner` and `c0…` and writes mutual `both` roster items straight into storage.
/// 2. Logs in `owner` and the contacts (50 logins at a time, STARTTLS, SCRAM-SHA-256); every
///    contact sends presence with the same XEP-0115 caps (with `tune+notify`) and answers
///    the server's disco#info query about them if one comes.
/// 3. Fan-out: `owner` publishes a tune to its PEP node 20 times, one after the other, and
///    each time waits for every contact's notification: the time from sending the publish to
///    the last notification read by a contact.
/// 4. Retrieval: a node on pubsub.localhost with `pubsub#max_items` ITEMS, filled with ITEMS
///    publishes (32 outstanding), then 50 runs each of the newest 10 items, one item by id
///    and every item.
///
/// Every wait has a deadline; the data directory and the child are removed on the way out.
enum PubSubBench {
    static let domain = "localhost"
    static let password = "bench-password"
    static let tuneNode = "http://jabber.org/protocol/tune"
    static let pubsubNS = "http://jabber.org/protocol/pubsub"
    static let eventNS = "http://jabber.org/protocol/pubsub#event"
    static let capsNS = "http://jabber.org/protocol/caps"
    static let formsNS = "jabber:x:data"
    static let features = [XMPPNamespace.discoInfo, "http://jabber.org/protocol/caps", tuneNode, tuneNode + "+notify"]
    static let rounds = 20
    static let runs = 50
    static let loginWidth = 50
    static let publishWindow = 32

    // MARK: - The server

    static func configuration(dataDirectory: String, contacts: Int, items: Int) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.hosts = [Self.domain]
        configuration.dataDirectory = dataDirectory
        configuration.logLevel = .warning
        configuration.listeners = [ServerConfiguration.Listener(kind: .c2s, addresses: ["127.0.0.1"], port: 0, tls: .starttls)]
        // 50 logins at a time from one address, an owner with every contact in its roster,
        // and a publisher that sends its 10,000 items as fast as the answers come.
        configuration.limits.maxUnauthenticatedPerAddress = 200
        configuration.limits.maxRosterItems = max(1000, contacts + 10)
        configuration.limits.readRateBytesPerSecond = 0
        configuration.modules.sections["pubsub"] = ["max_items": .scalar(String(max(1000, items)))]
        return configuration
    }

    /// Starts the server and makes the accounts and rosters.
    static func startServer(dataDirectory: String, contacts: Int, items: Int) async throws -> XMPPServer {
        let configuration = Self.configuration(dataDirectory: dataDirectory, contacts: contacts, items: items)
        var logger = Logger(label: "starling-bench-server") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let server = try XMPPServer(configuration: configuration, modules: DefaultModules.modules(for: configuration), logger: logger)
        try await server.start()
        let manager = AccountManager(store: server.storage.accounts, hosts: [Self.domain])
        let owner = try await manager.create("owner@\(Self.domain)", password: Self.password)
        let rosters = server.storage.rosters
        try await Self.bounded(contacts, width: 4) { index in
            let contact = try await manager.create("c\(index)@\(Self.domain)", password: Self.password)
            try await rosters.setItem(RosterItem(jid: contact, state: SubscriptionState(to: true, from: true)), of: owner)
            try await rosters.setItem(RosterItem(jid: owner, state: SubscriptionState(to: true, from: true)), of: contact)
        }
        return server
    }

    /// `starling-bench pubsub-server DATA_DIR CONTACTS ITEMS`: the child. Prints
    /// `READY <port>` once the accounts exist, and stops when its standard input closes.
    static func serve(_ arguments: [String]) async throws {
        guard arguments.count == 3, let contacts = Int(arguments[1]), let items = Int(arguments[2]) else {
            print("usage: starling-bench pubsub-server DATA_DIR CONTACTS ITEMS")
            exit(2)
        }
        let server = try await Self.startServer(dataDirectory: arguments[0], contacts: contacts, items: items)
        print("READY \(server.port(for: .starttls) ?? 0)")
        fflush(stdout)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                _ = FileHandle.standardInput.readDataToEndOfFile()
                continuation.resume()
            }
        }
        // The clients have closed their streams; give their sessions a moment to end.
        let deadline = ContinuousClock.now + .seconds(5)
        while server.sessionCount > 0, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        print("STATISTICS \(server.statistics), sessions left \(server.sessionCount)")
        fflush(stdout)
        await server.shutdown()
    }

    /// The server under test, in a child process or in this one.
    final class ServerHandle: @unchecked Sendable {
        let port: Int
        let certificatePEM: String
        let dataDirectory: String
        private let process: Process?
        private let input: Pipe?
        private let output: Pipe?
        private let inProcess: XMPPServer?

        init(dataDirectory: String, contacts: Int, items: Int, inProcess: Bool) async throws {
            self.dataDirectory = dataDirectory
            if inProcess {
                let server = try await PubSubBench.startServer(dataDirectory: dataDirectory, contacts: contacts, items: items)
                self.inProcess = server
                self.port = server.port(for: .starttls) ?? 0
                self.certificatePEM = server.certificatePEM ?? ""
                self.process = nil
                self.input = nil
                self.output = nil
                return
            }
            self.inProcess = nil
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            process.arguments = ["pubsub-server", dataDirectory, String(contacts), String(items)]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            self.process = process
            self.input = input
            self.output = output
            // Bounded: a child that never gets ready is killed, which ends the read.
            let pid = process.processIdentifier
            let watchdog = Task {
                try await Task.sleep(for: .seconds(600))
                kill(pid, SIGKILL)
            }
            let line = await Self.readLine(output.fileHandleForReading, prefix: "READY ")
            watchdog.cancel()
            guard let line, let port = Int(line.dropFirst("READY ".count)) else {
                process.terminate()
                throw BenchFailure("the server process did not start")
            }
            self.port = port
            let configuration = PubSubBench.configuration(dataDirectory: dataDirectory, contacts: contacts, items: items)
            self.certificatePEM = try String(contentsOfFile: configuration.certificatePath, encoding: .utf8)
        }

        var pid: Int32? { self.process?.processIdentifier }

        /// The server's CPU seconds (user + system) when it runs in a child process.
        func serverCPU() -> Double? {
            self.pid.flatMap { PubSubBench.cpuSeconds("/proc/\($0)/stat") }
        }

        /// Reads lines until one starts with `prefix` (nil at the end of the output).
        static func readLine(_ handle: FileHandle, prefix: String) async -> String? {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    var buffer = Data()
                    while true {
                        let chunk = handle.availableData
                        if chunk.isEmpty { return continuation.resume(returning: nil) }
                        buffer.append(chunk)
                        while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                            buffer.removeSubrange(buffer.startIndex...newline)
                            if line.hasPrefix(prefix) { return continuation.resume(returning: line) }
                        }
                    }
                }
            }
        }

        /// Stops the server (closing the child's input, then SIGKILL by PID after 20 s) and
        /// removes the data directory; returns the child's statistics line.
        func stop() async -> String? {
            var statistics: String?
            if let server = self.inProcess {
                statistics = "STATISTICS \(server.statistics)"
                await server.shutdown()
            }
            if let process = self.process, let input = self.input, let output = self.output {
                try? input.fileHandleForWriting.close()
                let pid = process.processIdentifier
                let watchdog = Task {
                    try await Task.sleep(for: .seconds(20))
                    if process.isRunning { kill(pid, SIGKILL) }
                }
                statistics = await Self.readLine(output.fileHandleForReading, prefix: "STATISTICS ")
                let deadline = ContinuousClock.now + .seconds(25)
                while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
                watchdog.cancel()
                if process.isRunning { kill(pid, SIGKILL) }
            }
            try? FileManager.default.removeItem(atPath: self.dataDirectory)
            return statistics
        }
    }

    // MARK: - Measuring

    struct BenchFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Utime + stime of a /proc/<pid>/stat.
    static func cpuSeconds(_ path: String) -> Double? {
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8), let afterName = stat.range(of: ")", options: .backwards)?.upperBound else { return nil }
        let fields = stat[afterName...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    static func ms(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1_000_000 }
    static func format(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }

    static func medianAndWorst(_ values: [Double]) -> (median: Double, worst: Double) {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return (0, 0) }
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return (median, sorted.last!)
    }

    /// Runs `body(0..<count)` with at most `width` at a time, returning the results in order.
    @discardableResult
    static func bounded<T: Sendable>(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { group in
            var results: [T?] = Array(repeating: nil, count: count)
            var next = 0
            while next < min(width, count) {
                let index = next
                group.addTask { (index, try await body(index)) }
                next += 1
            }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < count {
                    let index = next
                    group.addTask { (index, try await body(index)) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }

    /// Notifications read by the contacts, per round: how many and when the last came.
    final class Arrivals: @unchecked Sendable {
        private let lock = NSLock()
        private var counts: [Int: Int] = [:]
        private var last: [Int: UInt64] = [:]
        private var first: [Int: UInt64] = [:]
        private var queries = 0
        private var failures: [String] = []
        private var stopped = false

        func arrived(round: Int, at time: UInt64) {
            self.lock.withLock {
                self.counts[round, default: 0] += 1
                self.last[round] = max(self.last[round] ?? 0, time)
                self.first[round] = min(self.first[round] ?? .max, time)
            }
        }
        func count(_ round: Int) -> Int { self.lock.withLock { self.counts[round] ?? 0 } }
        func times(_ round: Int) -> (first: UInt64, last: UInt64)? {
            self.lock.withLock { self.last[round].map { (self.first[round]!, $0) } }
        }
        func capsQuery() { self.lock.withLock { self.queries += 1 } }
        var capsQueries: Int { self.lock.withLock { self.queries } }
        func fail(_ reason: String) { self.lock.withLock { self.failures.append(reason) } }
        var failureList: [String] { self.lock.withLock { self.failures } }
        func stop() { self.lock.withLock { self.stopped = true } }
        var isStopped: Bool { self.lock.withLock { self.stopped } }
    }

    /// Waits (polling every millisecond) until `condition` holds or `timeout` passes.
    static func wait(timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    // MARK: - Stanzas

    static func capsInfo() -> Element {
        let identity = Element("identity", namespace: XMPPNamespace.discoInfo, attributes: [("category", "client"), ("type", "pc"), ("name", "Bench")])
        return Element("query", namespace: XMPPNamespace.discoInfo, children: [identity] + Self.features.map {
            Element("feature", namespace: XMPPNamespace.discoInfo, attributes: [("var", $0)])
        })
    }

    /// The XEP-0115 §5.1 verification string of `capsInfo()`.
    static func verification() -> String {
        let text = "client/pc//Bench<" + Self.features.sorted().map { $0 + "<" }.joined()
        return Base64.encode(Array(Insecure.SHA1.hash(data: Array(text.utf8))))
    }

    static func capsPresence(ver: String) -> Element {
        Element("presence", namespace: XMPPNamespace.client, children: [
            Element("c", namespace: Self.capsNS, attributes: [("hash", "sha-1"), ("node", "https://example.org/starling-bench"), ("ver", ver)])
        ])
    }

    static func publish(node: String, id: String, payload: Element, to: JID? = nil, iqID: String) -> Element {
        var iq = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", iqID)], children: [
            Element("pubsub", namespace: Self.pubsubNS, children: [
                Element("publish", namespace: Self.pubsubNS, attributes: [("node", node)], children: [
                    Element("item", namespace: Self.pubsubNS, attributes: [("id", id)], children: [payload])
                ])
            ])
        ])
        iq[attribute: "to"] = to?.description
        return iq
    }

    static func tune(_ round: Int) -> Element {
        Element("tune", namespace: Self.tuneNode, children: [
            Element("artist", namespace: Self.tuneNode, text: "Starling Bench"),
            Element("title", namespace: Self.tuneNode, text: "Round \(round)"),
            Element("length", namespace: Self.tuneNode, text: "240"),
        ])
    }

    static func entry(_ index: Int) -> Element {
        let atom = "http://www.w3.org/2005/Atom"
        return Element("entry", namespace: atom, children: [
            Element("title", namespace: atom, text: "Item \(index)"),
            Element("summary", namespace: atom, text: "Item number \(index) of the retrieval benchmark, with some ordinary text in it."),
            Element("published", namespace: atom, text: "2025-01-01T00:00:00Z"),
        ])
    }

    static func field(_ name: String, _ value: String, type: String? = nil) -> Element {
        var field = Element("field", namespace: Self.formsNS, attributes: [("var", name)], children: [Element("value", namespace: Self.formsNS, text: value)])
        if let type { field[attribute: "type"] = type }
        return field
    }

    // MARK: - The run

    static func run(_ arguments: [String]) async throws {
        let numbers = arguments.compactMap(Int.init)
        let contacts = numbers.first ?? 1000
        let items = numbers.dropFirst().first ?? 10_000
        let inProcess = arguments.contains("--in-process")
        guard contacts > 0, items >= 10 else {
            print("usage: starling-bench pubsub [contacts] [items] [--in-process]")
            exit(2)
        }
        print("pubsub benchmark: \(contacts) contacts, \(items) items, server \(inProcess ? "in this process" : "in a child process"); load average \(Self.loadAverage())")
        let dataDirectory = NSTemporaryDirectory() + "starling-bench-pubsub-\(UUID().uuidString)"
        let setupStart = Self.now()
        let server: ServerHandle
        do {
            server = try await ServerHandle(dataDirectory: dataDirectory, contacts: contacts, items: items, inProcess: inProcess)
        } catch {
            try? FileManager.default.removeItem(atPath: dataDirectory)
            throw error
        }
        print("server up with \(contacts + 1) accounts and rosters in \(Self.format(Self.ms(Self.now() - setupStart) / 1000)) s (port \(server.port))")
        var failure: (any Error)?
        do {
            try await Self.measure(server: server, contacts: contacts, items: items)
        } catch {
            failure = error
        }
        let statistics = await server.stop()
        if let statistics { print("server \(statistics.lowercased())") }
        print("load average at the end \(Self.loadAverage())")
        if let failure { throw failure }
    }

    static func measure(server: ServerHandle, contacts: Int, items: Int) async throws {
        let tls = XMPPClientTLS(serverName: Self.domain, trust: .pinned(certificatePEM: server.certificatePEM))
        @Sendable func configuration(_ localpart: String) throws -> XMPPClientConfiguration {
            XMPPClientConfiguration(
                account: try JID("\(localpart)@\(Self.domain)"), password: Self.password, host: "127.0.0.1", port: server.port,
                security: .starttls(tls), mechanisms: [.scramSHA256], resource: "bench", timeout: .seconds(60))
        }
        let owner = try await XMPPClient.login(try configuration("owner"))
        try await owner.sendPresence()

        // Logins.
        let ver = Self.verification()
        let loginStart = Self.now()
        let cpuBeforeLogins = server.serverCPU()
        // Every contact reads its stream from its login on: caps queries are answered at
        // once, notifications counted.
        let arrivals = Arrivals()
        defer { arrivals.stop() }
        let logins = try await Self.bounded(contacts, width: Self.loginWidth) { index -> (XMPPClient, Task<Void, Never>) in
            let client = try await XMPPClient.login(try configuration("c\(index)"))
            try await client.send(Self.capsPresence(ver: ver))
            return (client, Task { await Self.read(client, arrivals: arrivals) })
        }
        let clients = logins.map(\.0)
        let loginSeconds = Self.ms(Self.now() - loginStart) / 1000
        var loginLine = "logged in \(contacts) contacts (\(Self.loginWidth) at a time) in \(Self.format(loginSeconds)) s"
        if let before = cpuBeforeLogins, let after = server.serverCPU() { loginLine += ", server CPU \(Self.format(after - before)) s" }
        print(loginLine)


        // The owner reads what it got meanwhile (its contacts' presence).
        var drained = 0
        while drained < 10 * contacts + 100, (try? await owner.receive(timeout: .milliseconds(500))) != nil { drained += 1 }

        // Fan-out: one warm-up round (0), then the measured ones.
        var latencies: [Double] = []
        var firsts: [Double] = []
        var cpuBefore: Double?
        let clientCPUBefore = Self.cpuSeconds("/proc/self/stat")
        for round in 0...Self.rounds {
            if round == 1 { cpuBefore = server.serverCPU() }
            let id = "p\(round)"
            let sent = Self.now()
            try await owner.send(Self.publish(node: Self.tuneNode, id: "tune-\(round)", payload: Self.tune(round), iqID: id))
            let complete = await Self.wait(timeout: .seconds(60)) { arrivals.count(round) >= contacts || !arrivals.failureList.isEmpty }
            let answer = try await owner.receive(timeout: .seconds(10)) { $0.name == "iq" && $0.id == id }
            guard answer.stanzaType == "result" else { throw BenchFailure("the publish failed: \(answer.xmlString)") }
            guard complete, let times = arrivals.times(round) else {
                throw BenchFailure("round \(round): \(arrivals.count(round)) of \(contacts) notifications in 60 s; \(arrivals.failureList.prefix(3))")
            }
            if round > 0 {
                latencies.append(Self.ms(times.last - sent))
                firsts.append(Self.ms(times.first - sent))
            }
        }
        let cpuAfter = server.serverCPU()
        let clientCPU = (Self.cpuSeconds("/proc/self/stat") ?? 0) - (clientCPUBefore ?? 0)
        let last = Self.medianAndWorst(latencies)
        let first = Self.medianAndWorst(firsts)
        print("")
        print("Fan-out: \(Self.rounds) PEP publishes (tune), each to \(contacts) contacts' clients; \(arrivals.capsQueries) caps queries reached the contacts")
        print("| | median ms | worst ms |")
        print("|---|---|---|")
        print("| publish → first notification read | \(Self.format(first.median)) | \(Self.format(first.worst)) |")
        print("| publish → last of \(contacts) notifications read | \(Self.format(last.median)) | \(Self.format(last.worst)) |")
        if let cpuBefore, let cpuAfter {
            print("server CPU per publish: \(Self.format((cpuAfter - cpuBefore) / Double(Self.rounds) * 1000)) ms (/proc, 10 ms ticks, over \(Self.rounds) publishes)")
        }
        print("this process (the \(contacts + 1) clients\(server.pid == nil ? " and the server" : "")) CPU per publish: \(Self.format(clientCPU / Double(Self.rounds + 1) * 1000)) ms")

        arrivals.stop()
        for (_, reader) in logins { await reader.value }

        try await Self.retrieval(owner: owner, server: server, items: items)

        // Log out, 100 at a time.
        let closeStart = Self.now()
        try await Self.bounded(clients.count, width: 100) { index in await clients[index].close() }
        await owner.close()
        print("logged out in \(Self.format(Self.ms(Self.now() - closeStart) / 1000)) s")
    }

    /// A contact's reader: until stopped, answers caps queries and notes tune notifications.
    static func read(_ client: XMPPClient, arrivals: Arrivals) async {
        while !arrivals.isStopped {
            let stanza: Element
            do {
                stanza = try await client.receive(timeout: .milliseconds(500))
            } catch XMPPConnection.Failure.timedOut {
                continue
            } catch {
                arrivals.fail("\(client.jid): \(error)")
                return
            }
            let time = Self.now()
            if stanza.name == "iq", stanza.stanzaType == "get", let query = stanza.iqPayload, query.namespace == XMPPNamespace.discoInfo {
                arrivals.capsQuery()
                var info = Self.capsInfo()
                if let node = query[attribute: "node"] { info[attribute: "node"] = node }
                try? await client.send(stanza.iqResult(payload: info))
            } else if stanza.name == "message", let items = stanza.child(named: "event", namespace: Self.eventNS)?.child(named: "items"),
                items[attribute: "node"] == Self.tuneNode
            {
                for item in items.children(named: "item") {
                    if let id = item[attribute: "id"], id.hasPrefix("tune-"), let round = Int(id.dropFirst(5)) {
                        arrivals.arrived(round: round, at: time)
                    }
                }
            }
        }
    }

    // MARK: - Retrieval

    static func retrieval(owner: XMPPClient, server: ServerHandle, items: Int) async throws {
        let service = try JID("pubsub.\(Self.domain)")
        let node = "bench"
        let form = Element("x", namespace: Self.formsNS, attributes: [("type", "submit")], children: [
            Self.field("FORM_TYPE", "http://jabber.org/protocol/pubsub#node_config", type: "hidden"),
            Self.field("pubsub#max_items", String(items)),
        ])
        let created = try await owner.iq("set", to: service, payload: Element("pubsub", namespace: Self.pubsubNS, children: [
            Element("create", namespace: Self.pubsubNS, attributes: [("node", node)]),
            Element("configure", namespace: Self.pubsubNS, children: [form]),
        ]))
        guard created.stanzaType == "result" else { throw BenchFailure("cannot create the node: \(created.xmlString)") }

        // Fill, with a bounded number of publishes outstanding.
        let fillStart = Self.now()
        let cpuBeforeFill = server.serverCPU()
        var sent = 0
        var done = 0
        var errors = 0
        var batchStart = fillStart
        var batches: [Double] = []
        let batch = max(1, items / 10)
        while done < items {
            while sent < items, sent - done < Self.publishWindow {
                try await owner.send(Self.publish(node: node, id: "item-\(sent)", payload: Self.entry(sent), to: service, iqID: "fill-\(sent)"))
                sent += 1
            }
            let stanza = try await owner.receive(timeout: .seconds(60))
            guard stanza.name == "iq", stanza.id?.hasPrefix("fill-") == true else { continue }
            if stanza.stanzaType != "result" {
                errors += 1
                if errors == 1 { print("first publish error: \(stanza.xmlString)") }
            }
            done += 1
            if done % batch == 0 {
                let time = Self.now()
                batches.append(Self.ms(time - batchStart) / Double(batch))
                batchStart = time
            }
        }
        var fillLine = "\nfilled \(node) with \(items) items (\(Self.publishWindow) publishes outstanding) in \(Self.format(Self.ms(Self.now() - fillStart) / 1000)) s, \(errors) errors"
        if let before = cpuBeforeFill, let after = server.serverCPU() { fillLine += ", server CPU \(Self.format(after - before)) s" }
        print(fillLine)
        print("ms per publish by tenth of the fill: \(batches.map { Self.format($0, 2) }.joined(separator: ", "))")
        guard errors == 0 else { throw BenchFailure("\(errors) publishes failed") }

        func request(_ maxItems: Int?, ids: [String] = []) -> Element {
            var request = Element("items", namespace: Self.pubsubNS, attributes: [("node", node)], children: ids.map {
                Element("item", namespace: Self.pubsubNS, attributes: [("id", $0)])
            })
            if let maxItems { request[attribute: "max_items"] = String(maxItems) }
            return Element("pubsub", namespace: Self.pubsubNS, children: [request])
        }
        let queries: [(String, Element, Int)] = [
            ("newest 10 (max_items='10')", request(10), 10),
            ("one item by id", request(nil, ids: ["item-\(items / 2)"]), 1),
            ("all \(items) items", request(nil), items),
        ]
        print("")
        print("Retrieval from a node with \(items) items, \(Self.runs) runs each")
        print("| request | median ms | worst ms | server CPU ms per request | response bytes |")
        print("|---|---|---|---|---|")
        for (name, payload, expected) in queries {
            var times: [Double] = []
            var bytes = 0
            let before = server.serverCPU()
            for _ in 0..<Self.runs {
                let start = Self.now()
                let answer = try await owner.iq("get", to: service, payload: payload)
                times.append(Self.ms(Self.now() - start))
                let count = answer.iqPayload?.child(named: "items")?.children(named: "item").count ?? 0
                guard answer.stanzaType == "result", count == expected else {
                    throw BenchFailure("\(name): \(count) items instead of \(expected): \(answer.xmlString.prefix(500))")
                }
                bytes = answer.xmlString.utf8.count
            }
            let cpu = before.flatMap { before in server.serverCPU().map { Self.format(($0 - before) / Double(Self.runs) * 1000) } } ?? "–"
            let (median, worst) = Self.medianAndWorst(times)
            print("| \(name) | \(Self.format(median, 2)) | \(Self.format(worst, 2)) | \(cpu) | \(bytes) |")
        }
    }
}
