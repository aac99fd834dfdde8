import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0060 §8: what owners do to their nodes — create, configure, delete, purge, and manage
/// subscriptions and affiliations.
extension PubSubEngine {
    // MARK: Create, configure, delete, purge

    func create(_ create: Element, configure: Element?, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        guard self.mayCreate(at: host, requester: requester) else { throw StanzaError(.forbidden, text: "you may not create nodes here") }
        let instant = create[attribute: "node"] == nil
        let node = create[attribute: "node"] ?? UUID().uuidString.lowercased()
        guard !node.isEmpty else { throw StanzaError.pubsub(.badRequest, "nodeid-required") }
        var configuration = self.defaults(host)
        if let form = configure.flatMap({ DataForm(in: $0) }) {
            configuration = try configuration.applying(form, maxItemsLimit: self.limits.maxItems, strict: false)
        }
        let record = NodeRecord(configuration: configuration, owner: requester, created: Date())
        try await self.insert(record, node: node, at: host)
        return PubSubOutcome(payload: instant ? Element("pubsub", namespace: PubSubNamespace.pubsub, children: [Element("create", namespace: PubSubNamespace.pubsub, attributes: [("node", node)])]) : nil)
    }

    func insert(_ record: NodeRecord, node: String, at host: PubSubHost) async throws {
        let text = try Self.encode(record)
        let limit = self.limits.maxNodesPerHost
        let created: Bool = try await self.documents().transaction { documents in
            if try documents.document(host.nodes, key: host.nodeKey(node)) != nil { return false }
            if try documents.list(host.nodes, ModuleDocumentRange(prefix: host.prefix, limit: limit)).count >= limit {
                throw StanzaError.pubsub(.notAllowed, "max-nodes-exceeded", text: "at most \(limit) nodes")
            }
            try documents.put(text, collection: host.nodes, key: host.nodeKey(node))
            return true
        }
        guard created else { throw StanzaError(.conflict, text: "the node exists") }
    }

    /// Reads, changes and writes a node record in one transaction.
    @discardableResult
    func update<Result: Sendable>(_ node: String, at host: PubSubHost, _ change: @escaping @Sendable (inout NodeRecord, any ModuleDocuments) throws -> Result) async throws -> (NodeRecord, Result) {
        try await self.documents().transaction { documents in
            guard let document = try documents.document(host.nodes, key: host.nodeKey(node)) else { throw StanzaError(.itemNotFound, text: "no such node") }
            var record = try JSONDecoder().decode(NodeRecord.self, from: Data(document.value.utf8))
            let result = try change(&record, documents)
            try documents.put(try Self.encode(record), collection: host.nodes, key: host.nodeKey(node))
            return (record, result)
        }
    }

    func requireOwner(_ node: String, at host: PubSubHost, requester: JID) async throws -> NodeRecord {
        guard let record = try await self.record(node, at: host) else { throw StanzaError(.itemNotFound, text: "no such node") }
        guard record.affiliation(of: requester) == .owner else { throw StanzaError(.forbidden, text: "only owners may do this") }
        return record
    }

    func configure(_ type: IQType, _ configure: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(configure)
        let record = try await self.requireOwner(node, at: host, requester: requester)
        if type == .get {
            let form = record.configuration.form(maxItemsLimit: self.limits.maxItems).element
            return PubSubOutcome(payload: Element("pubsub", namespace: PubSubNamespace.owner, children: [
                Element("configure", namespace: PubSubNamespace.owner, attributes: [("node", node)], children: [form])
            ]))
        }
        guard let form = DataForm(in: configure) else { throw StanzaError(.badRequest, text: "send a pubsub#node_config form") }
        if form.type == "cancel" { return PubSubOutcome() }
        let updated = try record.configuration.applying(form, maxItemsLimit: self.limits.maxItems, strict: false)
        let keep = updated.itemLimit(serviceLimit: self.limits.maxItems)
        let (changed, _) = try await self.update(node, at: host) { record, documents in
            record.configuration = updated
            try Self.trim(node, at: host, keep: keep, documents)
        }
        return PubSubOutcome(events: changed.configuration.notifyConfig ? [.configured(node: node, record: changed)] : [])
    }

