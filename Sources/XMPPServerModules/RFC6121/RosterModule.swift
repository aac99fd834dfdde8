import XMPPCore
import XMPPServer
import XMPPStorage

/// RFC 6121 §2: roster get, set and remove, pushes, and versioning (§2.6).
public struct RosterModule: ServerModule {
    public let name = "roster"

    /// Longest item name or group name accepted, in bytes.
    static let maxTextBytes = 1023

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let maxItems = context.configuration.limits.maxRosterItems
        registrar.addFeature(XMPPNamespace.roster, target: .account)
        registrar.addStreamFeature { Element(name: "ver", namespace: XMPPNamespace.rosterVersioning) }

        registrar.handleIQ(.get, namespace: XMPPNamespace.roster, target: .account) { request in
            guard request.to.bare == request.from.bare else { throw StanzaError(.forbidden) }
            if let session = request.session {
                context.sessions.updatePresence(of: session) { $0.interested = true }
            }
            let store = context.storage.rosters
            if let requested = request.payload[attribute: "ver"], let version = Int64(requested),
                let changes = try await store.changes(of: request.from.bare, since: version)
            {
                // §2.6.3: an empty result, then a push for each change since the client's version.
                guard let session = request.session else { return nil }
                session.deliver(request.stanza.iqResult())
                for item in changes.changed {
                    RosterXML.push(RosterXML.element(item), version: changes.version, account: request.from.bare, context: context)
                }
                for jid in changes.removed {
                    RosterXML.push(RosterXML.removed(jid), version: changes.version, account: request.from.bare, context: context)
                }
                throw IQAlreadyAnswered()
            }
            let (version, items) = try await store.roster(of: request.from.bare)
            var query = Element("query", namespace: XMPPNamespace.roster, attributes: [("ver", String(version))])
            query.append(contentsOf: items.map(RosterXML.element))
            return query
        }

        registrar.handleIQ(.set, namespace: XMPPNamespace.roster, target: .account) { request in
            guard request.to.bare == request.from.bare else { throw StanzaError(.forbidden) }
            let items = request.payload.children(named: "item", namespace: XMPPNamespace.roster)
            guard items.count == 1, let element = items.first else {
                throw StanzaError(.badRequest, text: "a roster set carries exactly one item")
            }
            guard let jidText = element[attribute: "jid"], let contact = try? JID(jidText) else {
                throw StanzaError(.badRequest, text: "the item needs a valid 'jid'")
            }
            let account = request.from.bare
            let store = context.storage.rosters
            if element[attribute: "subscription"] == "remove" {
                try await Self.remove(contact.bare, of: account, context: context)
                return nil
            }
            let groups = element.children(named: "group", namespace: XMPPNamespace.roster).map(\.text)
            if groups.contains(where: \.isEmpty) || Set(groups).count != groups.count {
                throw StanzaError(.badRequest, text: "groups must be named and listed once")
            }
            let name = element[attribute: "name"]
            if (name?.utf8.count ?? 0) > Self.maxTextBytes || groups.contains(where: { $0.utf8.count > Self.maxTextBytes }) {
                throw StanzaError(.notAcceptable, text: "item names and groups are limited to \(Self.maxTextBytes) bytes")
            }
            var item = try await store.item(of: account, contact: contact.bare) ?? RosterItem(jid: contact.bare, inRoster: false)
            if !item.inRoster {
                let count = try await store.roster(of: account).items.count
                guard count < maxItems else { throw StanzaError(.resourceConstraint, text: "the roster is full (\(maxItems) items)") }
            }
            item.name = name?.isEmpty == true ? nil : name
            item.groups = groups
            item.inRoster = true
            let version = try await store.setItem(item, of: account)
            RosterXML.push(RosterXML.element(item), version: version, account: account, context: context)
            return nil
        }
    }

    /// §2.5: removing an item cancels subscriptions both ways, then pushes the removal.
    static func remove(_ contact: JID, of account: JID, context: ModuleContext) async throws {
        let store = context.storage.rosters
        guard let item = try await store.item(of: account, contact: contact), item.inRoster || item.state.pendingIn else {
            throw StanzaError(.itemNotFound)
        }
        if item.state.from || item.state.pendingIn {
            await context.route(Self.presence("unsubscribed", from: account, to: contact))
        }
        if item.state.from {
            // As for an `unsubscribed` the client sends itself (§3.2.2): the former subscriber
            // hears each available resource go.
            await PresenceModule.sendUnavailable(of: account, to: contact, context: context)
        }
        if item.state.to || item.state.pendingOut {
            await context.route(Self.presence("unsubscribe", from: account, to: contact))
        }
        guard let version = try await store.removeItem(contact, of: account) else { throw StanzaError(.itemNotFound) }
        RosterXML.push(RosterXML.removed(contact), version: version, account: account, context: context)
    }

    static func presence(_ type: String?, from: JID, to: JID) -> Element {
        var presence = Element(name: "presence", namespace: XMPPNamespace.client)
        if let type { presence[attribute: "type"] = type }
        presence[attribute: "from"] = from.description
        presence[attribute: "to"] = to.description
        return presence
    }
}
