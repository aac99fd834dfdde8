import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// Where nodes live: an account's personal eventing service (XEP-0163) or a pubsub service
/// domain (XEP-0060). Documents of the first are in `account:` collections keyed by the
/// account, so the storage backend deletes them with the account.
struct PubSubHost: Sendable, Hashable {
    enum Kind: Sendable, Hashable { case personal, service }
    let jid: JID
    let kind: Kind

    static func personal(_ account: JID) -> PubSubHost { PubSubHost(jid: account.bare, kind: .personal) }
    static func service(_ domain: JID) -> PubSubHost { PubSubHost(jid: domain, kind: .service) }

    var nodes: String { self.kind == .personal ? "account:pep-nodes" : "nodes" }
    var items: String { self.kind == .personal ? "account:pep-items" : "items" }
    var itemIDs: String { self.kind == .personal ? "account:pep-item-ids" : "item-ids" }
    var prefix: String { "\(self.jid)\u{0}" }
    func nodeKey(_ node: String) -> String { self.prefix + node }
    func itemPrefix(_ node: String) -> String { self.prefix + node + "\u{0}" }
}

/// Limits on what one node or account may hold.
struct PubSubLimits: Sendable, Hashable {
    var maxItems = 1_000
    var maxPayloadBytes = 200 * 1024
    var maxNodesPerHost = 1_000
    var maxSubscriptionsPerNode = 10_000
}

/// What a request changed that others must hear of; the caller works out who.
enum PubSubEvent: Sendable {
    case published(node: String, items: [StoredItem], record: NodeRecord)
    case retracted(node: String, ids: [String], record: NodeRecord)
    case purged(node: String, record: NodeRecord)
    case deleted(node: String, redirect: String?, record: NodeRecord)
    case configured(node: String, record: NodeRecord)
    /// A new subscription: send the last item if the node says so.
    case subscribed(node: String, subscriber: JID, record: NodeRecord, lastItem: StoredItem?)
    /// An `authorize` node got a request: the owners approve it (XEP-0060 §8.6).
    case approvalNeeded(node: String, subscriber: JID, subid: String, record: NodeRecord)
}

struct PubSubOutcome: Sendable {
    var payload: Element?
    var events: [PubSubEvent] = []
}

/// XEP-0060 requests against one host's nodes, for both the personal eventing service and
/// the pubsub service. Node records and items are module documents; each change is one
/// transaction, so concurrent publishers never lose an item or a subscription.
struct PubSubEngine: Sendable {
    let context: ModuleContext
    let storage: LockedBox<ModuleStorage?>
    let limits: PubSubLimits
    /// The configuration a node gets when nothing else is said (PEP: `presence`; service: `open`).
    let defaults: @Sendable (PubSubHost) -> NodeConfiguration

    init(context: ModuleContext, storage: LockedBox<ModuleStorage?>, limits: PubSubLimits, defaults: @escaping @Sendable (PubSubHost) -> NodeConfiguration) {
        self.context = context
        self.storage = storage
        self.limits = limits
        self.defaults = defaults
    }

    func documents() throws -> ModuleStorage {
        guard let storage = self.storage.withLock({ $0 }) else { throw StanzaError(.internalServerError, text: "pubsub storage is not open") }
        return storage
    }

    // MARK: - Reading

    func record(_ node: String, at host: PubSubHost) async throws -> NodeRecord? {
        try await self.documents().value(NodeRecord.self, collection: host.nodes, key: host.nodeKey(node))
    }

    /// How many nodes and items the host keeps (an account's PEP usage).
    func usage(at host: PubSubHost) async throws -> (nodes: Int, items: Int) {
        let storage = try self.documents()
        return (try await storage.list(host.nodes, ModuleDocumentRange(prefix: host.prefix)).count, try await storage.list(host.items, ModuleDocumentRange(prefix: host.prefix)).count)
    }

    func nodeNames(at host: PubSubHost) async throws -> [String] {
        try await self.documents().list(host.nodes, ModuleDocumentRange(prefix: host.prefix)).map { String($0.key.dropFirst(host.prefix.count)) }
    }

    /// The newest `limit` items (all when nil), oldest first.
    func items(_ node: String, at host: PubSubHost, limit: Int?) async throws -> [StoredItem] {
        let documents = try await self.documents().list(host.items, ModuleDocumentRange(prefix: host.itemPrefix(node), descending: true, limit: limit))
        return documents.reversed().compactMap { try? JSONDecoder().decode(StoredItem.self, from: Data($0.value.utf8)) }
    }

