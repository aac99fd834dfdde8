import Foundation
import Logging
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules

/// `starling-bench upload [FILES] [MIB]` (defaults 8 files of 32 MiB, at most 64 files, at
/// most 256 MiB each, 120 s in all): a server in this process with a plain HTTP listener on
/// loopback; one XMPP client asks for a slot per file, then a blocking socket client on a
/// thread of its own PUTs the file and GETs it back, checking every byte. Prints MB/s each
/// way, the server's CPU seconds per GB (the process's CPU less the client thread's), and how
/// much the process's peak memory grew: an upload streamed to disk leaves it flat.
enum UploadBench {
    static let domain = "localhost"
    static let password = "bench-password"

    static func run(_ arguments: [String]) async throws {
        let files = min(64, max(1, arguments.first.flatMap(Int.init) ?? 8))
        let mebibytes = min(256, max(1, arguments.dropFirst().first.flatMap(Int.init) ?? 32))
        let size = mebibytes * 1024 * 1024
        let directory = NSTemporaryDirectory() + "starling-upload-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }

        var configuration = ServerConfiguration()
        configuration.hosts = [Self.domain]
        configuration.dataDirectory = directory
        configuration.logLevel = .warning
        configuration.listeners = [
            ServerConfiguration.Listener(kind: .c2s, addresses: ["127.0.0.1"], port: 0, tls: .starttls),
            ServerConfiguration.Listener(kind: .http, addresses: ["127.0.0.1"], port: 0, tls: .none),
        ]
        configuration.modules.sections["upload"] = [
            "max_file_size": .scalar(String(size)), "quota_per_user": .scalar(String(size * files + 1)),
        ]
        var logger = Logger(label: "starling-bench-upload") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let server = try XMPPServer(configuration: configuration, modules: DefaultModules.modules(for: configuration), logger: logger)
        try await server.start()
        let manager = AccountManager(store: server.storage.accounts, hosts: [Self.domain])
        _ = try await manager.create("bench@\(Self.domain)", password: Self.password)
        let client = try await XMPPClient.login(XMPPClientConfiguration(
            account: try JID("bench@\(Self.domain)"), password: Self.password, host: "127.0.0.1", port: server.port(for: .starttls) ?? 0,
            security: .starttls(XMPPClientTLS(serverName: Self.domain, trust: .pinned(certificatePEM: server.certificatePEM ?? ""))),
            mechanisms: [.scramSHA256], resource: "bench"))

        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        var slots: [(put: String, get: String)] = []
        for index in 0..<files {
            let request = Element("request", namespace: "urn:xmpp:http:upload:0", attributes: [
                ("filename", "bench-\(index).bin"), ("size", String(size)), ("content-type", "application/octet-stream"),
            ])
            let reply = try await client.iq("get", to: try JID("upload.\(Self.domain)"), payload: request)
            guard let slot = reply.child(named: "slot"), let put = slot.child(named: "put")?[attribute: "url"], let get = slot.child(named: "get")?[attribute: "url"]
            else { throw BenchError("no slot: \(reply)") }
            slots.append((put, get))
        }

        let peakBefore = Self.peakMemoryKiB()
        let processBefore = Self.processCPU()
        let granted = slots
        let result = try await Self.onThread { try Self.transfer(granted, body: body, deadline: Date().addingTimeInterval(120)) }
        let processCPU = Self.processCPU() - processBefore
        let serverCPU = max(0, processCPU - result.clientCPU)
        let gigabytes = Double(result.files * size * 2) / 1e9
        print("upload bench: \(result.files) files of \(mebibytes) MiB over loopback HTTP (\(ProcessInfo.processInfo.activeProcessorCount) cores)")
        print("PUT \(Self.format(Double(result.files * size) / 1e6 / result.putSeconds)) MB/s, GET \(Self.format(Double(result.files * size) / 1e6 / result.getSeconds)) MB/s")
        print("server CPU \(Self.format(serverCPU)) s for \(Self.format(gigabytes)) GB moved (\(Self.format(serverCPU / gigabytes)) s per GB), client thread \(Self.format(result.clientCPU)) s")
        print("peak memory grew by \(Self.format(Double(Self.peakMemoryKiB() - peakBefore) / 1024)) MiB (each file is \(mebibytes) MiB)")
        await client.close()
        await server.shutdown()
    }

