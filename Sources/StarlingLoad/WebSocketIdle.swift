import ArgumentParser
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import XMPPCore

/// `starling-load idle-websocket`: the idle scenario over XMPP-over-WebSocket (RFC 7395)
/// on the server's HTTPS listener, for the memory a browser session costs next to a TCP one.
struct IdleWebSocket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle-websocket",
        abstract: "Log in N clients over WebSocket (wss, PLAIN) and keep them idle: logins/s and server memory per session.")
    @OptionGroup var target: TargetOptions
    @Option(help: "The server's HTTPS (or, with --plain, HTTP) port.") var webPort = 5281
    @Option(help: "The WebSocket path.") var path = "/xmpp-websocket"
    @Flag(help: "ws:// instead of wss:// (a listener behind a TLS-terminating proxy).") var plain = false
    @Option(help: "Clients (accounts 0..<N).") var connections = 1000
    @Option(help: "Seconds to wait after the last login before reading memory.") var settle = 5.0

    func run() async throws {
        var report = Report(scenario: "idle-websocket")
        let serverPIDs = self.target.serverPIDs
        let baseline = ProcessSample.read(pids: serverPIDs)
        let window = Scenarios.Window(serverPIDs: serverPIDs)
        let release = ReleaseSignal()
        let tally = LoginTally()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let url = "\(self.plain ? "ws" : "wss")://\(self.target.domain):\(self.webPort)\(self.path)"
        var tls = TLSConfiguration.makeClientConfiguration()
        // The load generator measures the server, not certificate checks (self-signed on loopback).
        tls.certificateVerification = .none
        var clientConfiguration = WebSocketClientConfiguration()
        clientConfiguration.additionalHeaders[.secWebSocketProtocol] = "xmpp"
        let logger = Logger(label: "starling-load")
        let target = self.target
        let sessions = Task {
            await withTaskGroup(of: Void.self) { sessions in
                for index in 0..<self.connections {
                    // No more than `concurrency` logins negotiate at once.
                    while tally.negotiating >= target.concurrency { try? await Task.sleep(nanoseconds: 2_000_000) }
                    tally.started()
                    sessions.addTask {
                        let username = "\(target.userPrefix)\(index)"
                        do {
                            try await WebSocketClient.connect(
                                url: url, configuration: clientConfiguration, tlsConfiguration: self.plain ? nil : tls, eventLoopGroup: group, logger: logger
                            ) { inbound, outbound, _ in
                                var login = WebSocketLogin(domain: target.domain, username: username, password: target.password)
                                try await outbound.write(.text(login.start()))
                                for try await message in inbound.messages(maxSize: 1 << 20) {
                                    guard case .text(let text) = message else { continue }
                                    switch login.received(text) {
                                    case .send(let frames):
                                        for frame in frames { try await outbound.write(.text(frame)) }
                                    case .done(let frames):
                                        for frame in frames { try await outbound.write(.text(frame)) }
                                        tally.finished(index, ok: true)
                                        await release.wait()
                                        try await outbound.write(.text("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"))
                                        try await outbound.close(.normalClosure, reason: nil)
                                        return
                                    case .failed(let reason):
                                        tally.finished(index, ok: false, reason: reason)
                                        return
                                    case .wait:
                                        break
                                    }
                                }
                                tally.finished(index, ok: false, reason: "closed during login")
                            }
                        } catch {
                            tally.finished(index, ok: false, reason: "\(error)")
                        }
                    }
                }
            }
        }
        while tally.completed < self.connections { try await Task.sleep(nanoseconds: 20_000_000) }
        let seconds = window.close(into: &report, serverPIDs: serverPIDs)
        report.values["connections"] = Double(tally.succeeded)
        report.values["connections_per_second"] = Double(tally.succeeded) / seconds
        try await Task.sleep(nanoseconds: UInt64(self.settle * 1e9))
        if let baseline, let settled = ProcessSample.read(pids: serverPIDs), tally.succeeded > 0 {
            report.values["server_rss_baseline_kib"] = Double(baseline.residentKiB)
            report.values["server_rss_kib"] = Double(settled.residentKiB)
            report.values["memory_per_connection_kib"] = Double(settled.residentKiB - baseline.residentKiB) / Double(tally.succeeded)
        }
        report.errors = tally.failures
        await release.open()
        await sessions.value
        report.print()
        try await group.shutdownGracefully()
    }
}

/// The client side of one WebSocket login: open, PLAIN, open again, bind, presence.
struct WebSocketLogin {
    enum Step {
        case send([String])
        case wait
        /// Logged in: send these, then idle.
        case done([String])
        case failed(String)
    }

    private enum Phase {
        case opening, authenticating, reopening, binding
    }

    let domain: String
    let username: String
    let password: String
    private var phase = Phase.opening

    init(domain: String, username: String, password: String) {
        self.domain = domain
        self.username = username
        self.password = password
    }

    func start() -> String {
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='\(self.domain)' version='1.0'/>"
    }

    mutating func received(_ frame: String) -> Step {
        switch self.phase {
        case .opening where frame.contains("<mechanism>PLAIN</mechanism>"):
            self.phase = .authenticating
            let credentials = Base64.encode(Array("\u{0}\(self.username)\u{0}\(self.password)".utf8))
            return .send(["<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\(credentials)</auth>"])
        case .authenticating where frame.contains("<success"):
            self.phase = .reopening
            return .send([self.start()])
        case .authenticating where frame.contains("<failure"):
            return .failed("authentication failed")
        case .reopening where frame.contains("urn:ietf:params:xml:ns:xmpp-bind"):
            self.phase = .binding
            return .send(["<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"])
        case .binding where frame.contains("id='bind'"):
            return frame.contains("type='result'") ? .done(["<presence xmlns='jabber:client'/>"]) : .failed("bind refused")
        case _ where frame.contains("stream:error") || frame.hasPrefix("<close"):
            return .failed("the server closed the stream")
        default:
            return .wait
        }
    }
}

/// Counts logins across the session tasks.
final class LoginTally: @unchecked Sendable {
    private let lock = NSLock()
    private var inFlight = 0
    private var ok = 0
    private var failed: [String: Int] = [:]
    /// Sessions already counted: a session that failed after logging in counts once.
    private var counted = Set<Int>()

    var negotiating: Int { self.lock.withLock { self.inFlight } }
    var succeeded: Int { self.lock.withLock { self.ok } }
    var completed: Int { self.lock.withLock { self.ok + self.failed.values.reduce(0, +) } }
    var failures: [String: Int] { self.lock.withLock { self.failed } }

    func started() { self.lock.withLock { self.inFlight += 1 } }

    func finished(_ index: Int, ok: Bool, reason: String = "") {
        self.lock.withLock {
            guard self.counted.insert(index).inserted else { return }
            self.inFlight -= 1
            if ok { self.ok += 1 } else { self.failed[reason, default: 0] += 1 }
        }
    }
}

/// Holds the idle sessions until the measurement is done.
actor ReleaseSignal {
    private var opened = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if self.opened { return }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    func open() {
        self.opened = true
        for waiter in self.waiters { waiter.resume() }
        self.waiters.removeAll()
    }
}