    func items(_ node: String, at host: PubSubHost, ids: [String]) async throws -> [StoredItem] {
        let storage = try self.documents()
        let itemIDs = host.itemIDs
        let itemsCollection = host.items
        return try await storage.transaction { documents in
            try ids.compactMap { id -> StoredItem? in
                guard let sequence = try documents.document(itemIDs, key: host.itemPrefix(node) + id)?.value,
                    let document = try documents.document(itemsCollection, key: host.itemPrefix(node) + sequence)
                else { return nil }
                return try? JSONDecoder().decode(StoredItem.self, from: Data(document.value.utf8))
            }
        }
    }

    // MARK: - Access (XEP-0060 §4.5, §6.1.3)

    /// Why `requester` may not subscribe to or read the node, if so.
    /// `roster` is the owner's roster when the caller read it once for many requesters.
    func accessRefusal(_ record: NodeRecord, at host: PubSubHost, requester: JID, reading: Bool, roster: [JID: RosterItem]? = nil) async -> StanzaError? {
        let affiliation = record.affiliation(of: requester)
        if affiliation == .owner || (host.kind == .personal && requester.bare == host.jid) { return nil }
        if affiliation == .outcast { return .pubsub(.forbidden, text: "you are banned from this node") }
        if affiliation.isMember { return nil }
        let owner = host.kind == .personal ? host.jid : record.owners.first
        func rosterItem() async -> RosterItem? {
            if let roster { return roster[requester.bare] }
            guard let owner else { return nil }
            return try? await self.context.storage.rosters.item(of: owner, contact: requester.bare)
        }
        switch record.configuration.accessModel {
        case .open:
            return nil
        case .presence:
            if let item = await rosterItem(), item.state.from { return nil }
            return .pubsub(.notAuthorized, "presence-subscription-required", text: "a presence subscription to the owner is needed")
        case .roster:
            if let item = await rosterItem(), item.inRoster,
                !Set(item.groups).isDisjoint(with: record.configuration.rosterGroupsAllowed)
            {
                return nil
            }
            return .pubsub(.notAuthorized, "not-in-roster-group", text: "only contacts in the allowed roster groups")
        case .whitelist:
            return .pubsub(.notAllowed, "closed-node", text: "only members of this node")
        case .authorize:
            guard reading else { return nil }
            if record.subscriptions(of: requester).contains(where: { $0.state == .subscribed })
                || record.subscriptions(of: requester.bare).contains(where: { $0.state == .subscribed })
            {
                return nil
            }
            return .pubsub(.notAuthorized, "not-subscribed", text: "subscribe and be approved first")
        }
    }

    // MARK: - Requests

    /// Handles a `pubsub` or `pubsub#owner` IQ payload from `requester` to `host`.
    func handle(_ type: IQType, payload: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let owner = payload.namespace == PubSubNamespace.owner
        // The request is the first child; a companion (`configure` after `create`,
        // `publish-options` after `publish`, `options` after `subscribe`) follows it.
        guard let action = payload.elements.first else { throw StanzaError(.badRequest, text: "an empty pubsub request") }
        switch (owner, type, action.name) {
        case (false, .set, "create"): return try await self.create(action, configure: payload.child(named: "configure"), host: host, requester: requester)
        case (false, .set, "publish"): return try await self.publish(action, options: payload.child(named: "publish-options"), host: host, requester: requester)
        case (false, .set, "retract"): return try await self.retract(action, host: host, requester: requester)
        case (false, .set, "subscribe"): return try await self.subscribe(action, host: host, requester: requester)
        case (false, .set, "unsubscribe"): return try await self.unsubscribe(action, host: host, requester: requester)
        case (false, .get, "items"): return try await self.retrieve(action, host: host, requester: requester)
        case (false, .get, "subscriptions"): return try await self.ownSubscriptions(action, host: host, requester: requester)
        case (false, .get, "affiliations"): return try await self.ownAffiliations(action, host: host, requester: requester)
        case (false, .get, "options"), (false, .set, "options"): return try await self.subscriptionOptions(type, action, host: host, requester: requester)
        case (false, .get, "default"), (true, .get, "default"):
            let form = self.defaults(host).form(maxItemsLimit: self.limits.maxItems).element
            return PubSubOutcome(payload: Element("pubsub", namespace: payload.namespace, children: [Element("default", namespace: payload.namespace, children: [form])]))
        case (true, .get, "configure"), (true, .set, "configure"): return try await self.configure(type, action, host: host, requester: requester)
        case (true, .set, "delete"): return try await self.delete(action, host: host, requester: requester)
        case (true, .set, "purge"): return try await self.purge(action, host: host, requester: requester)
        case (true, .get, "subscriptions"), (true, .set, "subscriptions"): return try await self.manageSubscriptions(type, action, host: host, requester: requester)
        case (true, .get, "affiliations"), (true, .set, "affiliations"): return try await self.manageAffiliations(type, action, host: host, requester: requester)
        default:
            throw StanzaError(.featureNotImplemented, text: "\(action.name) is not supported here")
        }
    }

