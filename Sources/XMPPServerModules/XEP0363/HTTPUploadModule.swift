import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// What `modules.upload` configures.
struct UploadSettings: Sendable {
    var maxFileSize = 100 * 1024 * 1024
    var quotaPerUser = 1024 * 1024 * 1024
    /// Seconds a stored file is kept; nil keeps it until its owner is deleted.
    var expireAfter: TimeInterval? = 30 * 86_400
    /// Seconds a PUT URL is good for.
    var slotLifetime: TimeInterval = 300
    /// Where the URLs point; nil: the server's HTTPS listener, else its HTTP one.
    var publicURL: String?
    var allowedOrigins: [String] = []
    /// Seconds a PUT may go without a byte of its body before it is dropped.
    var stallTimeout: TimeInterval = 60
}

/// XEP-0363 HTTP File Upload: a service at `upload.<host>` for every hosted domain. Local
/// accounts of that host ask it for a slot over XMPP and get a signed PUT URL and a GET URL on
/// the server's own HTTP listener (`/upload/…`, see `UploadHTTPHandler`). Files are kept
/// under the data directory by random slot id, their records in module storage; a per-account
/// quota, expiry and account deletion remove them. docs/upload.md is for operators.
public struct HTTPUploadModule: ServerModule {
    public let name = "upload"
    static let namespace = "urn:xmpp:http:upload:0"
    private let runtime = LockedBox<UploadRuntime?>(nil)
    /// Set when registration announced services; nil (disabled, or nothing to serve the
    /// files) leaves `start` with nothing to do.
    private let settings = LockedBox<UploadSettings?>(nil)
    private let sweeper = LockedBox<Task<Void, Never>?>(nil)
    /// The time; one place to read it, so expiry and signatures agree.
    let clock: @Sendable () -> Date = { Date() }

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let options = registrar.options("upload")
        // Every key is read (and checked) even when `enabled` is false, so a section switched
        // off may keep its settings without them being reported as unknown.
        let enabled = options.bool("enabled", default: true)
        let prefix = options.string("prefix") ?? "upload"
        var settings = UploadSettings()
        settings.maxFileSize = options.int("max_file_size", default: settings.maxFileSize, range: 1...(1 << 40))
        settings.quotaPerUser = options.int("quota_per_user", default: settings.quotaPerUser, range: 1...(1 << 50))
        let expire = options.int("expire_after", default: 30 * 86_400, range: 0...(100 * 365 * 86_400))
        settings.expireAfter = expire == 0 ? nil : TimeInterval(expire)
        settings.slotLifetime = TimeInterval(options.int("slot_lifetime", default: 300, range: 1...86_400))
        settings.publicURL = options.string("public_url", where: { $0.hasPrefix("https://") || $0.hasPrefix("http://") }, expected: "an http:// or https:// URL")
            .map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        settings.allowedOrigins = options.strings("allowed_origins") ?? []
        settings.stallTimeout = TimeInterval(options.int("stall_timeout", default: 60, range: 1...3_600))
        let context = registrar.context
        // Without an HTTP listener or a public URL nothing could serve the files: no service
        // is announced rather than one whose every upload fails.
        guard enabled, settings.publicURL != nil || context.configuration.listeners.contains(where: { $0.kind == .http }) else { return }
        self.settings.withLock { $0 = settings }
        let configured = settings
        let runtime = self.runtime
        let clock = self.clock
        for host in context.hosts.sorted() {
            let domain = HostedService.domain(configured: nil, prefix: prefix, host: host)
            let form = DataForm(type: "result", formType: Self.namespace, fields: [DataForm.Field("max-file-size", values: [String(settings.maxFileSize)])])
            registrar.addService(HostedService(
                domain: domain, host: host, identity: DiscoIdentity(category: "store", type: "file", name: "HTTP File Upload"),
                features: [Self.namespace, XMPPNamespace.discoInfo, XMPPNamespace.discoItems], extensions: [form.element],
                handler: { stanza in
                    await Self.receive(stanza, host: host, settings: configured, runtime: runtime.withLock { $0 }, context: context, clock: clock)
                }))
        }
        registrar.addHTTPRoute(prefix: UploadHTTPHandler.routePrefix) { request in
            guard let handler = runtime.withLock({ $0?.http }) else { return UploadHTTPHandler.plain(503, "starting\n") }
            return await handler.handle(request)
        }
        registrar.reportAccountUsage("upload_bytes") { account in
            guard let store = runtime.withLock({ $0?.store }) else { return 0 }
            return try await store.usage(of: account.bare.description)
        }
        registrar.onEvent { event in
            guard case .accountDeleted(let account) = event, let store = runtime.withLock({ $0?.store }) else { return }
            do {
                let removed = try await store.removeAll(owner: account.bare.description)
                if removed > 0 { context.logger.info("removed a deleted account's uploads", metadata: ["account": "\(account.bare)", "count": "\(removed)"]) }
            } catch {
                context.logger.error("cannot remove a deleted account's uploads", metadata: ["account": "\(account.bare)", "error": "\(error)"])
            }
        }
    }

    /// Opens storage, reads (or makes) the signing secret and starts the expiry sweep.
    public func start(context: ModuleContext) async throws {
        guard let settings = self.settings.withLock({ $0 }) else { return }
        let storage = try await ModuleStorage.open(UploadStore.schema, in: context.storage)
        let files = UploadFiles(root: (context.configuration.dataDirectory as NSString).appendingPathComponent("upload"))
        try files.prepareRoot()
        let store = UploadStore(storage: storage, files: files)
        let signer = UploadSigner(secret: try await UploadStore.secret(in: storage))
        let http = UploadHTTPHandler(store: store, signer: signer, settings: settings, logger: context.logger, clock: self.clock)
        self.runtime.withLock { $0 = UploadRuntime(store: store, signer: signer, http: http) }
        let clock = self.clock
        // Unused slots hold quota until swept: sweep once per slot lifetime, and often enough
        // that a file is gone within a tenth of its own; at least every second, at most hourly.
        let interval = min(3_600, max(1, min((settings.expireAfter ?? 36_000) / 10, settings.slotLifetime)))
        let sweeper = Task.detached {
            while !Task.isCancelled {
                do {
                    let removed = try await store.sweep(now: clock())
                    if removed > 0 { context.logger.info("removed expired uploads and unused slots", metadata: ["count": "\(removed)"]) }
                } catch {
                    context.logger.error("upload expiry failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
            }
        }
        self.sweeper.withLock { $0 = sweeper }
    }

    public func stop() async {
        guard let sweeper = self.sweeper.withLock({ $0 }) else { return }
        sweeper.cancel()
        // Storage closes next: the sweep under way must not outlive it.
        _ = await sweeper.value
    }

    // MARK: - XMPP

    static func receive(_ stanza: Element, host: String, settings: UploadSettings, runtime: UploadRuntime?, context: ModuleContext, clock: () -> Date) async {
        guard stanza.stanzaKind == .iq, !stanza.isErrorStanza, stanza.stanzaType != "result", let from = stanza.from else { return }
        do {
            guard stanza.to?.localpart == nil, stanza.to?.resourcepart == nil else { throw StanzaError(.serviceUnavailable) }
            guard stanza.stanzaType == "get", let payload = stanza.iqPayload else { throw StanzaError(.featureNotImplemented) }
            if payload.namespace == XMPPNamespace.discoItems {
                await context.route(stanza.iqResult(payload: Element("query", namespace: XMPPNamespace.discoItems)))
                return
            }
            guard payload.name == "request", payload.namespace == Self.namespace else { throw StanzaError(.featureNotImplemented) }
            guard let runtime else { throw StanzaError(.serviceUnavailable, text: "the upload service is starting") }
            let slot = try await Self.slot(for: payload, from: from, host: host, settings: settings, runtime: runtime, context: context, now: clock())
            await context.route(stanza.iqResult(payload: slot))
        } catch let error as StanzaError {
            await context.route(stanza.errorReply(error))
        } catch {
            context.logger.error("upload slot request failed", metadata: ["error": "\(error)"])
            await context.route(stanza.errorReply(StanzaError(.internalServerError)))
        }
    }

    /// Checks a slot request (XEP-0363 §4, §5), reserves the slot and returns `<slot/>`.
    static func slot(
        for request: Element, from: JID, host: String, settings: UploadSettings, runtime: UploadRuntime, context: ModuleContext, now: Date
    ) async throws -> Element {
        // Only the host's own accounts store files here.
        guard from.localpart != nil, from.domainpart == host else {
            throw StanzaError(.notAllowed, type: .cancel, text: "only accounts of \(host) may upload here")
        }
        guard let filename = request[attribute: "filename"].flatMap(UploadFilename.sanitized) else {
            throw StanzaError(.badRequest, text: "a file name is required")
        }
        guard let sizeText = request[attribute: "size"], sizeText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let size = Int(sizeText) else {
            // Too many digits for an Int is too large, not malformed.
            if let text = request[attribute: "size"], !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                throw Self.tooLarge(settings.maxFileSize)
            }
            throw StanzaError(.badRequest, text: "the size must be a whole number of bytes")
        }
        guard size <= settings.maxFileSize else { throw Self.tooLarge(settings.maxFileSize) }
        var contentType = UploadHTTPRules.defaultContentType
        if let requested = request[attribute: "content-type"], !requested.isEmpty {
            guard let normalized = UploadHTTPRules.normalizedContentType(requested) else { throw StanzaError(.badRequest, text: "the content type is malformed") }
            contentType = normalized
        }
        guard let base = settings.publicURL ?? context.httpEndpoints.baseURL(host: host) else {
            throw StanzaError(.serviceUnavailable, text: "no HTTP listener is running")
        }

        let id = UploadSlotID.make()
        let expires = now.addingTimeInterval(settings.slotLifetime)
        let record = UploadRecord(
            owner: from.bare.description, filename: filename, size: size, contentType: contentType, created: now, putExpires: expires)
        do {
            try await runtime.store.reserve(id, record, quota: settings.quotaPerUser)
        } catch UploadStoreError.quotaExceeded(let used) {
            throw StanzaError(
                .resourceConstraint, type: .wait,
                text: "Quota reached: \(used) of \(settings.quotaPerUser) bytes in use; this file needs \(size) more")
        }
        let expiresSeconds = Int(expires.timeIntervalSince1970)
        let path = "\(base)\(UploadHTTPHandler.routePrefix)\(id)/\(UploadFilename.pathSegment(filename))"
        let putSignature = runtime.signer.putSignature(slot: id, filename: filename, size: size, contentType: contentType, expires: expiresSeconds)
        let getSignature = runtime.signer.getSignature(slot: id, filename: filename)
        let put = Element("put", namespace: Self.namespace, attributes: [("url", "\(path)?expires=\(expiresSeconds)&signature=\(putSignature)")])
        let get = Element("get", namespace: Self.namespace, attributes: [("url", "\(path)?signature=\(getSignature)")])
        return Element("slot", namespace: Self.namespace, children: [put, get])
    }

    static func tooLarge(_ limit: Int) -> StanzaError {
        let detail = Element(
            "file-too-large", namespace: Self.namespace, children: [Element("max-file-size", namespace: Self.namespace, text: String(limit))])
        return StanzaError(.notAcceptable, type: .modify, text: "File too large. The maximum file size is \(limit) bytes", applicationCondition: detail)
    }
}

/// What the module needs once started: its store, its signer and the HTTP handler over both.
struct UploadRuntime: Sendable {
    let store: UploadStore
    let signer: UploadSigner
    let http: UploadHTTPHandler
}
