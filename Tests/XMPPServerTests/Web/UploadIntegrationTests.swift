import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

/// XEP-0363 over real sockets: slots asked for by a real XMPP client, files sent and fetched
/// over HTTP on the server's loopback listener.
@Suite("HTTP File Upload (XEP-0363) at upload.localhost")
struct UploadIntegrationTests {
    static let ns = "urn:xmpp:http:upload:0"
    static let service = "upload.localhost"

    static func uploadServer(
        _ options: [String: String] = [:], origins: [String]? = nil, hosts: [String]? = nil, registration: Bool = false
    ) -> (inout ServerConfiguration) -> Void {
        { configuration in
            configuration.listeners.append(ServerConfiguration.Listener(kind: .http, addresses: ["127.0.0.1"], port: 0, tls: .none))
            var section: [String: ConfigValue] = ["max_file_size": .scalar("1048576"), "quota_per_user": .scalar("4194304")]
            for (key, value) in options { section[key] = .scalar(value) }
            if let origins { section["allowed_origins"] = .list(origins.map { .scalar($0) }) }
            configuration.modules.sections["upload"] = section
            if let hosts { configuration.hosts = hosts }
            configuration.modules.registration = registration
        }
    }

    static func request(_ filename: String?, size: String?, type: String? = "application/octet-stream") -> Element {
        var request = Element("request", namespace: Self.ns)
        if let filename { request[attribute: "filename"] = filename }
        if let size { request[attribute: "size"] = size }
        if let type { request[attribute: "content-type"] = type }
        return request
    }

    /// Asks for a slot and returns its PUT and GET URLs.
    static func slot(_ client: XMPPClient, _ filename: String, size: Int, type: String = "application/octet-stream") async throws -> (put: String, get: String) {
        let reply = try await client.iq("get", to: try JID(Self.service), payload: Self.request(filename, size: String(size), type: type))
        #expect(reply.stanzaType == "result", "slot request: \(reply)")
        let slot = try #require(reply.child(named: "slot", namespace: Self.ns))
        let put = try #require(slot.child(named: "put", namespace: Self.ns)?[attribute: "url"])
        let get = try #require(slot.child(named: "get", namespace: Self.ns)?[attribute: "url"])
        return (put, get)
    }

    static func slotError(_ client: XMPPClient, _ request: Element, to service: String = Self.service) async throws -> StanzaError? {
        let reply = try await client.iq("get", to: try JID(service), payload: request)
        #expect(reply.stanzaType == "error", "expected an error: \(reply)")
        return StanzaError(stanza: reply)
    }

    static func put(_ url: String, _ body: [UInt8], type: String? = "application/octet-stream", length: Int? = nil, extra: String = "") async throws -> HTTPReply {
        let (port, target) = try #require(LoopbackHTTP.target(url))
        var head = "PUT \(target) HTTP/1.1\r\nHost: localhost:\(port)\r\nContent-Length: \(length ?? body.count)"
        if let type { head += "\r\nContent-Type: \(type)" }
        return try await LoopbackHTTP.exchange(port: port, head + extra, body: body)
    }

    static func get(_ url: String, method: String = "GET", headers: String = "") async throws -> HTTPReply {
        let (port, target) = try #require(LoopbackHTTP.target(url))
        return try await LoopbackHTTP.exchange(port: port, "\(method) \(target) HTTP/1.1\r\nHost: localhost:\(port)\(headers)", expectBody: method != "HEAD")
    }

    /// The slot's directory under the data directory, from its URL.
    static func slotDirectory(_ server: TestServer, _ url: String) -> String {
        let slot = URLComponents(string: url)?.path.split(separator: "/").dropFirst().first.map(String.init) ?? "?"
        return "\(server.dataDirectory)/upload/\(slot)"
    }

