import Foundation
import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPStorage
import XMPPStream

private let register = "jabber:iq:register"

extension TestServer {
    /// A SASL2 login as `agent` that asks for a FAST token.
    func fastConfiguration(_ localpart: String, password: String, agent: String = "ua-1", direct: Bool = false) -> XMPPClientConfiguration {
        var configuration = self.configuration(localpart, password: password, direct: direct)
        configuration.userAgent = SASL2.UserAgent(id: agent, software: "FAST tests")
        configuration.requestFASTToken = true
        return configuration
    }

    /// Logs in with the token alone (no password to fall back to).
    func tokenLogin(_ localpart: String, token: FASTToken, agent: String = "ua-1", direct: Bool = false) async throws -> XMPPClient {
        var configuration = self.configuration(localpart, password: "", direct: direct)
        configuration.userAgent = SASL2.UserAgent(id: agent)
        configuration.fastToken = token
        return try await XMPPClient.login(configuration)
    }

    /// A password login that asks for a token, returning the token.
    func issueToken(_ localpart: String, password: String, agent: String = "ua-1", direct: Bool = false) async throws -> FASTToken {
        let client = try await XMPPClient.login(self.fastConfiguration(localpart, password: password, agent: agent, direct: direct))
        let token = client.fastToken
        await client.close()
        return try #require(token)
    }

    fileprivate var fastTokens: FASTTokenStore { FASTTokenStore(backend: self.server.storage) }
}

/// The SASL failure a login threw, if it was one.
private func loginFailure(_ body: () async throws -> XMPPClient) async -> SASLFailure? {
    do {
        let client = try await body()
        await client.close()
        return nil
    } catch let error as XMPPClient.LoginError {
        if case .authenticationFailed(let failure) = error { return failure }
        return nil
    } catch {
        return nil
    }
}

@Suite("FAST (XEP-0484) with HT-SHA-256 over real sockets")
struct FASTIntegrationTests {
    @Test("a password login gets a token; a new connection logs in with it in one round trip less and is bound", arguments: [false, true])
    func issueAndUse(direct: Bool) async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let first = try await XMPPClient.login(server.fastConfiguration("alice", password: "a-password", direct: direct))
            let token = try #require(first.fastToken)
            // TLS 1.3 on both listeners: the exporter binding is there, so EXPR is picked.
            #expect(token.mechanism == .exporter)
            #expect(token.token.hasPrefix("secret-token:fast-"))
            let expiry = try #require(ISO8601DateFormatter().date(from: token.expiry))
            #expect(expiry > Date().addingTimeInterval(20 * 86_400))
            let passwordTrips = first.loginRoundTrips
            await first.close()

