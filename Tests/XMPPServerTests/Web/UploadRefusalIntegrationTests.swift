import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

private typealias U = UploadIntegrationTests

/// What the upload service refuses over HTTP, and what it removes: every bad PUT leaves
/// nothing on disk and the slot usable, paths never reach the file system, CORS preflights are
/// answered, expired URLs and files and a deleted account's files are gone.
@Suite("HTTP File Upload (XEP-0363): refusals, CORS, expiry and deletion")
struct UploadRefusalIntegrationTests {
    static func files(in directory: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    }

    @Test("a PUT with the wrong length, type, signature or encoding is refused with nothing stored; then the right one succeeds")
    func badPuts() async throws {
        try await withServer(configure: U.uploadServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let body = Array(U.content.prefix(5_000))
            let urls = try await U.slot(alice, "notes.txt", size: body.count, type: "text/plain")
            let directory = U.slotDirectory(server, urls.put)

            // One byte more than the slot, announced honestly.
            #expect(try await U.put(urls.put, body + [0], type: "text/plain").status == 400)
            // The right length announced, a different type.
            #expect(try await U.put(urls.put, body, type: "text/html").status == 400)
            // No type at all counts as application/octet-stream, which is not this slot's.
            #expect(try await U.put(urls.put, body, type: nil).status == 400)
            // A chunked body has no length to compare: refused before any of it is read.
            let (port, target) = try #require(LoopbackHTTP.target(urls.put))
            let chunked = try await LoopbackHTTP.exchange(
                port: port, "PUT \(target) HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked",
                body: Array("1388\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8))
            #expect(chunked.status == 400)
            // The signature of another slot, or none.
            let tampered = urls.put.replacingOccurrences(of: "signature=", with: "signature=x")
            #expect(try await U.put(tampered, body, type: "text/plain").status == 403)
            let unsigned = String(urls.put.prefix { $0 != "?" })
            #expect(try await U.put(unsigned, body, type: "text/plain").status == 403)
            // A later expiry written into the URL by hand.
            let extended = urls.put.replacingOccurrences(of: "expires=", with: "expires=9")
            #expect(try await U.put(extended, body, type: "text/plain").status == 403)
            #expect(!FileManager.default.fileExists(atPath: directory + "/content"))
            #expect(Self.files(in: directory).isEmpty, "left behind: \(Self.files(in: directory))")

            // A client that leaves in the middle of its body leaves no partial file behind.
            try await LoopbackHTTP.abandon(
                port: port, "PUT \(target) HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: \(body.count)",
                partialBody: Array(body.prefix(1_000)))
            try await waitUntil("the abandoned upload's partial file is removed") { Self.files(in: directory).isEmpty }

            // The slot was never used up. The abandoned PUT lets go of it just after its partial
            // file is gone; until then a PUT is 409 (refused before its body is read).
            var status = 0
            try await waitUntil("the slot takes the upload") {
                status = try await U.put(urls.put, body, type: "text/plain").status
                return status != 409
            }
            #expect(status == 201)
            #expect(try await U.get(urls.get).body == body)
            try await U.stillServing(server, alice)
            await alice.close()
        }
    }

    @Test("a PUT whose body stops coming is dropped after stall_timeout: 408 or a close, no partial file, the slot free again")
    func stalledBody() async throws {
        try await withServer(configure: U.uploadServer(["stall_timeout": "1"])) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let body = Array(U.content.prefix(100_000))
            let urls = try await U.slot(alice, "slow.bin", size: body.count)
            let (port, target) = try #require(LoopbackHTTP.target(urls.put))
            let started = ContinuousClock.now
            do {
                // Half the body, then nothing, with the connection left open.
                let reply = try await LoopbackHTTP.exchange(
                    port: port, "PUT \(target) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)",
                    body: Array(body.prefix(50_000)), timeout: .seconds(15))
                #expect(reply.status == 408)
            } catch is HTTPClientNoResponse {
                // Closed without an answer: dropped all the same.
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            let directory = U.slotDirectory(server, urls.put)
            #expect(Self.files(in: directory).isEmpty, "left behind: \(Self.files(in: directory))")
            var status = 0
            try await waitUntil("the slot takes the upload") {
                status = try await U.put(urls.put, body).status
                return status != 409
            }
            #expect(status == 201)
            try await U.stillServing(server, alice)
            await alice.close()
        }
    }

    @Test("PUTs racing for one slot: exactly one is stored, the others are 409, and the file is the winner's")
    func racingPuts() async throws {
        try await withServer(configure: U.uploadServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let size = 400_000
            let urls = try await U.slot(alice, "race.bin", size: size)
            let statuses = try await withThrowingTaskGroup(of: (Int, UInt8).self) { group in
                for fill in UInt8(1)...4 {
                    group.addTask { (try await U.put(urls.put, Array(repeating: fill, count: size)).status, fill) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = statuses.filter { $0.0 == 201 }
            #expect(winners.count == 1, "\(statuses)")
            #expect(statuses.filter { $0.0 == 409 }.count == 3, "\(statuses)")
            let stored = try await U.get(urls.get)
            #expect(stored.body == Array(repeating: winners.first?.1 ?? 0, count: size))
            await alice.close()
        }
    }

    @Test("a second module asking for the /upload/ prefix stops the server from starting")
    func takenPrefix() async throws {
        struct Squatter: ServerModule {
            let name = "squatter"
            func register(with registrar: ModuleRegistrar) {
                registrar.addHTTPRoute(prefix: "/upload/") { _ in ModuleHTTPResponse(status: 200) }
            }
        }
        do {
            try await withServer(configure: U.uploadServer(), extraModules: [Squatter()]) { _ in }
            Issue.record("the server started with /upload/ taken twice")
        } catch let error as ConfigurationError {
            #expect(error.message.contains("/upload/"))
        }
    }

    @Test("paths with .. or encoded slashes are 400 and touch nothing; unknown slots are 404")
    func hostilePaths() async throws {
        try await withServer(configure: U.uploadServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let port = try #require(server.server.port(for: .http))
            let urls = try await U.slot(alice, "a.txt", size: 3, type: "text/plain")
            #expect(try await U.put(urls.put, Array("abc".utf8), type: "text/plain").status == 201)
            let slot = try #require(URLComponents(string: urls.get)?.path.split(separator: "/").dropFirst().first)
            // A file outside the upload directory that a traversal would reach.
            let outside = server.dataDirectory + "/outside.txt"
            #expect(FileManager.default.createFile(atPath: outside, contents: Data("secret".utf8)))

            for path in [
                "/upload/\(slot)/../../outside.txt", "/upload/../outside.txt", "/upload/\(slot)/..%2F..%2Foutside.txt",
                "/upload/\(slot)%2F..%2F..%2Foutside.txt", "/upload/\(slot)/a.txt%2F", "/upload/\(slot)/%2e%2e/a.txt", "/upload/\(slot)/a%5C..%5Cb",
            ] {
                for method in ["GET", "PUT"] {
                    let reply = try await LoopbackHTTP.exchange(
                        port: port, "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 3", body: Array("xyz".utf8))
                    #expect(reply.status == 400, "\(method) \(path): \(reply.status)")
                    #expect(!String(decoding: reply.body, as: UTF8.self).contains("secret"))
                }
            }
            #expect(try await LoopbackHTTP.exchange(port: port, "GET /upload/not-a-slot/a.txt HTTP/1.1\r\nHost: localhost").status == 404)
            #expect(try await LoopbackHTTP.exchange(port: port, "GET /upload/\(String(repeating: "0", count: 32))/a.txt?signature=x HTTP/1.1\r\nHost: localhost").status == 404)
            #expect(FileManager.default.contents(atPath: outside) == Data("secret".utf8))
            #expect(try await U.get(urls.get).body == Array("abc".utf8))
            try await U.stillServing(server, alice)
            await alice.close()
        }
    }

    @Test("CORS: a preflight is answered with the methods and headers XEP-0363 names, and PUT and GET carry the origin")
    func cors() async throws {
        try await withServer(configure: U.uploadServer()) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let urls = try await U.slot(alice, "c.bin", size: 4)
            let (port, target) = try #require(LoopbackHTTP.target(urls.put))
            let preflight = try await LoopbackHTTP.exchange(
                port: port,
                "OPTIONS \(target) HTTP/1.1\r\nHost: localhost\r\nOrigin: https://web.example\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type")
            #expect(preflight.status == 204)
            #expect(preflight.headers["access-control-allow-origin"] == "https://web.example")
            let methods = Set((preflight.headers["access-control-allow-methods"] ?? "").components(separatedBy: ", "))
            #expect(methods.isSuperset(of: ["GET", "HEAD", "OPTIONS", "PUT"]))
            #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("content-type") == true)
            #expect(preflight.headers["access-control-allow-credentials"] == "true")

            let put = try await U.put(urls.put, [1, 2, 3, 4], extra: "\r\nOrigin: https://web.example")
            #expect(put.status == 201 && put.headers["access-control-allow-origin"] == "https://web.example")
            let get = try await U.get(urls.get, headers: "\r\nOrigin: https://web.example")
            #expect(get.status == 200 && get.headers["access-control-allow-origin"] == "https://web.example")
            #expect(get.headers["access-control-allow-credentials"] == "true")
            await alice.close()
        }
        // With allowed_origins, other origins get no CORS headers and their preflight is refused.
        try await withServer(configure: U.uploadServer(origins: ["https://chat.example"])) { server in
            let port = try #require(server.server.port(for: .http))
            func preflight(_ origin: String) async throws -> HTTPReply {
                try await LoopbackHTTP.exchange(
                    port: port, "OPTIONS /upload/\(String(repeating: "a", count: 32))/x HTTP/1.1\r\nHost: localhost\r\nOrigin: \(origin)\r\nAccess-Control-Request-Method: PUT")
            }
            let allowed = try await preflight("https://chat.example")
            #expect(allowed.status == 204 && allowed.headers["access-control-allow-origin"] == "https://chat.example")
            let other = try await preflight("https://evil.example")
            #expect(other.status == 403 && other.headers["access-control-allow-origin"] == nil)
        }
    }

    @Test("an expired PUT URL is 403; a stored file past expire_after is swept with its record and directory")
    func expiry() async throws {
        try await withServer(configure: U.uploadServer(["slot_lifetime": "5", "expire_after": "6"])) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let late = try await U.slot(alice, "late.bin", size: 3)
            let kept = try await U.slot(alice, "kept.bin", size: 3)
            #expect(try await U.put(kept.put, [1, 2, 3]).status == 201)
            #expect(try await U.get(kept.get).status == 200)
            let directory = U.slotDirectory(server, kept.put)
            #expect(FileManager.default.fileExists(atPath: directory))
            try await Task.sleep(for: .seconds(6.2))
            #expect(try await U.put(late.put, [1, 2, 3]).status == 403)
            try await waitUntil("the expired file is removed") { !FileManager.default.fileExists(atPath: directory) }
            #expect(try await U.get(kept.get).status == 404)
            try await U.stillServing(server, alice)
            await alice.close()
        }
    }

    @Test("records, files and the signing secret survive a restart: the GET URL still works, the slot still refuses a second PUT")
    func survivesRestart() async throws {
        let directory = NSTemporaryDirectory() + "starling-upload-restart-" + UUID().uuidString
        let configure: (inout ServerConfiguration) -> Void = { configuration in
            U.uploadServer()(&configuration)
            configuration.dataDirectory = directory
        }
        let first = try await TestServer(configure: configure)
        let urls: (put: String, get: String)
        do {
            try await first.addUser("alice", password: "alice-password")
            let alice = try await first.login("alice", password: "alice-password")
            urls = try await U.slot(alice, "kept.txt", size: 5, type: "text/plain")
            #expect(try await U.put(urls.put, Array("kept!".utf8), type: "text/plain").status == 201)
            await alice.close()
        } catch {
            await first.stop()
            throw error
        }
        // Shut down without removing the data directory (TestServer.stop would).
        await first.server.shutdown()
        let second = try await TestServer(configure: configure)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            // The listener's port is new; the path and its signatures are what count.
            func moved(_ url: String) throws -> String {
                var components = try #require(URLComponents(string: url))
                components.port = second.server.port(for: .http)
                return try #require(components.string)
            }
            let fetched = try await U.get(try moved(urls.get))
            #expect(fetched.status == 200 && fetched.body == Array("kept!".utf8))
            #expect(try await U.put(try moved(urls.put), Array("again".utf8), type: "text/plain").status == 409)
        } catch {
            await second.stop()
            throw error
        }
        await second.stop()
    }

    @Test("deleting an account (XEP-0077) removes its files and frees nothing of anyone else's")
    func accountDeletion() async throws {
        try await withServer(configure: U.uploadServer(registration: true)) { server in
            try await server.addUser("alice", password: "alice-password")
            try await server.addUser("bob", password: "bob-password")
            let alice = try await server.login("alice", password: "alice-password")
            let bob = try await server.login("bob", password: "bob-password")
            let hers = try await U.slot(alice, "hers.bin", size: 3)
            let his = try await U.slot(bob, "his.bin", size: 3)
            #expect(try await U.put(hers.put, [1, 2, 3]).status == 201)
            #expect(try await U.put(his.put, [4, 5, 6]).status == 201)
            let register = "jabber:iq:register"
            let remove = Element("query", namespace: register, children: [Element(name: "remove", namespace: register)])
            #expect(try await alice.iq("set", to: try JID("localhost"), payload: remove).stanzaType == "result")
            try await waitUntil("alice's upload is removed") { !FileManager.default.fileExists(atPath: U.slotDirectory(server, hers.put)) }
            #expect(try await U.get(hers.get).status == 404)
            #expect(try await U.get(his.get).body == [4, 5, 6])
            try await U.stillServing(server, bob)
            await bob.close()
        }
    }
}
