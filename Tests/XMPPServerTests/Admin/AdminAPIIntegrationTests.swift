import Foundation
import Testing
import XMPPClient
import XMPPCore
@testable import XMPPServer

/// The admin API over a real `kind: admin` listener, with tokens made by the token store as
/// `starling token create` makes them.
@Suite("Admin HTTP API over real sockets")
struct AdminAPIIntegrationTests {
    static let prefix = AdminAPI.prefix

    struct Fixture {
        let server: TestServer
        let read: String
        let write: String
        var port: Int { self.server.server.boundListeners.first { $0.listener.kind == .admin }?.address.port ?? 0 }

        func call(_ method: String, _ path: String, token: String?, json: String = "", headers: [String: String] = [:]) async throws
            -> (status: Int, headers: [String: String], body: String)
        {
            var headers = headers
            if let token { headers["Authorization"] = "Bearer \(token)" }
            if !json.isEmpty && headers["Content-Type"] == nil { headers["Content-Type"] = "application/json" }
            return try await httpRequest(port: self.port, method: method, path: AdminAPIIntegrationTests.prefix + path, headers: headers, body: json)
        }

        func object(_ method: String, _ path: String, json: String = "") async throws -> [String: Any] {
            let reply = try await self.call(method, path, token: self.write, json: json)
            let object = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any]
            return try #require(object, "\(method) \(path) answered \(reply.status) \(reply.body)")
        }
    }

    static func withFixture(log: CapturedLog? = nil, lockoutFailures: Int = 1000, _ body: (Fixture) async throws -> Void) async throws {
        let server = try await TestServer(
            configure: { configuration in
                configuration.listeners.append(.init(kind: .admin, addresses: ["127.0.0.1"], port: 0, tls: .none))
                configuration.adminAPI.requestsPerSecond = 1000
                configuration.adminAPI.burst = 1000
                configuration.adminAPI.lockoutFailures = lockoutFailures
            }, logger: log?.logger)
        do {
            let tokens = AdminTokenStore(backend: server.server.storage)
            let read = try await tokens.create(scope: .read, label: "test", lifetime: 600).0.description
            let write = try await tokens.create(scope: .write, label: "test", lifetime: 600).0.description
            try await body(Fixture(server: server, read: read, write: write))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// How the server ended the client's stream: the stream error's condition, nil when it
    /// ended otherwise or did not end within the client's timeout.
    static func streamEnd(_ client: XMPPClient) async -> StreamErrorCondition? {
        for _ in 0..<100 {
            do {
                _ = try await client.receive()
            } catch XMPPConnection.Failure.streamError(let error) {
                return error.condition
            } catch {
                return nil
            }
        }
        return nil
    }

    /// Every call of the API: method, path, body.
    static let calls: [(String, String, String)] = [
        ("GET", "/status", ""),
        ("GET", "/accounts", ""),
        ("POST", "/accounts", #"{"jid":"new@localhost","password":"a-password"}"#),
        ("GET", "/accounts/alice@localhost", ""),
        ("PUT", "/accounts/alice@localhost/password", #"{"password":"another-password"}"#),
        ("PUT", "/accounts/alice@localhost/disabled", #"{"disabled":false}"#),
        ("GET", "/accounts/alice@localhost/roster", ""),
        ("GET", "/accounts/alice@localhost/fast-tokens", ""),
        ("DELETE", "/accounts/alice@localhost/fast-tokens", ""),
        ("GET", "/sessions", ""),
        ("DELETE", "/sessions/alice@localhost", ""),
        ("POST", "/announcements", #"{"body":"hello"}"#),
        ("GET", "/rooms", ""),
        ("GET", "/rooms/lobby@conference.localhost", ""),
        ("DELETE", "/rooms/lobby@conference.localhost", #"{"reason":"closing"}"#),
        ("GET", "/log-level", ""),
        ("PUT", "/log-level", #"{"level":"warning"}"#),
        ("POST", "/reload", ""),
        ("GET", "/invitations", ""),
        ("POST", "/invitations", #"{"uses":2}"#),
        ("DELETE", "/invitations/{invitation}", ""),
        ("DELETE", "/accounts/alice@localhost", ""),
    ]

    @Test("every call: 401 without a token and with a wrong one; writes 403 with a read token; each works with the right scope")
    func everyCallIsGuarded() async throws {
        #expect(Self.calls.count == AdminAPI.routes.count)
        try await Self.withFixture { fixture in
            try await fixture.server.addUser("alice", password: "a-password")
            try await fixture.server.addUser("carol", password: "c-password")
            let carol = try await fixture.server.login("carol", password: "c-password")
            try await carol.createRoom(MUC.room("lobby"), as: "Carol", ["muc#roomconfig_persistentroom": ["1"]])
            let forged = AdminToken.generate().description
            let invitation = try await InvitationStore(backend: fixture.server.server.storage).create(
                InvitationRequest(kind: .account, domain: "localhost", lifetime: 600, createdBy: "test")).1
            for (method, template, json) in Self.calls {
                let path = template.replacingOccurrences(of: "{invitation}", with: invitation.id)
                let missing = try await fixture.call(method, path, token: nil, json: json)
                #expect(missing.status == 401 && missing.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(method) \(path) without a token")
                #expect(try await fixture.call(method, path, token: forged, json: json).status == 401, "\(method) \(path) with a forged token")
                let read = try await fixture.call(method, path, token: fixture.read, json: json)
                if method == "GET" {
                    #expect(read.status == 200, "\(method) \(path) with a read token: \(read.body)")
                } else {
                    #expect(read.status == 403 && read.body.contains("insufficient_scope"), "\(method) \(path) with a read token")
                }
                let write = try await fixture.call(method, path, token: fixture.write, json: json)
                #expect((200..<300).contains(write.status), "\(method) \(path) with a write token: \(write.status) \(write.body)")
            }
            await carol.close()
        }
    }

    @Test("invitations: made with their URI once, listed without it, refused when out of bounds, revoked")
    func invitations() async throws {
        try await Self.withFixture { fixture in
            try await fixture.server.addUser("alice", password: "a-password")
            let made = try await fixture.object("POST", "/invitations", json: #"{"rosterOf":"alice@localhost","uses":3,"expiresInHours":2}"#)
            let uri = try #require(made["uri"] as? String)
            #expect(uri.hasPrefix("xmpp:alice@localhost?roster;preauth=") && uri.hasSuffix(";ibr=y"))
            #expect(made["usesLeft"] as? Int == 3 && made["rosterOf"] as? String == "alice@localhost" && made["kind"] as? String == "account")
            let id = try #require(made["id"] as? String)
            let listed = try await fixture.call("GET", "/invitations", token: fixture.read)
            let list = try #require(try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [[String: Any]])
            #expect(list.map { $0["id"] as? String } == [id])
            #expect(!listed.body.contains("preauth"), "the list shows a token: \(listed.body)")
            for (json, status) in [
                (#"{"uses":0}"#, 400), (#"{"uses":1001}"#, 400), (#"{"expiresInHours":0}"#, 400), (#"{"expiresInHours":9000}"#, 400),
                (#"{"domain":"elsewhere.example"}"#, 400), (#"{"rosterOf":"nobody@localhost"}"#, 404), (#"{"rosterOf":"not a jid@"}"#, 400),
                (#"{"uses":"many"}"#, 400),
            ] {
                #expect(try await fixture.call("POST", "/invitations", token: fixture.write, json: json).status == status, "\(json)")
            }
            #expect(try await fixture.call("DELETE", "/invitations/\(id)", token: fixture.write).status == 204)
            #expect(try await fixture.call("DELETE", "/invitations/\(id)", token: fixture.write).status == 404)
            #expect(try await fixture.call("GET", "/invitations", token: fixture.read).body == "[]")
        }
    }

    @Test("create, disable, re-enable, change the password and delete an account; a disabled account's session ends and it cannot log in")
    func accountLifecycle() async throws {
        try await Self.withFixture { fixture in
            let created = try await fixture.object("POST", "/accounts", json: #"{"jid":"bob@localhost","password":"first-password"}"#)
            #expect(created["jid"] as? String == "bob@localhost")
            let client = try await fixture.server.login("bob", password: "first-password")
            // A PEP node with one item: the account page counts them.
            let publish = Element("pubsub", namespace: "http://jabber.org/protocol/pubsub", children: [
                Element("publish", namespace: "http://jabber.org/protocol/pubsub", attributes: [("node", "urn:example:status")], children: [
                    Element("item", namespace: "http://jabber.org/protocol/pubsub", attributes: [("id", "current")], children: [Element("status", namespace: "urn:example", text: "here")])
                ])
            ])
            let published = try await client.iq("set", to: nil, payload: publish)
            #expect(published[attribute: "type"] == "result")
            let details = try await fixture.object("GET", "/accounts/bob@localhost")
            #expect((details["moduleData"] as? [String: Int]) == ["pep_nodes": 1, "pep_items": 1, "pubsub_nodes_owned": 0, "pubsub_subscriptions": 0])
            let sessions = details["sessions"] as? [[String: Any]]
            #expect(sessions?.count == 1 && sessions?.first?["transport"] as? String == "tcp")

            let disabled = try await fixture.object("PUT", "/accounts/bob@localhost/disabled", json: #"{"disabled":true}"#)
            #expect(disabled["disabled"] as? Bool == true)
            #expect(await Self.streamEnd(client) == .policyViolation)
            await #expect(throws: (any Error).self) { try await fixture.server.login("bob", password: "first-password") }
            _ = try await fixture.object("PUT", "/accounts/bob@localhost/disabled", json: #"{"disabled":false}"#)

            let changed = try await fixture.call("PUT", "/accounts/bob@localhost/password", token: fixture.write, json: #"{"password":"second-password"}"#)
            #expect(changed.status == 204)
            let again = try await fixture.server.login("bob", password: "second-password")
            await again.close()

            let page = try await fixture.object("GET", "/accounts?search=BO&limit=10")
            #expect((page["accounts"] as? [[String: Any]])?.compactMap { $0["jid"] as? String } == ["bob@localhost"])
            #expect(try await fixture.call("POST", "/accounts", token: fixture.write, json: #"{"jid":"bob@localhost","password":"x-password"}"#).status == 409)
            #expect(try await fixture.call("DELETE", "/accounts/bob@localhost", token: fixture.write).status == 204)
            #expect(try await fixture.call("GET", "/accounts/bob@localhost", token: fixture.read).status == 404)
        }
    }

    @Test("FAST tokens: the API lists the client that holds one, never the token; revoking them makes the token login fail")
    func fastTokens() async throws {
        try await Self.withFixture { fixture in
            try await fixture.server.addUser("dave", password: "a-password")
            let token = try await fixture.server.issueToken("dave", password: "a-password", agent: "phone-1")
            let listed = try await fixture.call("GET", "/accounts/dave@localhost/fast-tokens", token: fixture.read)
            let clients = try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [[String: Any]]
            #expect(clients?.compactMap { $0["userAgent"] as? String } == ["phone-1"])
            #expect(!listed.body.contains(token.token))
            let expires = try #require(clients?.first?["expiresAt"] as? String)
            #expect((ISO8601DateFormatter().date(from: expires) ?? .distantPast) > Date())
            let revoked = try await fixture.object("DELETE", "/accounts/dave@localhost/fast-tokens")
            #expect(revoked["revoked"] as? Int == 1)
            await #expect(throws: (any Error).self) { try await fixture.server.tokenLogin("dave", token: token, agent: "phone-1") }
            #expect(try await fixture.call("GET", "/accounts/nobody@localhost/fast-tokens", token: fixture.read).status == 404)
        }
    }

    @Test("kick ends a connected session; an announcement reaches it first")
    func kickAndAnnounce() async throws {
        try await Self.withFixture { fixture in
            try await fixture.server.addUser("carol", password: "a-password")
            let client = try await fixture.server.login("carol", password: "a-password", resource: "phone")
            try await client.send(Element("presence", namespace: XMPPNamespace.client))
            let sent = try await fixture.object("POST", "/announcements", json: #"{"subject":"Maintenance","body":"Back at noon"}"#)
            #expect(sent["sessions"] as? Int == 1)
            let headline = try await client.receive { $0.name == "message" && $0[attribute: "type"] == "headline" }
            #expect(headline.child(named: "body")?.text == "Back at noon")
            #expect(try await fixture.call("DELETE", "/sessions/carol@localhost%2Fphone", token: fixture.write).status == 400)
            #expect(try await fixture.call("DELETE", "/sessions/carol@localhost?resource=laptop", token: fixture.write).status == 404)
            let kicked = try await fixture.object("DELETE", "/sessions/carol@localhost?resource=phone")
            #expect(kicked["ended"] as? Int == 1)
            #expect(await Self.streamEnd(client) == .policyViolation)
        }
    }

    @Test("hostile requests: traversal, oversized and form bodies, other origins, wrong methods and paths; every call is audited without the token")
    func hostile() async throws {
        let log = CapturedLog()
        try await Self.withFixture(log: log) { fixture in
            for path in ["/../../../etc/passwd", "/%2e%2e/status", "/accounts%2f..%2fstatus", "//status", "/status/"] {
                let reply = try await fixture.call("GET", path, token: fixture.write)
                #expect(reply.status == 400 && reply.body.contains("bad_path"), "\(path)")
            }
            let big = #"{"body":""# + String(repeating: "a", count: AdminAPI.maximumBodyBytes) + #""}"#
            #expect(try await fixture.call("POST", "/announcements", token: fixture.write, json: big).status == 413)
            let form = try await fixture.call("POST", "/announcements", token: fixture.write, json: "body=x", headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(form.status == 415)
            #expect(try await fixture.call("POST", "/announcements", token: fixture.write, json: "{not json").status == 400)
            #expect(try await fixture.call("GET", "/status", token: fixture.write, headers: ["Origin": "https://evil.example"]).status == 403)
            #expect(try await fixture.call("PATCH", "/status", token: fixture.write).status == 405)
            #expect(try await fixture.call("GET", "/nothing-here", token: fixture.write).status == 404)
            #expect(try await fixture.call("GET", "/accounts/nobody@elsewhere.example", token: fixture.read).status == 400)
            #expect(try await fixture.call("PUT", "/log-level", token: fixture.write, json: #"{"level":"loud"}"#).status == 400)
            #expect(try await fixture.call("GET", "/accounts?limit=0", token: fixture.read).status == 400)
            let outside = try await httpRequest(port: fixture.port, method: "GET", path: "/xmpp-websocket", headers: ["Authorization": "Bearer \(fixture.write)"])
            #expect(outside.status == 404)
            let secret = String(fixture.write.split(separator: "_").last ?? "")
            #expect(log.text.contains("admin API call") && !log.text.contains(secret))
        }
    }

    @Test("wrong tokens from one address are refused with 429 after the lockout count, even with the right token")
    func guessing() async throws {
        try await Self.withFixture(lockoutFailures: 5) { fixture in
            for _ in 0..<5 {
                #expect(try await fixture.call("GET", "/status", token: AdminToken.generate().description).status == 401)
            }
            let locked = try await fixture.call("GET", "/status", token: fixture.read)
            #expect(locked.status == 429 && locked.headers["retry-after"] != nil)
        }
    }

    @Test("no admin listener unless one is configured")
    func offByDefault() async throws {
        let server = try await TestServer()
        #expect(!server.server.boundListeners.contains { $0.listener.kind == .admin })
        await server.stop()
    }

    @Test("every route is in docs/admin-api.yaml and the document names no other")
    func documentMatchesRoutes() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: source.appendingPathComponent("docs/admin-api.yaml"), encoding: .utf8)
        var documented: Set<String> = []
        var path: String?
        for line in document.split(separator: "\n") {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("components:") {
                path = nil
            } else if let path, let method = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" }) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let routed = Set(AdminAPI.routes.map { "\($0.method) /\($0.template.joined(separator: "/"))" })
        #expect(documented == routed)
    }
}