    func delete(_ delete: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(delete)
        let record = try await self.requireOwner(node, at: host, requester: requester)
        try await self.documents().transaction { documents in
            try documents.delete(host.nodes, key: host.nodeKey(node))
            try documents.deleteAll(host.items, prefix: host.itemPrefix(node))
            try documents.deleteAll(host.itemIDs, prefix: host.itemPrefix(node))
        }
        let redirect = delete.child(named: "redirect")?[attribute: "uri"]
        return PubSubOutcome(events: record.configuration.notifyDelete ? [.deleted(node: node, redirect: redirect, record: record)] : [])
    }

    func purge(_ purge: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(purge)
        let record = try await self.requireOwner(node, at: host, requester: requester)
        guard record.configuration.persistItems else { throw StanzaError.pubsub(.featureNotImplemented, "unsupported", feature: "persistent-items") }
        try await self.documents().transaction { documents in
            try documents.deleteAll(host.items, prefix: host.itemPrefix(node))
            try documents.deleteAll(host.itemIDs, prefix: host.itemPrefix(node))
        }
        return PubSubOutcome(events: [.purged(node: node, record: record)])
    }

    // MARK: Owner management (§8.8, §8.9)

    func manageSubscriptions(_ type: IQType, _ request: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(request)
        let record = try await self.requireOwner(node, at: host, requester: requester)
        if type == .get {
            let items = record.subscriptions.map {
                Element("subscription", namespace: PubSubNamespace.owner, attributes: [("jid", $0.jid), ("subscription", $0.state.rawValue), ("subid", $0.subid)])
            }
            return PubSubOutcome(payload: Element("pubsub", namespace: PubSubNamespace.owner, children: [
                Element("subscriptions", namespace: PubSubNamespace.owner, attributes: [("node", node)], children: items)
            ]))
        }
        var changes: [(String, PubSubSubscription.State)] = []
        for item in request.children(named: "subscription") {
            guard let jid = item[attribute: "jid"].flatMap({ try? JID($0) }), let state = item[attribute: "subscription"].flatMap(PubSubSubscription.State.init) else {
                throw StanzaError(.badRequest, text: "each subscription needs a jid and a state")
            }
            changes.append((jid.description, state))
        }
        let requested = changes
        let (updated, approved) = try await self.update(node, at: host) { record, _ -> [JID] in
            var approved: [JID] = []
            for (jid, state) in requested {
                if state == .none {
                    record.subscriptions.removeAll { $0.jid == jid }
                } else if let index = record.subscriptions.firstIndex(where: { $0.jid == jid }) {
                    if record.subscriptions[index].state == .pending, state == .subscribed, let subscriber = try? JID(jid) { approved.append(subscriber) }
                    record.subscriptions[index].state = state
                } else {
                    record.subscriptions.append(PubSubSubscription(jid: jid, subid: UUID().uuidString.lowercased(), state: state))
                }
            }
            return approved
        }
        let last = try await self.items(node, at: host, limit: 1).last
        return PubSubOutcome(events: approved.map { .subscribed(node: node, subscriber: $0, record: updated, lastItem: last) })
    }