            let second = try await server.tokenLogin("alice", token: token, direct: direct)
            #expect(second.fastMechanism == .exporter && second.mechanism == nil)
            #expect(second.bound != nil && second.jid.resourcepart?.hasPrefix("Starling/") == true)
            // The SCRAM challenge round trip is gone.
            #expect(second.loginRoundTrips == passwordTrips - 1)
            // No new token: the default lifetime is far from the rotation window.
            #expect(second.fastToken == nil)
            #expect(try await second.iq("get", to: JID(server.domain), payload: Element(name: "ping", namespace: XMPPNamespace.ping)).stanzaType == "result")
            await second.close()
        }
    }

    @Test("a wrong token and the right token with another HT mechanism are refused with not-authorized; with a password the client falls back")
    func refused() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let token = try await server.issueToken("alice", password: "a-password")
            var wrong = token
            wrong.token = FASTTokenIssuer.newToken()
            #expect(await loginFailure { try await server.tokenLogin("alice", token: wrong) } == .notAuthorized)
            for other in [HTMechanism.endpoint, .unbound] {
                var misused = token
                misused.mechanism = other
                #expect(await loginFailure { try await server.tokenLogin("alice", token: misused) } == .notAuthorized)
            }
            // The same wrong token with the password configured: the password logs in.
            var fallback = server.configuration("alice", password: "a-password")
            fallback.userAgent = SASL2.UserAgent(id: "ua-1")
            fallback.fastToken = wrong
            let client = try await XMPPClient.login(fallback)
            #expect(client.fastMechanism == nil && client.mechanism == .scramSHA256 && client.bound != nil)
            await client.close()
            // The refused attempts did not spoil the real token.
            let good = try await server.tokenLogin("alice", token: token)
            await good.close()
        }
    }

    @Test("an expired token is refused with credentials-expired")
    func expired() async throws {
        try await withServer(configure: { $0.c2s.fast.tokenLifetimeSeconds = 1 }) { server in
            try await server.addUser("alice", password: "a-password")
            let token = try await server.issueToken("alice", password: "a-password")
            try await Task.sleep(for: .milliseconds(2100))
            #expect(await loginFailure { try await server.tokenLogin("alice", token: token) } == .credentialsExpired)
        }
    }

    @Test("rotation: a token login near expiry gets a new token; the old one works until the new one is used")
    func rotation() async throws {
        // Every token is inside the rotation window from the start.
        try await withServer(configure: { $0.c2s.fast.rotateBeforeSeconds = 7200; $0.c2s.fast.tokenLifetimeSeconds = 3600 }) { server in
            try await server.addUser("alice", password: "a-password")
            let first = try await server.issueToken("alice", password: "a-password")
            let rotating = try await server.tokenLogin("alice", token: first)
            let second = try #require(rotating.fastToken)
            #expect(second.token != first.token && second.mechanism == first.mechanism)
            await rotating.close()
            // Not yet used: the old token still logs in (and, being rotated again, replaces the unused one).
            let stillOld = try await server.tokenLogin("alice", token: first)
            let third = try #require(stillOld.fastToken)
            await stillOld.close()
            #expect(await loginFailure { try await server.tokenLogin("alice", token: second) } == .notAuthorized)
            // The new token is used: from now on the old one is refused.
            let fresh = try await server.tokenLogin("alice", token: third)
            await fresh.close()
            #expect(await loginFailure { try await server.tokenLogin("alice", token: first) } == .notAuthorized)
        }
    }

    @Test("invalidate revokes the token after the login; two user agents have independent tokens")
    func invalidateAndUserAgents() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let phone = try await server.issueToken("alice", password: "a-password", agent: "phone")
            let laptop = try await server.issueToken("alice", password: "a-password", agent: "laptop")
            // A token belongs to the client it was issued to.
            #expect(await loginFailure { try await server.tokenLogin("alice", token: phone, agent: "laptop") } == .notAuthorized)
            var logout = server.configuration("alice", password: "")
            logout.userAgent = SASL2.UserAgent(id: "phone")
            logout.fastToken = phone
            logout.invalidateFASTToken = true
            let last = try await XMPPClient.login(logout)
            #expect(last.fastToken == nil)
            await last.close()
            #expect(await loginFailure { try await server.tokenLogin("alice", token: phone, agent: "phone") } == .notAuthorized)
            let other = try await server.tokenLogin("alice", token: laptop, agent: "laptop")
            await other.close()
        }
    }

    @Test("a password change (the CLI's AccountManager, and in-band XEP-0077) revokes every token of the account")
    func passwordChangeRevokes() async throws {
        try await withServer(configure: { $0.modules.registration = true }) { server in
            try await server.addUser("alice", password: "a-password")
            let token = try await server.issueToken("alice", password: "a-password")
            let manager = AccountManager(backend: server.server.storage, hosts: [server.domain])
            _ = try await manager.changePassword("alice@\(server.domain)", password: "b-password")
            #expect(await loginFailure { try await server.tokenLogin("alice", token: token) } == .notAuthorized)

            let again = try await server.issueToken("alice", password: "b-password", agent: "ua-2")
            let client = try await server.login("alice", password: "b-password")
            let change = Element(
                "query", namespace: register,
                children: [Element("username", namespace: register, text: "alice"), Element("password", namespace: register, text: "c-password")])
            #expect(try await client.iq("set", to: nil, payload: change).stanzaType == "result")
            await client.close()
            #expect(await loginFailure { try await server.tokenLogin("alice", token: again, agent: "ua-2") } == .notAuthorized)
            #expect(try await server.fastTokens.record(of: JID("alice@\(server.domain)"), userAgentID: "ua-2") == nil)
        }
    }

    @Test("deleting the account drops its tokens: a new account of the same name cannot use them")
    func deletionRevokes() async throws {
        try await withServer { server in
            let account = try await server.addUser("alice", password: "a-password")
            let token = try await server.issueToken("alice", password: "a-password")
            #expect(try await server.fastTokens.record(of: account, userAgentID: "ua-1") != nil)
            _ = try await AccountManager(backend: server.server.storage, hosts: [server.domain]).delete("alice@\(server.domain)")
            #expect(try await server.fastTokens.record(of: account, userAgentID: "ua-1") == nil)
            try await server.addUser("alice", password: "new-owner")
            #expect(await loginFailure { try await server.tokenLogin("alice", token: token) } == .notAuthorized)
        }
    }

    @Test("a token record the store cannot read: the token login gets temporary-auth-failure and is not counted as a failure, a password login stands without a token, the record is untouched")
    func unreadableRecord() async throws {
        let log = CapturedLog()
        let server = try await TestServer(configure: { $0.limits.authenticationLockoutFailures = 2 }, logger: log.logger)
        do {
            try await server.addUser("alice", password: "a-password")
            let token = try await server.issueToken("alice", password: "a-password")
            // What a half-written or hand-edited row looks like to the server.
            let damaged = "{\"current\": 42"
            try await server.server.storage.moduleData.transaction(module: "fast") { documents in
                try documents.put(damaged, collection: "account:fast-tokens", key: "alice@\(server.domain)\u{0}ua-1")
            }
            // More attempts than the lockout allows: none of them is the client's fault.
            for _ in 0..<3 {
                #expect(await loginFailure { try await server.tokenLogin("alice", token: token) } == .temporaryAuthFailure)
            }
            let client = try await XMPPClient.login(server.fastConfiguration("alice", password: "a-password"))
            #expect(client.bound != nil && client.fastToken == nil)
            await client.close()
            let stored = try await server.server.storage.moduleData.transaction(module: "fast") { documents in
                try documents.document("account:fast-tokens", key: "alice@\(server.domain)\u{0}ua-1")?.value
            }
            #expect(stored == damaged)
            #expect(log.text.contains("cannot check a FAST token") && log.text.contains("cannot store a FAST token"))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("the database holds the token's digest, never the token; the debug log holds neither")
    func neverStoredOrLoggedInClear() async throws {
        let log = CapturedLog()
        let server = try await TestServer(configure: { $0.logLevel = .debug }, logger: log.logger)
        do {
            try await server.addUser("alice", password: "a-password")
            let token = try await server.issueToken("alice", password: "a-password")
            let client = try await server.tokenLogin("alice", token: token)
            await client.close()
            let record = try #require(try await server.fastTokens.record(of: JID("alice@\(server.domain)"), userAgentID: "ua-1"))
            #expect(record.current?.digest == Base64.encode(FASTTokenIssuer.digest(of: token.token)))
            // Every file of the data directory (the database, its WAL), byte for byte.
            let secret = String(token.token.dropFirst(FASTTokenIssuer.prefix.count))
            var checked = 0
            for name in try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory) {
                guard let data = FileManager.default.contents(atPath: server.dataDirectory + "/" + name) else { continue }
                checked += data.count
                #expect(data.range(of: Data(secret.utf8)) == nil, "the token is in \(name)")
            }
            #expect(checked > 0)
            let text = log.text
            #expect(text.contains("FAST token issued"))
            #expect(!text.contains(secret))
            #expect(!text.contains(record.current?.digest ?? "-"))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