    /// The server still serves HTTP and XMPP.
    static func stillServing(_ server: TestServer, _ client: XMPPClient) async throws {
        let port = try #require(server.server.port(for: .http))
        #expect(try await httpGet(port: port, path: "/.well-known/host-meta").status == 200)
        let pong = try await client.iq("get", to: try JID("localhost"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
        #expect(pong.stanzaType == "result")
    }

    static let content: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }

    @Test("the service is listed by the host and describes itself: store/file, the namespace, max-file-size")
    func discovery() async throws {
        try await withServer(configure: Self.uploadServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let items = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoItems))
            #expect(items.child(named: "query")?.children(named: "item").contains { $0[attribute: "jid"] == Self.service } == true)
            let info = try await alice.iq("get", to: try JID(Self.service), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let query = try #require(info.child(named: "query", namespace: XMPPNamespace.discoInfo))
            let identity = try #require(query.child(named: "identity"))
            #expect(identity[attribute: "category"] == "store" && identity[attribute: "type"] == "file")
            #expect(query.children(named: "feature").contains { $0[attribute: "var"] == Self.ns })
            let form = try #require(query.child(named: "x", namespace: XMPPNamespace.dataForms))
            let fields = form.children(named: "field")
            #expect(fields.first { $0[attribute: "var"] == "FORM_TYPE" }?.child(named: "value")?.text == Self.ns)
            #expect(fields.first { $0[attribute: "var"] == "max-file-size" }?.child(named: "value")?.text == "1048576")
            await alice.close()
        }
    }

    @Test("a file PUT into a slot comes back byte for byte: GET, HEAD, ranges 206 and 416; the slot cannot be reused")
    func roundTrip() async throws {
        try await withServer(configure: Self.uploadServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let urls = try await Self.slot(alice, "holiday photo.png", size: Self.content.count, type: "image/png")
            #expect(urls.put.contains("/upload/") && urls.put.hasSuffix(urls.put.split(separator: "&").last.map(String.init) ?? ""))
            #expect(URLComponents(string: urls.get)?.path.hasSuffix("/holiday_photo.png") == true)
            #expect(try await Self.put(urls.put, Self.content, type: "image/png").status == 201)
            #expect(FileManager.default.contents(atPath: Self.slotDirectory(server, urls.put) + "/content") == Data(Self.content))
            #expect(try await server.server.admin.storageUsage(of: "alice@localhost").moduleData["upload_bytes"] == Self.content.count)

            let whole = try await Self.get(urls.get)
            #expect(whole.status == 200)
            #expect(whole.body == Self.content)
            #expect(whole.headers["content-type"] == "image/png")
            #expect(whole.headers["content-disposition"]?.hasPrefix("inline;") == true)
            #expect(whole.headers["x-content-type-options"] == "nosniff")
            #expect(whole.headers["accept-ranges"] == "bytes")

            let head = try await Self.get(urls.get, method: "HEAD")
            #expect(head.status == 200 && head.headers["content-length"] == String(Self.content.count) && head.body.isEmpty)

            let part = try await Self.get(urls.get, headers: "\r\nRange: bytes=1000-1999")
            #expect(part.status == 206)
            #expect(part.headers["content-range"] == "bytes 1000-1999/\(Self.content.count)")
            #expect(part.body == Array(Self.content[1000...1999]))
            let tail = try await Self.get(urls.get, headers: "\r\nRange: bytes=-10")
            #expect(tail.status == 206 && tail.body == Array(Self.content.suffix(10)))
            let beyond = try await Self.get(urls.get, headers: "\r\nRange: bytes=\(Self.content.count)-")
            #expect(beyond.status == 416 && beyond.headers["content-range"] == "bytes */\(Self.content.count)")

            // The same PUT again: refused, the stored file untouched.
            let again = try await Self.put(urls.put, Array(repeating: 0, count: Self.content.count), type: "image/png")
            #expect(again.status == 409)
            #expect(try await Self.get(urls.get).body == Self.content)

            // A GET URL whose signature is not ours finds nothing.
            #expect(try await Self.get(urls.get.replacingOccurrences(of: "signature=", with: "signature=A")).status == 404)
            try await Self.stillServing(server, alice)
            await alice.close()
        }
    }

    @Test("types that run script are served as attachments with nosniff and a sandboxing CSP")
    func scriptTypes() async throws {
        try await withServer(configure: Self.uploadServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let page = Array("<script>alert(1)</script>".utf8)
            for type in ["text/html", "image/svg+xml", "application/javascript"] {
                let urls = try await Self.slot(alice, "page", size: page.count, type: type)
                #expect(try await Self.put(urls.put, page, type: type).status == 201)
                let reply = try await Self.get(urls.get)
                #expect(reply.body == page)
                #expect(reply.headers["content-disposition"]?.hasPrefix("attachment;") == true, "\(type)")
                #expect(reply.headers["x-content-type-options"] == "nosniff")
                #expect(reply.headers["content-security-policy"]?.contains("default-src 'none'") == true)
            }
            await alice.close()
        }
    }

