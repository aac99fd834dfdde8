import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0163 personal eventing: a pubsub service on every account's bare JID (OMEMO keys,
/// bookmarks, avatars, nicknames), with nodes created on first publish, `presence` access by
/// default, and notifications to the contacts' and the owner's clients that asked for them
/// with `<node>+notify` in their entity capabilities (XEP-0115).
public struct PersonalEventingModule: ServerModule {
    public let name = "pep"
    private let storage = LockedBox<ModuleStorage?>(nil)
    private let interest = PresenceInterest()
    /// For the modules that convert to and from PEP (bookmarks, vCard avatars).
    public let bridge = PersonalEventingBridge()

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let options = registrar.options("pep")
        let limits = PubSubModule.limits(options)
        let context = registrar.context
        let engine = PubSubEngine(context: context, storage: self.storage, limits: limits) { _ in
            var configuration = NodeConfiguration()
            configuration.accessModel = .presence
            configuration.maxItems = 1
            return configuration
        }
        let pep = PersonalEventing(engine: engine, interest: self.interest, context: context)
        let bridge = self.bridge
        bridge.attach(pep)
        registrar.addFeature(AvatarConversion.feature, target: .account)
        registrar.addIdentity(DiscoIdentity(category: "pubsub", type: "pep"), target: .account)
        registrar.reportAccountUsage("pep_nodes") { account in try await engine.usage(at: .personal(account)).nodes }
        registrar.reportAccountUsage("pep_items") { account in try await engine.usage(at: .personal(account)).items }
        for feature in PubSubNamespace.features { registrar.addFeature(feature, target: .account) }

        for namespace in [PubSubNamespace.pubsub, PubSubNamespace.owner] {
            for type in [IQType.get, .set] {
                registrar.handleIQ(type, namespace: namespace, target: .account) { request in
                    let outcome = try await engine.handle(type, payload: request.payload, host: .personal(request.to), requester: request.from)
                    // The vCard follows an avatar before the publish is answered, so a client
                    // that asks for it next sees the new one.
                    for case .published(AvatarConversion.metadataNode, let items, _) in outcome.events {
                        if let item = items.last { await AvatarConversion.metadataPublished(item, owner: request.to.bare, bridge: bridge, context: context) }
                    }
                    await context.route(request.stanza.iqResult(payload: outcome.payload))
                    await pep.deliver(outcome.events, owner: request.to.bare)
                    throw IQAlreadyAnswered()
                }
            }
        }
        // Whose clients want which nodes: contacts' presence to the account…
        registrar.onInbound(.presence, priority: 10) { presence, account in
            await pep.contactPresence(presence, owner: account)
            return .continue(presence)
        }
        // …and the account's own clients.
        registrar.onOutbound(.presence, priority: 10) { presence, session in
            guard presence.to == nil else { return .continue(presence) }
            await pep.contactPresence(presence, owner: session.jid.bare, from: session.jid)
            return .continue(await AvatarConversion.stamp(presence, owner: session.jid.bare, bridge: bridge))
        }
        registrar.onEvent { event in
            if case .sessionEnded(let session, _) = event { pep.interest.forget(session.jid, of: session.jid.bare) }
        }
        // Answers to the capability queries the service sent.
        registrar.onInbound(.iq, priority: 10) { iq, account in
            guard let id = iq.id, id.hasPrefix(PersonalEventing.capsQueryPrefix), iq.stanzaType == "result" || iq.stanzaType == "error" else { return .continue(iq) }
            await pep.capsAnswer(iq, owner: account)
            return .handled
        }
    }

    public func start(context: ModuleContext) async throws {
        let opened = try await ModuleStorage.open(PubSubModule.schema, in: context.storage)
        self.storage.withLock { $0 = opened }
    }
}