    func nodeName(_ element: Element) throws -> String {
        guard let node = element[attribute: "node"], !node.isEmpty else { throw StanzaError.pubsub(.badRequest, "nodeid-required") }
        return node
    }

    func mayCreate(at host: PubSubHost, requester: JID) -> Bool {
        switch host.kind {
        case .personal: return requester.bare == host.jid
        case .service: return self.context.isLocal(requester)
        }
    }

    // MARK: Publish and retract (§7)

    func publish(_ publish: Element, options: Element?, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(publish)
        let itemElements = publish.children(named: "item")
        let publishOptions = options.flatMap { DataForm(in: $0) }
        var record = try await self.record(node, at: host)
        if record == nil {
            // Auto-create (§7.1.4), with the publish-options as its configuration.
            guard self.mayCreate(at: host, requester: requester) else { throw StanzaError(.itemNotFound, text: "no such node") }
            var configuration = self.defaults(host)
            if let publishOptions {
                configuration = try configuration.applying(publishOptions, maxItemsLimit: self.limits.maxItems, strict: true)
            }
            do {
                try await self.insert(NodeRecord(configuration: configuration, owner: requester, created: Date()), node: node, at: host)
            } catch let error as StanzaError where error.condition == .conflict {
                // Created meanwhile by another request: publish into it.
            }
            record = try await self.record(node, at: host)
        } else if let publishOptions, let field = record?.configuration.unmetPrecondition(publishOptions, maxItemsLimit: self.limits.maxItems) {
            throw StanzaError.pubsub(.conflict, "precondition-not-met", text: "the node's \(field) differs from the publish-options")
        }
        guard let existing = record else { throw StanzaError(.itemNotFound, text: "no such node") }
        let affiliation = existing.affiliation(of: requester)
        let mayPublish: Bool
        switch existing.configuration.publishModel {
        case .publishers: mayPublish = affiliation >= .publishOnly || (host.kind == .personal && requester.bare == host.jid)
        case .subscribers: mayPublish = affiliation >= .publishOnly || existing.subscriptions(of: requester.bare).contains { $0.state == .subscribed }
        case .open: mayPublish = affiliation != .outcast
        }
        guard mayPublish else { throw StanzaError(.forbidden, text: "you may not publish to this node") }

        var items: [StoredItem] = []
        for element in itemElements.isEmpty ? [Element("item", namespace: PubSubNamespace.pubsub)] : itemElements {
            let payloads = element.elements
            guard payloads.count <= 1 else { throw StanzaError.pubsub(.badRequest, "invalid-payload", text: "one payload per item") }
            if existing.configuration.persistItems || existing.configuration.deliverPayloads, payloads.isEmpty {
                throw StanzaError.pubsub(.badRequest, "payload-required")
            }
            let text = payloads.first?.storedText
            if let text, text.utf8.count > self.limits.maxPayloadBytes {
                throw StanzaError.pubsub(.notAcceptable, "payload-too-big", text: "payloads may be at most \(self.limits.maxPayloadBytes) bytes")
            }
            let id = element[attribute: "id"].flatMap { $0.isEmpty ? nil : $0 } ?? UUID().uuidString.lowercased()
            items.append(StoredItem(id: id, payload: text, publisher: requester.bare.description, published: Date()))
        }
        let keep = existing.configuration.itemLimit(serviceLimit: self.limits.maxItems)
        let stored = items
        let (updated, _) = try await self.update(node, at: host) { record, documents in
            for item in stored {
                // A new item under a known ID replaces the old one and moves to the end.
                if let old = try documents.document(host.itemIDs, key: host.itemPrefix(node) + item.id) {
                    try documents.delete(host.items, key: host.itemPrefix(node) + old.value)
                }
                let sequence = String(format: "%020lld", record.nextSequence)
                record.nextSequence += 1
                try documents.put(try Self.encode(item), collection: host.items, key: host.itemPrefix(node) + sequence)
                try documents.put(sequence, collection: host.itemIDs, key: host.itemPrefix(node) + item.id)
            }
            try Self.trim(node, at: host, keep: keep, added: stored.count, documents)
        }
        var reply = Element("publish", namespace: PubSubNamespace.pubsub, attributes: [("node", node)])
        for item in items { reply.append(Element("item", namespace: PubSubNamespace.pubsub, attributes: [("id", item.id)])) }
        return PubSubOutcome(payload: Element("pubsub", namespace: PubSubNamespace.pubsub, children: [reply]), events: [.published(node: node, items: items, record: updated)])
    }

