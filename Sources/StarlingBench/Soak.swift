import Foundation
import NIOCore
import XMPPClient
import XMPPCore

/// A bounded soak: `starling-bench soak HOST PORT CERT_PEM USERS SECONDS`.
/// Registers USERS accounts in-band, logs them all in, then for SECONDS keeps pairs chatting
/// while a tenth of the clients log out and in again; finally every client logs out.
/// Prints what happened; the calling script reads the server's memory.
enum Soak {
    static func run(host: String, port: Int, certificatePEM: String, users: Int, seconds: Int) async throws {
        let tls = XMPPClientTLS(serverName: "localhost", trust: .pinned(certificatePEM: certificatePEM))
        let started = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: users, by: 50) {
                group.addTask {
                    for index in chunk..<min(chunk + 50, users) {
                        try await self.register("soak\(index)", host: host, port: port, tls: tls)
                    }
                }
            }
            try await group.waitForAll()
        }
        print("registered \(users) accounts in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")

        func configuration(_ index: Int) throws -> XMPPClientConfiguration {
            XMPPClientConfiguration(
                account: try JID("soak\(index)@localhost"), password: "soak-password", host: host, port: port, security: .starttls(tls),
                mechanisms: [.scramSHA1], timeout: .seconds(60))
        }
        let deadline = Date().addingTimeInterval(Double(seconds))
        // SOAK_LOGINS_ONLY=1: only log in and out, to tell per-login costs from per-message ones.
        let loginsOnly = ProcessInfo.processInfo.environment["SOAK_LOGINS_ONLY"] == "1"
        let counters = Counters()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<users {
                group.addTask {
                    var client = try await XMPPClient.login(try configuration(index))
                    try await client.sendPresence()
                    counters.add(logins: 1)
                    let partner = try JID("soak\(index ^ 1)@localhost")
                    var round = 0
                    while Date() < deadline {
                        round += 1
                        if !loginsOnly {
                            try await client.sendMessage(to: partner, body: "round \(round) from \(index)")
                            counters.add(sent: 1)
                        }
                        while let stanza = try? await client.receive(timeout: .milliseconds(50)) {
                            if stanza.name == "message" { counters.add(received: 1) }
                        }
                        try await Task.sleep(nanoseconds: UInt64.random(in: 200_000_000...800_000_000))
                        if index % 10 == round % 10 {
                            await client.close()
                            client = try await XMPPClient.login(try configuration(index))
                            try await client.sendPresence()
                            counters.add(logins: 1)
                        }
                    }
                    await client.close()
                }
            }
            try await group.waitForAll()
        }
        let values = counters.values
        print("logins \(values.logins), messages sent \(values.sent), received \(values.received) in \(seconds) s")
    }

    static func register(_ user: String, host: String, port: Int, tls: XMPPClientTLS) async throws {
        let connection = try await XMPPConnection.connect(host: host, port: port)
        defer { Task { await connection.close() } }
        try await connection.openStream(to: "localhost")
        _ = try await connection.expectStreamHeader()
        _ = try await connection.nextElement()
        try await connection.send(raw: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        _ = try await connection.nextElement()
        try await connection.startTLS(tls)
        try await connection.openStream(to: "localhost")
        _ = try await connection.expectStreamHeader()
        _ = try await connection.nextElement()
        try await connection.send(raw: "<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>\(user)</username><password>soak-password</password></query></iq>")
        let answer = try await connection.nextElement(timeout: .seconds(60))
        guard answer.stanzaType == "result" || StanzaError(stanza: answer)?.condition == .conflict else {
            throw XMPPConnection.Failure.unexpected("registration of \(user) failed")
        }
    }

    final class Counters: @unchecked Sendable {
        struct Values { var logins = 0, sent = 0, received = 0 }
        private let lock = NSLock()
        private var current = Values()
        var values: Values { self.lock.withLock { self.current } }
        func add(logins: Int = 0, sent: Int = 0, received: Int = 0) {
            self.lock.withLock {
                self.current.logins += logins
                self.current.sent += sent
                self.current.received += received
            }
        }
    }
}
