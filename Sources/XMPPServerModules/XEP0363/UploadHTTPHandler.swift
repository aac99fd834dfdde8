import Foundation
import Logging
import XMPPServer
import XMPPStorage

/// The HTTP side of the upload service: PUT into a slot, GET and HEAD of stored files (with
/// ranges), OPTIONS for CORS preflights. It sees Starling's transport-neutral requests only.
struct UploadHTTPHandler: Sendable {
    /// The path prefix every upload URL starts with.
    static let routePrefix = "/upload/"
    static let allowedMethods = "GET, HEAD, OPTIONS, PUT"

    let store: UploadStore
    let signer: UploadSigner
    let settings: UploadSettings
    let logger: Logger
    let clock: @Sendable () -> Date

    func handle(_ request: ModuleHTTPRequest) async -> ModuleHTTPResponse {
        let origin = request.headers["Origin"]
        var response: ModuleHTTPResponse
        switch request.method {
        case "OPTIONS":
            response = ModuleHTTPResponse(status: origin == nil || self.corsOrigin(origin) != nil ? 204 : 403)
        case "PUT":
            response = await self.put(request)
        case "GET", "HEAD":
            response = await self.get(request, head: request.method == "HEAD")
        default:
            response = Self.plain(405, "method not allowed\n")
            response.headers.add("Allow", Self.allowedMethods)
        }
        self.addCORS(to: &response, origin: origin)
        return response
    }

    // MARK: - CORS

    /// The origin to allow: any (echoed, as credentials are allowed and `*` would not do with
    /// them) when `allowed_origins` is empty, else only those listed.
    private func corsOrigin(_ origin: String?) -> String? {
        guard let origin else { return nil }
        if self.settings.allowedOrigins.isEmpty || self.settings.allowedOrigins.contains(origin) { return origin }
        return nil
    }

    /// XEP-0363 §8 asks upload services to answer browsers' cross-origin requests.
    private func addCORS(to response: inout ModuleHTTPResponse, origin: String?) {
        response.headers.add("Vary", "Origin")
        guard let allowed = self.corsOrigin(origin) else {
            if origin == nil, self.settings.allowedOrigins.isEmpty { response.headers.add("Access-Control-Allow-Origin", "*") }
            return
        }
        response.headers.add("Access-Control-Allow-Origin", allowed)
        response.headers.add("Access-Control-Allow-Methods", Self.allowedMethods)
        response.headers.add("Access-Control-Allow-Headers", "Authorization, Content-Type")
        response.headers.add("Access-Control-Allow-Credentials", "true")
        response.headers.add("Access-Control-Expose-Headers", "Content-Length, Content-Range, Content-Disposition")
        response.headers.add("Access-Control-Max-Age", "86400")
    }

    // MARK: - PUT

    private func put(_ request: ModuleHTTPRequest) async -> ModuleHTTPResponse {
        let (slot, filename): (String, String)
        switch UploadHTTPRules.parsePath(request.path, prefix: Self.routePrefix) {
        case .slot(let id, let name): (slot, filename) = (id, name)
        case .badRequest: return Self.plain(400, "bad upload path\n")
        case .notFound: return Self.plain(404, "no such slot\n")
        }
        let query = UploadHTTPRules.queryItems(request.query)
        guard let signature = query["signature"], let expires = query["expires"].flatMap({ Int($0) }) else {
            return Self.plain(403, "the URL is not signed\n")
        }
        let length = request.headers["Content-Length"].flatMap { Int($0) }
        let type = request.headers["Content-Type"].flatMap(UploadHTTPRules.normalizedContentType) ?? UploadHTTPRules.defaultContentType
        // An expired URL is told apart even once its unused slot has been swept away: the
        // signature over what the request says is ours, only late.
        if let length, self.signer.verifyPut(signature, slot: slot, filename: filename, size: length, contentType: type, expires: expires, now: self.clock()) == .expired {
            return Self.plain(403, "the upload URL has expired\n")
        }
        let record: UploadRecord
        do {
            guard let found = try await self.store.record(slot) else { return Self.plain(404, "no such slot\n") }
            record = found
        } catch {
            return self.failed("reading a slot", error)
        }
        switch self.signer.verifyPut(
            signature, slot: slot, filename: filename, size: record.size, contentType: record.contentType, expires: expires, now: self.clock())
        {
        case .valid: break
        case .expired: return Self.plain(403, "the upload URL has expired\n")
        case .invalid: return Self.plain(403, "bad signature\n")
        }
        if record.isStored { return Self.plain(409, "this slot was used already\n") }
        // XEP-0363 §6: the length must be the slot's; a chunked body has none to compare.
        guard request.headers["Transfer-Encoding"] == nil, length == record.size else {
            return Self.plain(400, "Content-Length must be \(record.size)\n")
        }
        guard type == record.contentType else { return Self.plain(400, "Content-Type must be \(record.contentType)\n") }

        do {
            _ = try await self.store.claim(slot)
        } catch UploadStoreError.alreadyUsed {
            return Self.plain(409, "this slot was used already\n")
        } catch UploadStoreError.notFound {
            return Self.plain(404, "no such slot\n")
        } catch {
            return self.failed("claiming a slot", error)
        }
        switch await self.receiveBody(slot, size: record.size, body: request.body) {
        case .complete:
            break
        case .stalled:
            await self.store.release(slot)
            return Self.plain(408, "no part of the body came for \(Int(self.settings.stallTimeout)) seconds\n")
        case .failed(let error):
            await self.store.release(slot)
            switch error {
            case .tooLarge: return Self.plain(413, "the body is larger than the slot\n")
            case .incomplete: return Self.plain(400, "the body is shorter than the slot\n")
            case .io: return self.failed("writing an upload", error)
            }
        }
        do {
            try await self.store.finish(slot, now: self.clock(), expireAfter: self.settings.expireAfter)
        } catch UploadStoreError.notFound {
            return Self.plain(404, "the slot was removed during the upload\n")
        } catch {
            self.store.files.remove(slot)
            return self.failed("recording an upload", error)
        }
        return Self.plain(201, "stored\n")
    }