    /// Keeps the newest `keep` items of a node. After a publish of `added` items at most that
    /// many can be over, so only those are listed (not the whole node); nil lists them all.
    static func trim(_ node: String, at host: PubSubHost, keep: Int, added: Int? = nil, _ documents: any ModuleDocuments) throws {
        let limit = added.map { keep + $0 }
        let newest = try documents.list(host.items, ModuleDocumentRange(prefix: host.itemPrefix(node), descending: true, limit: limit))
        for document in newest.dropFirst(keep) {
            try documents.delete(host.items, key: document.key)
            if let item = try? JSONDecoder().decode(StoredItem.self, from: Data(document.value.utf8)) {
                try documents.delete(host.itemIDs, key: host.itemPrefix(node) + item.id)
            }
        }
    }

    func retract(_ retract: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(retract)
        let ids = retract.children(named: "item").compactMap { $0[attribute: "id"] }
        guard !ids.isEmpty else { throw StanzaError.pubsub(.badRequest, "item-required") }
        guard let record = try await self.record(node, at: host) else { throw StanzaError(.itemNotFound, text: "no such node") }
        let existing = try await self.items(node, at: host, ids: ids)
        guard existing.count == ids.count else { throw StanzaError(.itemNotFound, text: "no such item") }
        let affiliation = record.affiliation(of: requester)
        let mayRetract = affiliation >= .publisher || (host.kind == .personal && requester.bare == host.jid)
            || existing.allSatisfy { $0.publisher == requester.bare.description && affiliation >= .publishOnly }
        guard mayRetract else { throw StanzaError(.forbidden, text: "you may not retract these items") }
        try await self.documents().transaction { documents in
            for id in ids {
                guard let sequence = try documents.document(host.itemIDs, key: host.itemPrefix(node) + id)?.value else { continue }
                try documents.delete(host.items, key: host.itemPrefix(node) + sequence)
                try documents.delete(host.itemIDs, key: host.itemPrefix(node) + id)
            }
        }
        let notify = retract[attribute: "notify"] == "true" || retract[attribute: "notify"] == "1"
        return PubSubOutcome(events: notify && record.configuration.notifyRetract ? [.retracted(node: node, ids: ids, record: record)] : [])
    }

    // MARK: Subscribe, unsubscribe, options (§6)

    func subscribe(_ subscribe: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(subscribe)
        guard let jidText = subscribe[attribute: "jid"], let subscriber = try? JID(jidText), subscriber.bare == requester.bare else {
            throw StanzaError.pubsub(.badRequest, "invalid-jid", text: "subscribe with your own JID")
        }
        guard let record = try await self.record(node, at: host) else { throw StanzaError(.itemNotFound, text: "no such node") }
        if let refusal = await self.accessRefusal(record, at: host, requester: requester, reading: false) { throw refusal }
        let pending = record.configuration.accessModel == .authorize && record.affiliation(of: requester) < .member
            && !(host.kind == .personal && requester.bare == host.jid)
        let limit = self.limits.maxSubscriptionsPerNode
        let (updated, subscription) = try await self.update(node, at: host) { record, _ -> PubSubSubscription in
            if let existing = record.subscriptions(of: subscriber).first { return existing }
            guard record.subscriptions.count < limit else { throw StanzaError.pubsub(.notAllowed, "too-many-subscriptions", text: "the node has \(limit) subscribers") }
            let subscription = PubSubSubscription(jid: subscriber.description, subid: UUID().uuidString.lowercased(), state: pending ? .pending : .subscribed)
            record.subscriptions.append(subscription)
            return subscription
        }
        let reply = Element("pubsub", namespace: PubSubNamespace.pubsub, children: [
            Element("subscription", namespace: PubSubNamespace.pubsub, attributes: [("node", node), ("jid", subscriber.description), ("subid", subscription.subid), ("subscription", subscription.state.rawValue)])
        ])
        if subscription.state == .pending {
            return PubSubOutcome(payload: reply, events: [.approvalNeeded(node: node, subscriber: subscriber, subid: subscription.subid, record: updated)])
        }
        let last = updated.configuration.sendLastPublishedItem == .never ? nil : try await self.items(node, at: host, limit: 1).last
        return PubSubOutcome(payload: reply, events: [.subscribed(node: node, subscriber: subscriber, record: updated, lastItem: last)])
    }