    @Test("slot requests: too large names the limit; bad sizes and names are bad-request; over quota is resource-constraint")
    func slotRequestErrors() async throws {
        try await withServer(configure: Self.uploadServer(["quota_per_user": "1500000"])) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let tooLarge = try #require(try await Self.slotError(alice, Self.request("big.iso", size: "2147483648")))
            #expect(tooLarge.condition == .notAcceptable && tooLarge.type == .modify)
            let detail = try #require(tooLarge.applicationCondition)
            #expect(detail.name == "file-too-large" && detail.namespace == Self.ns)
            #expect(detail.child(named: "max-file-size")?.text == "1048576")
            let huge = try #require(try await Self.slotError(alice, Self.request("big.iso", size: "99999999999999999999999")))
            #expect(huge.condition == .notAcceptable)

            for request in [
                Self.request("a.txt", size: nil), Self.request("a.txt", size: "-1"), Self.request("a.txt", size: "ten"),
                Self.request(nil, size: "10"), Self.request("", size: "10"), Self.request("...", size: "10"),
                Self.request("a.txt", size: "10", type: "text/html\nX: y"),
            ] {
                #expect(try await Self.slotError(alice, request)?.condition == .badRequest, "\(request)")
            }

            _ = try await Self.slot(alice, "one.bin", size: 1_000_000)
            let over = try #require(try await Self.slotError(alice, Self.request("two.bin", size: "1000000")))
            #expect(over.condition == .resourceConstraint && over.type == .wait)
            #expect(over.text?.contains("Quota") == true)
            // What still fits is granted.
            _ = try await Self.slot(alice, "three.bin", size: 400_000)
            try await Self.stillServing(server, alice)
            await alice.close()
        }
    }

    @Test("no service without an HTTP listener or a public_url, and none when disabled: not listed, no route, no directory")
    func absent() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let items = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoItems))
            #expect(items.child(named: "query")?.children(named: "item").contains { $0[attribute: "jid"] == Self.service } == false)
            #expect(try await alice.iq("get", to: try JID(Self.service), payload: Self.request("a.txt", size: "1")).stanzaType == "error")
            await alice.close()
        }
        try await withServer(configure: Self.uploadServer(["enabled": "false"])) { server in
            let port = try #require(server.server.port(for: .http))
            #expect(try await LoopbackHTTP.exchange(port: port, "GET /upload/\(String(repeating: "a", count: 32))/x HTTP/1.1\r\nHost: localhost").status == 404)
            #expect(!FileManager.default.fileExists(atPath: server.dataDirectory + "/upload"))
        }
    }

    @Test("a public_url that is not http(s) stops the start, naming its key")
    func badPublicURL() async throws {
        do {
            try await withServer(configure: Self.uploadServer(["public_url": "ftp://files.example"])) { _ in }
            Issue.record("the server started with public_url ftp://")
        } catch let error as ConfigurationError {
            #expect(error.path == "modules.upload.public_url")
        }
    }

    @Test("accounts of another hosted domain may not upload to this host's service")
    func otherDomainRefused() async throws {
        try await withServer(configure: Self.uploadServer(hosts: ["localhost", "other.test"])) { server in
            let manager = AccountManager(store: server.server.storage.accounts, hosts: ["other.test"])
            _ = try await manager.create("mallory@other.test", password: "mallory-password")
            let configuration = XMPPClientConfiguration(
                account: try JID("mallory@other.test"), password: "mallory-password", host: "127.0.0.1", port: server.starttlsPort,
                security: .starttls(XMPPClientTLS(serverName: "other.test", trust: .pinned(certificatePEM: server.server.certificatePEM ?? ""))),
                mechanisms: [.scramSHA256], resource: nil)
            let mallory = try await XMPPClient.login(configuration)
            let refused = try await Self.slotError(mallory, Self.request("a.txt", size: "10"))
            #expect(refused?.condition == .notAllowed)
            // Her own host's service is hers.
            #expect(try await mallory.iq("get", to: try JID("upload.other.test"), payload: Self.request("a.txt", size: "10")).stanzaType == "result")
            await mallory.close()
        }
    }
}