    enum BodyOutcome: Equatable {
        case complete
        case failed(UploadFileError)
        /// No byte for `stall_timeout`: the write was cancelled and its partial file removed.
        case stalled
    }

    /// Writes the body while a watchdog looks for progress: a client that stops sending in
    /// the middle would otherwise hold its connection and its slot's claim for ever. Cancelling
    /// the write ends its read of the body, and it removes its partial file before returning.
    private func receiveBody(_ slot: String, size: Int, body: ModuleHTTPRequestBody) async -> BodyOutcome {
        let files = self.store.files
        let lastProgress = LockedBox(ContinuousClock.now)
        let stall = Duration.milliseconds(Int64(self.settings.stallTimeout * 1_000))
        let tick = min(Duration.seconds(1), stall / 4)
        return await withTaskGroup(of: BodyOutcome?.self) { group in
            group.addTask {
                do throws(UploadFileError) {
                    try await files.write(slot, size: size, body: body) { lastProgress.withLock { $0 = .now } }
                    return .complete
                } catch {
                    return .failed(error)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: tick)
                    if ContinuousClock.now - lastProgress.withLock({ $0 }) > stall { return .stalled }
                }
                return nil
            }
            var outcomes: [BodyOutcome] = []
            if let first = await group.next(), let first { outcomes.append(first) }
            group.cancelAll()
            for await outcome in group { if let outcome { outcomes.append(outcome) } }
            return outcomes.contains(.stalled) ? .stalled : (outcomes.first ?? .failed(.incomplete))
        }
    }

    // MARK: - GET and HEAD

    private func get(_ request: ModuleHTTPRequest, head: Bool) async -> ModuleHTTPResponse {
        let (slot, filename): (String, String)
        switch UploadHTTPRules.parsePath(request.path, prefix: Self.routePrefix) {
        case .slot(let id, let name): (slot, filename) = (id, name)
        case .badRequest: return Self.plain(400, "bad upload path\n")
        case .notFound: return Self.plain(404, "not found\n")
        }
        guard let signature = UploadHTTPRules.queryItems(request.query)["signature"],
            self.signer.verifyGet(signature, slot: slot, filename: filename) == .valid
        else { return Self.plain(404, "not found\n") }
        let record: UploadRecord
        do {
            guard let found = try await self.store.record(slot), found.isStored, found.filename == filename else { return Self.plain(404, "not found\n") }
            // Past its time but not swept yet: already gone for clients.
            if let expires = found.expiresAt, expires <= self.clock() { return Self.plain(404, "not found\n") }
            record = found
        } catch {
            return self.failed("reading a slot", error)
        }

        var headers = ModuleHTTPHeaders()
        headers.add("Content-Type", record.contentType)
        headers.add("Content-Disposition", UploadHTTPRules.contentDisposition(filename: record.filename, contentType: record.contentType))
        // What a browser may do with what a user uploaded: nothing but show it.
        headers.add("X-Content-Type-Options", "nosniff")
        headers.add("Content-Security-Policy", "default-src 'none'; sandbox")
        headers.add("Accept-Ranges", "bytes")
        headers.add("Cache-Control", "private, max-age=86400")

        let (status, first, count): (Int, Int, Int)
        switch UploadHTTPRules.range(request.headers["Range"], size: record.size) {
        case .whole:
            (status, first, count) = (200, 0, record.size)
        case .partial(let from, let last):
            (status, first, count) = (206, from, last - from + 1)
            headers.add("Content-Range", "bytes \(from)-\(last)/\(record.size)")
        case .unsatisfiable:
            var response = Self.plain(416, "range not satisfiable\n")
            response.headers.add("Content-Range", "bytes */\(record.size)")
            return response
        }
        headers.add("Content-Length", String(count))
        if head || count == 0 { return ModuleHTTPResponse(status: status, headers: headers) }
        guard let reader = self.store.files.reader(slot, offset: first, count: count) else {
            self.logger.warning("a stored upload's file is missing", metadata: ["slot": "\(slot)"])
            return Self.plain(404, "not found\n")
        }
        return ModuleHTTPResponse(status: status, headers: headers, body: .stream(length: count, source: reader))
    }

    // MARK: - Helpers

    static func plain(_ status: Int, _ text: String) -> ModuleHTTPResponse {
        var headers = ModuleHTTPHeaders()
        headers.add("Content-Type", "text/plain; charset=utf-8")
        headers.add("X-Content-Type-Options", "nosniff")
        return ModuleHTTPResponse(status: status, headers: headers, body: .bytes(Array(text.utf8)))
    }

    private func failed(_ what: String, _ error: any Error) -> ModuleHTTPResponse {
        self.logger.error("upload: \(what) failed", metadata: ["error": "\(error)"])
        return Self.plain(500, "internal error\n")
    }
}