    func unsubscribe(_ unsubscribe: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(unsubscribe)
        guard let jidText = unsubscribe[attribute: "jid"], let subscriber = try? JID(jidText), subscriber.bare == requester.bare else {
            throw StanzaError.pubsub(.badRequest, "invalid-jid", text: "unsubscribe your own JID")
        }
        let subid = unsubscribe[attribute: "subid"]
        try await self.update(node, at: host) { record, _ in
            let before = record.subscriptions.count
            record.subscriptions.removeAll { $0.jid == subscriber.description && (subid == nil || $0.subid == subid) }
            if record.subscriptions.count == before { throw StanzaError.pubsub(.unexpectedRequest, "not-subscribed", text: "no such subscription") }
        }
        return PubSubOutcome()
    }

    func subscriptionOptions(_ type: IQType, _ options: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(options)
        guard let record = try await self.record(node, at: host) else { throw StanzaError(.itemNotFound, text: "no such node") }
        let jid = options[attribute: "jid"].flatMap { try? JID($0) } ?? requester
        guard jid.bare == requester.bare || record.affiliation(of: requester) == .owner else { throw StanzaError(.forbidden) }
        guard !record.subscriptions(of: jid).isEmpty else { throw StanzaError.pubsub(.unexpectedRequest, "not-subscribed") }
        if type == .set { return PubSubOutcome() }
        let form = DataForm(type: "form", formType: PubSubNamespace.subscribeOptions, fields: [
            DataForm.Field("pubsub#deliver", type: "boolean", label: "Receive notifications", values: ["1"])
        ])
        return PubSubOutcome(payload: Element("pubsub", namespace: PubSubNamespace.pubsub, children: [
            Element("options", namespace: PubSubNamespace.pubsub, attributes: [("node", node), ("jid", jid.description)], children: [form.element])
        ]))
    }

    // MARK: Retrieval (§6.5)

    func retrieve(_ request: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(request)
        guard let record = try await self.record(node, at: host) else { throw StanzaError(.itemNotFound, text: "no such node") }
        if let refusal = await self.accessRefusal(record, at: host, requester: requester, reading: true) { throw refusal }
        let ids = request.children(named: "item").compactMap { $0[attribute: "id"] }
        let items: [StoredItem]
        if !ids.isEmpty {
            items = try await self.items(node, at: host, ids: ids)
        } else {
            let max = request[attribute: "max_items"].flatMap { Int($0) }
            if request[attribute: "max_items"] != nil, max == nil || max! < 0 { throw StanzaError(.badRequest, text: "max_items must be a number") }
            items = try await self.items(node, at: host, limit: max)
        }
        let reply = Element("items", namespace: PubSubNamespace.pubsub, attributes: [("node", node)], children: items.map { $0.element(namespace: PubSubNamespace.pubsub) })
        return PubSubOutcome(payload: Element("pubsub", namespace: PubSubNamespace.pubsub, children: [reply]))
    }

    func ownSubscriptions(_ request: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let wanted = request[attribute: "node"]
        var reply = Element("subscriptions", namespace: PubSubNamespace.pubsub)
        if let wanted { reply[attribute: "node"] = wanted }
        for node in try await self.nodeNames(at: host) where wanted == nil || wanted == node {
            guard let record = try await self.record(node, at: host) else { continue }
            for subscription in record.subscriptions where (try? JID(subscription.jid))?.bare == requester.bare {
                reply.append(Element("subscription", namespace: PubSubNamespace.pubsub, attributes: [
                    ("node", node), ("jid", subscription.jid), ("subid", subscription.subid), ("subscription", subscription.state.rawValue),
                ]))
            }
        }
        return PubSubOutcome(payload: Element("pubsub", namespace: PubSubNamespace.pubsub, children: [reply]))
    }

    func ownAffiliations(_ request: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let wanted = request[attribute: "node"]
        var reply = Element("affiliations", namespace: PubSubNamespace.pubsub)
        for node in try await self.nodeNames(at: host) where wanted == nil || wanted == node {
            guard let record = try await self.record(node, at: host) else { continue }
            let affiliation = record.affiliation(of: requester)
            guard affiliation != .none else { continue }
            reply.append(Element("affiliation", namespace: PubSubNamespace.pubsub, attributes: [("node", node), ("affiliation", affiliation.rawValue)]))
        }
        return PubSubOutcome(payload: Element("pubsub", namespace: PubSubNamespace.pubsub, children: [reply]))
    }

    static func encode<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