    func manageAffiliations(_ type: IQType, _ request: Element, host: PubSubHost, requester: JID) async throws -> PubSubOutcome {
        let node = try self.nodeName(request)
        let record = try await self.requireOwner(node, at: host, requester: requester)
        if type == .get {
            let items = record.affiliations.sorted { $0.key < $1.key }.map {
                Element("affiliation", namespace: PubSubNamespace.owner, attributes: [("jid", $0.key), ("affiliation", $0.value.rawValue)])
            }
            return PubSubOutcome(payload: Element("pubsub", namespace: PubSubNamespace.owner, children: [
                Element("affiliations", namespace: PubSubNamespace.owner, attributes: [("node", node)], children: items)
            ]))
        }
        var changes: [(String, PubSubAffiliation)] = []
        for item in request.children(named: "affiliation") {
            guard let jid = item[attribute: "jid"].flatMap({ try? JID($0) }), let affiliation = item[attribute: "affiliation"].flatMap(PubSubAffiliation.init) else {
                throw StanzaError(.badRequest, text: "each affiliation needs a jid and a known affiliation")
            }
            changes.append((jid.bare.description, affiliation))
        }
        let requested = changes
        try await self.update(node, at: host) { record, _ in
            for (jid, affiliation) in requested {
                record.affiliations[jid] = affiliation == .none ? nil : affiliation
                // An outcast loses its subscriptions (§8.9.2.4).
                if affiliation == .outcast { record.subscriptions.removeAll { (try? JID($0.jid))?.bare.description == jid } }
            }
            guard !record.owners.isEmpty else { throw StanzaError(.notAcceptable, text: "a node needs an owner") }
        }
        return PubSubOutcome()
    }

    /// Answers the owner's approval form for a pending subscription (§8.6).
    func decide(_ form: DataForm, host: PubSubHost, owner: JID) async throws -> PubSubOutcome {
        guard let node = form.value("pubsub#node"), let subid = form.value("pubsub#subid"), let allow = form.bool("pubsub#allow") else {
            throw StanzaError(.badRequest, text: "the approval form needs pubsub#node, pubsub#subid and pubsub#allow")
        }
        _ = try await self.requireOwner(node, at: host, requester: owner)
        let (updated, subscriber) = try await self.update(node, at: host) { record, _ -> JID? in
            guard let index = record.subscriptions.firstIndex(where: { $0.subid == subid && $0.state == .pending }) else { return nil }
            let jid = try? JID(record.subscriptions[index].jid)
            if allow { record.subscriptions[index].state = .subscribed } else { record.subscriptions.remove(at: index) }
            return jid
        }
        guard allow, let subscriber else { return PubSubOutcome() }
        let last = try await self.items(node, at: host, limit: 1).last
        return PubSubOutcome(events: [.subscribed(node: node, subscriber: subscriber, record: updated, lastItem: last)])
    }

    /// How many nodes of the host the account owns and how many subscriptions it holds there,
    /// for the admin fronts' storage usage. Reads every node: an administrator's question, not
    /// a path stanzas take.
    func involvement(of account: JID, at host: PubSubHost) async throws -> (ownedNodes: Int, subscriptions: Int) {
        let bare = account.bare
        var owned = 0
        var subscriptions = 0
        for document in try await self.documents().list(host.nodes, ModuleDocumentRange(prefix: host.prefix)) {
            guard let record = try? JSONDecoder().decode(NodeRecord.self, from: Data(document.value.utf8)) else { continue }
            if record.affiliation(of: bare) == .owner { owned += 1 }
            subscriptions += record.subscriptions.count { (try? JID($0.jid))?.bare == bare }
        }
        return (owned, subscriptions)
    }

    /// Removes an account's subscriptions and affiliations from every node of the host (its
    /// owned nodes keep their other owners; a node it alone owned goes).
    func forget(_ account: JID, at host: PubSubHost) async throws {
        let bare = account.bare
        try await self.documents().transaction { documents in
            for document in try documents.list(host.nodes, ModuleDocumentRange(prefix: host.prefix)) {
                guard var record = try? JSONDecoder().decode(NodeRecord.self, from: Data(document.value.utf8)) else { continue }
                let before = record
                record.subscriptions.removeAll { (try? JID($0.jid))?.bare == bare }
                record.affiliations[bare.description] = nil
                if record.owners.isEmpty {
                    let node = String(document.key.dropFirst(host.prefix.count))
                    try documents.delete(host.nodes, key: document.key)
                    try documents.deleteAll(host.items, prefix: host.itemPrefix(node))
                    try documents.deleteAll(host.itemIDs, prefix: host.itemPrefix(node))
                } else if record != before {
                    try documents.put(try Self.encode(record), collection: host.nodes, key: document.key)
                }
            }
        }
    }
}
