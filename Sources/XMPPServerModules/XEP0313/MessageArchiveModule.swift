import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0313 message archive management (urn:xmpp:mam:2): every message to or from an account
/// is archived with a stable XEP-0359 stanza-id; queries filter by peer, time and text, and
/// page with XEP-0059 in both directions; preferences and a retention time apply.
public struct MessageArchiveModule: ServerModule {
    public let name = "mam"
    static let namespace = "urn:xmpp:mam:2"
    static let stanzaID = "urn:xmpp:sid:0"
    static let rsm = "http://jabber.org/protocol/rsm"
    static let forward = "urn:xmpp:forward:0"
    static let fulltext = "{urn:xmpp:fulltext:0}fulltext"
    static let prefsKey = "mam.prefs"
    static let maxPage = 250
    /// Preferences are asked for on every archived message: read once per account, then kept.
    private let prefsCache = LockedBox<[JID: ArchivePrefs]>([:])
    private let expiry = LockedBox<Task<Void, Never>?>(nil)

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let cache = self.prefsCache
        registrar.addFeature(Self.namespace, target: .account)
        registrar.addFeature(Self.stanzaID, target: .account)
        registrar.addFeature(Self.namespace)

        Self.registerMetadata(with: registrar)

        // Archive what the account's own clients send…
        registrar.onOutbound(.message, priority: 20) { message, session in
            guard Self.archivable(message), let peer = message.to?.bare else { return .continue(message) }
            if await Self.allowed(account: session.jid.bare, peer: peer, context: context, cache: cache) {
                _ = await Self.archive(message, account: session.jid.bare, peer: peer, context: context)
            }
            return .continue(message)
        }
        // …and what arrives for it, stamping the archive ID on the delivered copy.
        registrar.onInbound(.message, priority: 20) { message, account in
            var stamped = message
            // XEP-0359 §3: only we may claim IDs "by" our accounts.
            stamped.removeChildren { $0.name == "stanza-id" && $0.namespace == Self.stanzaID && $0[attribute: "by"] == account.description }
            guard Self.archivable(message), let peer = message.from?.bare,
                (try? await context.storage.accounts.accountExists(account)) == true,
                await Self.allowed(account: account, peer: peer, context: context, cache: cache),
                let id = await Self.archive(stamped, account: account, peer: peer, context: context)
            else { return .continue(stamped) }
            stamped.append(Element("stanza-id", namespace: Self.stanzaID, attributes: [("id", id), ("by", account.description)]))
            return .continue(stamped)
        }

        registrar.handleIQ(.get, namespace: Self.namespace, target: .account) { request in
            guard request.from.bare == request.to.bare else { throw StanzaError(.forbidden) }
            if request.payload.name == "prefs" {
                return await Self.prefs(account: request.from.bare, context: context, cache: cache).element
            }
            if request.payload.name == "metadata" {
                do {
                    return try await Self.metadata(account: request.from.bare, archive: context.storage.archive)
                } catch {
                    throw StanzaError(.internalServerError)
                }
            }
            // Only <query/> asks for the form; anything else in the namespace is a request we
            // do not implement (RFC 6120 §8.3.3.3), not a request for the form.
            guard request.payload.name == "query" else { throw StanzaError(.featureNotImplemented) }
            return Self.queryForm
        }