    struct Outcome: Sendable {
        var files = 0
        var putSeconds = 0.0
        var getSeconds = 0.0
        var clientCPU = 0.0
    }

    /// PUTs then GETs each file on this (blocking) thread, until done or the deadline.
    static func transfer(_ slots: [(put: String, get: String)], body: [UInt8], deadline: Date) throws -> Outcome {
        var outcome = Outcome()
        let cpuBefore = Self.threadCPU()
        for slot in slots where Date() < deadline {
            guard let put = URLComponents(string: slot.put), let get = URLComponents(string: slot.get), let port = put.port else { throw BenchError("bad URL") }
            var start = Date()
            let putHead = "PUT \(put.percentEncodedPath)?\(put.percentEncodedQuery ?? "") HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\n\r\n"
            let stored = try BlockingHTTP.exchange(port: port, head: putHead, body: body)
            guard stored.status == 201 else { throw BenchError("PUT answered \(stored.status)") }
            outcome.putSeconds += Date().timeIntervalSince(start)
            start = Date()
            let fetched = try BlockingHTTP.exchange(port: port, head: "GET \(get.percentEncodedPath)?\(get.percentEncodedQuery ?? "") HTTP/1.1\r\nHost: localhost\r\n\r\n", body: [], expected: body)
            guard fetched.status == 200, fetched.matched else { throw BenchError("GET answered \(fetched.status), bytes matched: \(fetched.matched)") }
            outcome.getSeconds += Date().timeIntervalSince(start)
            outcome.files += 1
        }
        outcome.clientCPU = Self.threadCPU() - cpuBefore
        return outcome
    }

    static func onThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Swift.Result { try body() }) }
        }
    }

    static func threadCPU() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func processCPU() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// VmHWM from /proc/self/status, in KiB (0 where there is no /proc).
    static func peakMemoryKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP/1.1 exchange over a blocking loopback socket: the head and body written in
/// chunks, the response read to its Content-Length and compared with `expected` as it comes
/// (so a large download is never held whole).
enum BlockingHTTP {
    static func exchange(port: Int, head: String, body: [UInt8], expected: [UInt8]? = nil) throws -> (status: Int, matched: Bool) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("socket: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw BenchError("connect: errno \(errno)") }
        try Self.send(descriptor, Array(head.utf8))
        try Self.send(descriptor, body)

        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        var headEnd: Int?
        while headEnd == nil {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else { throw BenchError("the server closed before answering") }
            received += chunk[..<count]
            headEnd = Self.find([13, 10, 13, 10], in: received)
        }
        let headerEnd = headEnd ?? 0
        let headText = String(decoding: received[..<headerEnd], as: UTF8.self)
        let status = Int(headText.split(separator: " ").dropFirst().first ?? "") ?? 0
        let length = headText.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") } ?? 0
        var offset = 0
        var matched = true
        func compare(_ bytes: ArraySlice<UInt8>) {
            if let expected, matched {
                matched = offset + bytes.count <= expected.count
                    && expected.withUnsafeBytes { whole in bytes.withUnsafeBytes { part in
                        guard let base = whole.baseAddress, let other = part.baseAddress else { return part.isEmpty }
                        return memcmp(base + offset, other, part.count) == 0
                    } }
            }
            offset += bytes.count
        }
        compare(received[(headerEnd + 4)...])
        while offset < length {
            let count = recv(descriptor, &chunk, min(chunk.count, length - offset), 0)
            guard count > 0 else { throw BenchError("the body ended after \(offset) of \(length) bytes") }
            compare(chunk[..<count])
        }
        return (status, matched && (expected == nil || offset == expected?.count))
    }

    static func send(_ descriptor: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return Foundation.send(descriptor, base + sent, min(256 * 1024, bytes.count - sent), 0)
            }
            guard count > 0 else { throw BenchError("send: errno \(errno)") }
            sent += count
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
