import Foundation
import Logging
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

@Suite("AdminOperations: the operations every admin front shares")
struct AdminOperationsIntegrationTests {
    @Test("accounts are listed in pages, searched, and show whether they are disabled and online")
    func listAccounts() async throws {
        try await withServer { server in
            for name in ["alice", "bob", "carol", "dave", "erin"] { try await server.addUser(name, password: "\(name)-password") }
            let admin = server.server.admin
            let first = try await admin.listAccounts(limit: 2)
            #expect(first.accounts.map(\.jid) == ["alice@localhost", "bob@localhost"])
            #expect(first.total == 5)
            #expect(first.next == "bob@localhost")
            let second = try await admin.listAccounts(after: first.next, limit: 2)
            #expect(second.accounts.map(\.jid) == ["carol@localhost", "dave@localhost"])
            let last = try await admin.listAccounts(after: second.next, limit: 2)
            #expect(last.accounts.map(\.jid) == ["erin@localhost"])
            #expect(last.next == nil)
            #expect(try await admin.listAccounts(search: "AR").accounts.map(\.jid) == ["carol@localhost"])

            let bob = try await server.login("bob", password: "bob-password")
            try await admin.setDisabled("erin@localhost", true)
            let page = try await admin.listAccounts(limit: 10)
            #expect(page.accounts.first { $0.jid == "bob@localhost" }?.sessions == 1)
            #expect(page.accounts.first { $0.jid == "erin@localhost" }?.disabled == true)
            await #expect(throws: AdminError.self) { try await admin.listAccounts(domain: "elsewhere.example") }
            await bob.close()
        }
    }

    @Test("sessions are listed with address, transport, encryption and stream management; a kick ends one with policy-violation")
    func sessions() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password", resource: "phone")
            let admin = server.server.admin
            let sessions = try await admin.listSessions()
            #expect(sessions.count == 1)
            let session = try #require(sessions.first)
            #expect(session.jid == "alice@localhost/phone")
            #expect(session.address == "127.0.0.1")
            #expect(session.transport == .tcp)
            #expect(session.encrypted == true)
            #expect(session.streamManagement == .off)
            let json = try JSONEncoder().encode(sessions)
            #expect(String(decoding: json, as: UTF8.self).contains("\"transport\":\"tcp\""))

            await #expect(throws: AdminError.self) { try await admin.kick("alice@localhost/laptop") }
            #expect(try await admin.kick("alice@localhost/phone") == 1)
            #expect(try await expectStreamError(alice.connection) == .policyViolation)
            try await waitUntil("the session is gone") { admin.sessionCount == 0 }
        }
    }

    @Test("statistics count sessions by transport and accounts; memory is read from the system")
    func statistics() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "alice-password")
            try await server.addUser("bob", password: "bob-password")
            let alice = try await server.login("alice", password: "alice-password")
            let statistics = try await server.server.admin.statistics()
            #expect(statistics.sessions == 1)
            #expect(statistics.sessionsByTransport == ["tcp": 1])
            #expect(statistics.registeredAccounts == 2)
            #expect(statistics.s2sOutboundLinks == 0)
            #expect((statistics.residentMemoryBytes ?? 0) > 1_000_000)
            // Counted from this server's start, moments ago, and consistent with it.
            let sinceStart = Date().timeIntervalSince(statistics.startedAt)
            #expect(sinceStart >= 0 && sinceStart < 120)
            #expect(abs(Double(statistics.uptimeSeconds) - sinceStart) <= 2)
            await alice.close()
        }
    }

    @Test("storage usage counts offline messages; deleting an account removes it and its data")
    func storageAndDeletion() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "alice-password")
            try await server.addUser("bob", password: "bob-password")
            let alice = try await server.login("alice", password: "alice-password")
            try await alice.sendMessage(to: try JID("bob@localhost"), body: "while you were out")
            let admin = server.server.admin
            try await waitUntil("the message is stored offline") { try await admin.storageUsage(of: "bob@localhost").offlineMessages == 1 }
            try await admin.setDisabled("bob@localhost", true)
            try await admin.deleteAccount("bob@localhost")
            #expect(try await admin.accountExists("bob@localhost") == false)
            #expect(admin.disabledAccounts.isEmpty)
            #expect(try await server.server.storage.offline.count(for: try JID("bob@localhost")) == 0)
            await #expect(throws: AdminError.self) { try await admin.deleteAccount("bob@localhost") }
            await alice.close()
        }
    }

    @Test("the log level changes at runtime for every copy of the server's logger (the streams' included)")
    func logLevel() async throws {
        let log = CapturedLog()
        try await withServer(configure: { $0.logLevel = .warning }, logger: log.logger) { server in
            try await server.addUser("alice", password: "alice-password")
            let quiet = try await server.login("alice", password: "alice-password")
            await quiet.close()
            #expect(!log.text.contains("resource bound"))
            server.server.admin.logLevel = .info
            #expect(server.server.admin.logLevel == .info)
            let loud = try await server.login("alice", password: "alice-password")
            #expect(log.text.contains("resource bound"))
            await loud.close()
        }
    }

    @Test("a disabled account stays disabled across a restart")
    func disabledSurvivesRestart() async throws {
        let directory = NSTemporaryDirectory() + "starling-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configure: (inout ServerConfiguration) -> Void = { $0.dataDirectory = directory }
        let first = try await TestServer(configure: configure)
        try await first.addUser("bob", password: "bob-password")
        try await first.server.admin.setDisabled("bob@localhost", true)
        await first.server.shutdown()
        let second = try await TestServer(configure: configure)
        #expect(try second.server.admin.isDisabled("bob@localhost"))
        await #expect {
            _ = try await second.login("bob", password: "bob-password")
        } throws: { error in
            guard case XMPPClient.LoginError.authenticationFailed(let failure) = error else { return false }
            return failure == .accountDisabled
        }
        await second.server.shutdown()
    }
}