/// Which clients receive which personal nodes: the available resources that sent the owner
/// presence, with their capabilities.
final class PresenceInterest: Sendable {
    private let resources = LockedBox<[JID: [JID: EntityCapabilities.Claim?]]>([:])
    /// Verified verification strings → features (XEP-0115 §5.4), shared by every client.
    private let known = LockedBox<[String: Set<String>]>([:])
    /// Features a client announced under a verification string that did not check out: for
    /// that client only.
    private let unverified = LockedBox<[JID: Set<String>]>([:])
    /// Capability queries under way, by verification string: one query per string, however
    /// many clients show it meanwhile; they all wait for its answer.
    private let queries = LockedBox<[String: CapsQuery]>([:])
    struct CapsQuery {
        var id: String
        var asked: JID
        var claim: EntityCapabilities.Claim
        var started: ContinuousClock.Instant
        /// (owner, client) pairs that learn their features from the answer.
        var waiting: [(owner: JID, client: JID)]
    }
    /// A query unanswered this long is asked again of the next client that shows the string.
    static let queryPatience = Duration.seconds(30)
    static let maxKnown = 10_000

    /// Records an available resource; true when it is new or its capabilities changed.
    func available(_ client: JID, claim: EntityCapabilities.Claim?, of owner: JID) -> Bool {
        self.resources.withLock { resources in
            let previous = resources[owner]?[client]
            resources[owner, default: [:]][client] = claim
            // `previous` is nil when the client was not known, `.some(nil)` when it had no caps.
            return previous.map { $0 != claim } ?? true
        }
    }

    func forget(_ client: JID, of owner: JID) {
        self.resources.withLock { resources in
            resources[owner]?[client] = nil
            if resources[owner]?.isEmpty == true { resources[owner] = nil }
        }
        self.unverified.withLock { $0[client] = nil }
    }

    func clients(of owner: JID) -> [(JID, EntityCapabilities.Claim?)] {
        self.resources.withLock { ($0[owner] ?? [:]).map { ($0.key, $0.value) } }
    }

    func features(of client: JID, claim: EntityCapabilities.Claim?) -> Set<String>? {
        if let claim, let features = self.known.withLock({ $0[claim.ver] }) { return features }
        return self.unverified.withLock { $0[client] }
    }

    func remember(_ features: Set<String>, for client: JID, claim: EntityCapabilities.Claim, verified: Bool) {
        if verified {
            self.known.withLock { known in
                if known.count >= Self.maxKnown { known.removeAll() }
                known[claim.ver] = features
            }
        } else {
            self.unverified.withLock { $0[client] = features }
        }
    }

    /// Registers a client waiting for what `claim` stands for; returns the query id when a
    /// query must be sent (none is under way for the string, or the last one went unanswered).
    func waitForFeatures(owner: JID, client: JID, claim: EntityCapabilities.Claim, id: String) -> String? {
        self.queries.withLock { queries in
            let now = ContinuousClock.now
            if var query = queries[claim.ver], now - query.started < Self.queryPatience {
                query.waiting.append((owner, client))
                queries[claim.ver] = query
                return nil
            }
            let waiting = (queries[claim.ver]?.waiting ?? []) + [(owner, client)]
            queries[claim.ver] = CapsQuery(id: id, asked: client, claim: claim, started: now, waiting: waiting)
            return id
        }
    }

    /// The query this answer is for, taken off the list with everyone waiting for it.
    func finishQuery(_ id: String, from client: JID) -> CapsQuery? {
        self.queries.withLock { queries in
            guard let entry = queries.first(where: { $0.value.id == id && $0.value.asked == client }) else { return nil }
            queries[entry.key] = nil
            return entry.value
        }
    }
}

/// The personal eventing service's deliveries.
struct PersonalEventing: Sendable {
    static let capsQueryPrefix = "pep-caps-"
    let engine: PubSubEngine
    let interest: PresenceInterest
    let context: ModuleContext