        registrar.handleIQ(.set, namespace: Self.namespace, target: .account) { request in
            let account = request.from.bare
            guard account == request.to.bare else { throw StanzaError(.forbidden) }
            if request.payload.name == "prefs" {
                let prefs = try ArchivePrefs(element: request.payload)
                try await context.storage.accountData.setValue(prefs.element.storedText, for: account, key: Self.prefsKey)
                cache.withLock { $0[account] = prefs }
                return prefs.element
            }
            guard request.payload.name == "query" else { throw StanzaError(.featureNotImplemented) }
            guard let session = request.session else { throw StanzaError(.badRequest) }
            let query = try Self.parseQuery(request.payload)
            let page: ArchivePage
            do {
                page = try await context.storage.archive.query(query, for: account)
            } catch ArchiveError.unknownID {
                throw StanzaError(.itemNotFound, text: "no message with that ID in the archive")
            }
            let queryID = request.payload[attribute: "queryid"]
            for message in Self.resultMessages(page, queryID: queryID, from: account, to: session.jid) {
                session.deliver(message)
            }
            return Self.fin(page, queryID: queryID)
        }
    }

    /// Deletes messages past the retention time now and every hour, until the module stops.
    public func start(context: ModuleContext) async throws {
        let retentionDays = context.configuration.modules.archiveRetentionDays
        guard retentionDays > 0 else { return }
        let expiry = Task.detached {
            while !Task.isCancelled {
                let cutoff = Date().addingTimeInterval(-Double(retentionDays) * 86_400)
                if let removed = try? await context.storage.archive.expire(before: cutoff), removed > 0 {
                    context.logger.info("expired archived messages", metadata: ["count": "\(removed)"])
                }
                try? await Task.sleep(nanoseconds: 3_600_000_000_000)
            }
        }
        self.expiry.withLock { $0 = expiry }
    }

    public func stop() async {
        guard let expiry = self.expiry.withLock({ $0 }) else { return }
        expiry.cancel()
        // Storage closes next: the pass under way must not outlive it.
        _ = await expiry.value
    }

    static func archivable(_ message: Element) -> Bool {
        let type = message.stanzaType ?? "normal"
        guard type == "chat" || type == "normal", message.child(named: "body") != nil else { return false }
        return message.child(named: "no-store", namespace: "urn:xmpp:hints") == nil
            && message.child(named: "no-permanent-store", namespace: "urn:xmpp:hints") == nil
    }

    static func archive(_ message: Element, account: JID, peer: JID, context: ModuleContext) async -> String? {
        let id = UUID().uuidString.lowercased()
        let record = ArchivedMessage(id: id, timestamp: Date(), with: peer, stanza: message.storedText)
        do {
            try await context.storage.archive.append(record, body: message.child(named: "body")?.text, for: account)
            return id
        } catch {
            context.logger.error("cannot archive a message", metadata: ["account": "\(account)", "error": "\(error)"])
            return nil
        }
    }

    // MARK: - Preferences

    struct ArchivePrefs: Sendable {
        var defaultMode = "always"
        var always: [JID] = []
        var never: [JID] = []

        init() {}

        init(element: Element) throws {
            let mode = element[attribute: "default"] ?? "always"
            guard ["always", "never", "roster"].contains(mode) else { throw StanzaError(.badRequest, text: "default must be always, never or roster") }
            self.defaultMode = mode
            func jids(_ name: String) -> [JID] {
                element.child(named: name)?.children(named: "jid").compactMap { try? JID($0.text).bare } ?? []
            }
            self.always = jids("always")
            self.never = jids("never")
        }

        var element: Element {
            Element("prefs", namespace: MessageArchiveModule.namespace, attributes: [("default", self.defaultMode)], children: [
                Element("always", namespace: MessageArchiveModule.namespace, children: self.always.map { Element("jid", namespace: MessageArchiveModule.namespace, text: $0.description) }),
                Element("never", namespace: MessageArchiveModule.namespace, children: self.never.map { Element("jid", namespace: MessageArchiveModule.namespace, text: $0.description) }),
            ])
        }
    }

    static func prefs(account: JID, context: ModuleContext, cache: LockedBox<[JID: ArchivePrefs]>) async -> ArchivePrefs {
        if let cached = cache.withLock({ $0[account] }) { return cached }
        let prefs = await self.storedPrefs(account: account, context: context)
        cache.withLock { $0[account] = prefs }
        return prefs
    }

    private static func storedPrefs(account: JID, context: ModuleContext) async -> ArchivePrefs {
        guard let stored = try? await context.storage.accountData.value(for: account, key: Self.prefsKey), let element = Element.parse(stored),
            let prefs = try? ArchivePrefs(element: element)
        else { return ArchivePrefs() }
        return prefs
    }

    static func allowed(account: JID, peer: JID, context: ModuleContext, cache: LockedBox<[JID: ArchivePrefs]>) async -> Bool {
        let prefs = await self.prefs(account: account, context: context, cache: cache)
        if prefs.never.contains(peer) { return false }
        if prefs.always.contains(peer) { return true }
        switch prefs.defaultMode {
        case "never": return false
        case "roster": return (try? await context.storage.rosters.item(of: account, contact: peer))?.inRoster == true
        default: return true
        }
    }

    // MARK: - Queries

    /// The query form (XEP-0313 §6.1).
    static var queryForm: Element {
        let fields = ["with", "start", "end", Self.fulltext].map { DataForm.Field($0, type: $0 == "with" ? "jid-single" : "text-single") }
        return Element("query", namespace: Self.namespace, children: [DataForm(type: "form", formType: Self.namespace, fields: fields).element])
    }

    /// The page's messages as XEP-0313 §4.2 results, from the archive's owner to the asker.
    static func resultMessages(_ page: ArchivePage, queryID: String?, from archive: JID, to asker: JID) -> [Element] {
        page.items.compactMap { item in
            guard let original = Element.parse(item.stanza) else { return nil }
            var result = Element("result", namespace: Self.namespace, attributes: [("id", item.id)])
            if let queryID { result[attribute: "queryid"] = queryID }
            result.append(Element("forwarded", namespace: Self.forward, children: [
                Element("delay", namespace: XMPPNamespace.delay, attributes: [("stamp", XMPPDateTime.string(item.timestamp))]), original,
            ]))
            return Element("message", namespace: XMPPNamespace.client, attributes: [("to", asker.description), ("from", archive.description)], children: [result])
        }
    }

    /// The `<fin/>` that ends a query (XEP-0313 §4.3), with the page's RSM bounds.
    static func fin(_ page: ArchivePage, queryID: String?) -> Element {
        var set = Element(name: "set", namespace: Self.rsm)
        if let first = page.items.first, let last = page.items.last {
            set.append(Element("first", namespace: Self.rsm, text: first.id))
            set.append(Element("last", namespace: Self.rsm, text: last.id))
        }
        var fin = Element("fin", namespace: Self.namespace, children: [set])
        if page.complete { fin[attribute: "complete"] = "true" }
        if let queryID { fin[attribute: "queryid"] = queryID }
        return fin
    }

    static func parseQuery(_ query: Element) throws -> ArchiveQuery {
        var result = ArchiveQuery()
        if let form = query.child(named: "x", namespace: XMPPNamespace.dataForms) {
            for field in form.children(named: "field") {
                guard let name = field[attribute: "var"], let value = field.child(named: "value")?.text else { continue }
                switch name {
                case "with":
                    guard let jid = try? JID(value) else { throw StanzaError(.badRequest, text: "'with' is not a JID") }
                    result.with = jid.bare
                case "start", "end":
                    guard let date = XMPPDateTime.parse(value) else { throw StanzaError(.badRequest, text: "'\(name)' is not an XEP-0082 date-time") }
                    if name == "start" { result.start = date } else { result.end = date }
                case Self.fulltext:
                    result.fulltext = value
                case "FORM_TYPE":
                    guard value == Self.namespace else { throw StanzaError(.badRequest, text: "unknown FORM_TYPE") }
                default:
                    throw StanzaError(.featureNotImplemented, text: "unsupported field \(name)")
                }
            }
        }
        if let set = query.child(named: "set", namespace: Self.rsm) {
            if let max = set.child(named: "max")?.text {
                guard let value = Int(max), value >= 0 else { throw StanzaError(.badRequest) }
                result.limit = min(value, Self.maxPage)
            }
            if let after = set.child(named: "after") { result.after = after.text }
            if let before = set.child(named: "before") { result.before = before.text }
        }
        return result
    }

}