    /// A presence to `owner` from a contact's client (or from the owner's own client).
    func contactPresence(_ presence: Element, owner: JID, from explicitSender: JID? = nil) async {
        guard let client = explicitSender ?? presence.from, client.isFull else { return }
        switch presence.stanzaType {
        case nil:
            let claim = EntityCapabilities.claim(in: presence)
            guard self.interest.available(client, claim: claim, of: owner) else { return }
            if let features = self.interest.features(of: client, claim: claim) {
                await self.sendLastItems(of: owner, to: client, features: features)
            } else if let claim {
                // XEP-0115 §6.2: ask one client what its verification string stands for.
                guard let id = self.interest.waitForFeatures(owner: owner, client: client, claim: claim, id: Self.capsQueryPrefix + UUID().uuidString.lowercased()) else { return }
                await self.context.route(Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("from", owner.description), ("to", client.description), ("id", id)], children: [
                    Element("query", namespace: XMPPNamespace.discoInfo, attributes: [("node", "\(claim.node)#\(claim.ver)")])
                ]))
            }
        case "unavailable", "error":
            self.interest.forget(client, of: owner)
        default:
            return
        }
    }

    func capsAnswer(_ iq: Element, owner: JID) async {
        guard let id = iq.id, let from = iq.from, let query = self.interest.finishQuery(id, from: from) else { return }
        guard iq.stanzaType == "result", let info = iq.iqPayload, info.namespace == XMPPNamespace.discoInfo else { return }
        let features = Set(info.children(named: "feature").compactMap { $0[attribute: "var"] })
        let verified = query.claim.hash == "sha-1" && EntityCapabilities.verification(of: info) == query.claim.ver
        self.interest.remember(features, for: query.asked, claim: query.claim, verified: verified)
        for (waitingOwner, client) in query.waiting where verified || client == query.asked {
            await self.sendLastItems(of: waitingOwner, to: client, features: features)
        }
    }

    /// XEP-0163 §4.3.4 and XEP-0060 `on_sub_and_presence`: a client that just said it wants
    /// nodes gets their last items.
    private func sendLastItems(of owner: JID, to client: JID, features: Set<String>) async {
        let host = PubSubHost.personal(owner)
        guard let nodes = try? await self.engine.nodeNames(at: host) else { return }
        for node in nodes where features.contains("\(node)+notify") {
            guard let record = try? await self.engine.record(node, at: host), record.configuration.sendLastPublishedItem == .onSubscriptionAndPresence,
                await self.engine.accessRefusal(record, at: host, requester: client, reading: true) == nil,
                let last = try? await self.engine.items(node, at: host, limit: 1).last
            else { continue }
            let event = PubSubNotifications.items(node, [last], payloads: record.configuration.deliverPayloads)
            await self.context.route(PubSubNotifications.message(from: owner, to: client, event: event, type: record.configuration.notificationType))
        }
    }

    /// Notifications go to subscribers and to every client of the owner and its contacts
    /// that asked for the node and may read it.
    func deliver(_ events: [PubSubEvent], owner: JID) async {
        let host = PubSubHost.personal(owner)
        for event in events {
            guard let payload = PubSubNotifications.event(event) else { continue }
            let record = PubSubNotifications.record(of: event)
            var recipients = PubSubNotifications.subscribers(of: event)
            // A new subscription's last item goes to its subscriber only (node(of:) is nil for it).
            if record.configuration.deliverNotifications, let node = Self.node(of: event) {
                var allowed: [JID: Bool] = [:]
                // One read of the owner's roster for every contact's access check, not one each.
                var roster: [JID: RosterItem]?
                if [.presence, .roster].contains(record.configuration.accessModel) {
                    let records = (try? await self.context.storage.rosters.allRecords(of: owner)) ?? []
                    roster = Dictionary(records.map { ($0.jid.bare, $0) }, uniquingKeysWith: { first, _ in first })
                }
                for (client, claim) in self.interest.clients(of: owner) {
                    guard let features = self.interest.features(of: client, claim: claim), features.contains("\(node)+notify") else { continue }
                    let bare = client.bare
                    if allowed[bare] == nil {
                        allowed[bare] = await self.engine.accessRefusal(record, at: host, requester: bare, reading: true, roster: roster) == nil
                    }
                    if allowed[bare] == true, !recipients.contains(client), !recipients.contains(bare) { recipients.append(client) }
                }
            }
            for recipient in recipients {
                await self.context.route(PubSubNotifications.message(from: owner, to: recipient, event: payload, type: record.configuration.notificationType))
            }
        }
    }

    private static func node(of event: PubSubEvent) -> String? {
        switch event {
        case .published(let node, _, _), .retracted(let node, _, _), .purged(let node, _), .deleted(let node, _, _), .configured(let node, _): return node
        case .subscribed, .approvalNeeded: return nil
        }
    }
}
