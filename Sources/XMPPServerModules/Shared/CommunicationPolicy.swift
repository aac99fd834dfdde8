import XMPPCore
import XMPPServer
import XMPPStorage

/// Block lists (XEP-0191) and privacy lists (XEP-0016) of every account, cached in memory,
/// and the one filter that enforces both for every stanza the router passes.
public final class CommunicationPolicy: @unchecked Sendable {
    struct AccountPolicy: Sendable {
        var blocked: [JID] = []
        var lists: [String: PrivacyList] = [:]
        var defaultList: String?

        var isEmpty: Bool { self.blocked.isEmpty && self.lists.isEmpty }
    }

    static let activeListKey = SessionStateKey<String>("privacy.active")
    static let blocklistRequestedKey = SessionStateKey<Bool>("blocking.requested")

    private let cache = LockedBox<[JID: AccountPolicy]>([:])
    private let attached = LockedBox(false)

    public init() {}

    /// Registers the filter (once, however many modules share this policy).
    func attach(to registrar: ModuleRegistrar) {
        let first = self.attached.withLock { attached -> Bool in
            defer { attached = true }
            return !attached
        }
        guard first else { return }
        let context = registrar.context
        registrar.addFilter { stanza, direction, account in
            await self.verdict(stanza, direction, account: account, context: context)
        }
    }

    // MARK: - State

    func policy(for account: JID, context: ModuleContext) async -> AccountPolicy {
        if let cached = self.cache.withLock({ $0[account] }) { return cached }
        var policy = AccountPolicy()
        let data = context.storage.accountData
        if let blocked = try? await data.value(for: account, key: AccountDataKey.blockList) {
            policy.blocked = blocked.split(separator: "\n").compactMap { try? JID(String($0)) }
        }
        if let stored = try? await data.value(for: account, key: AccountDataKey.privacyLists), let query = Element.parse(stored) {
            for list in query.children(named: "list") {
                if let parsed = try? PrivacyList(element: list) { policy.lists[parsed.name] = parsed }
            }
            policy.defaultList = query.child(named: "default")?[attribute: "name"]
        }
        self.cache.withLock { $0[account] = policy }
        return policy
    }

    func update(_ account: JID, context: ModuleContext, _ change: (inout AccountPolicy) throws -> Void) async throws {
        var policy = await self.policy(for: account, context: context)
        try change(&policy)
        let data = context.storage.accountData
        try await data.setValue(policy.blocked.isEmpty ? nil : policy.blocked.map(\.description).joined(separator: "\n"), for: account, key: AccountDataKey.blockList)
        var query = Element(name: "query", namespace: XMPPNamespace.privacy)
        if let defaultList = policy.defaultList { query.append(Element("default", namespace: XMPPNamespace.privacy, attributes: [("name", defaultList)])) }
        for list in policy.lists.values.sorted(by: { $0.name < $1.name }) {
            query.append(list.element(namespace: XMPPNamespace.privacy))
        }
        try await data.setValue(query.children.isEmpty ? nil : query.storedText, for: account, key: AccountDataKey.privacyLists)
        let updated = policy
        self.cache.withLock { $0[account] = updated }
    }

    // MARK: - The filter

    private func verdict(_ stanza: Element, _ direction: StanzaDirection, account: JID, context: ModuleContext) async -> FilterVerdict {
        let peerAddress = direction == .inbound ? stanza.from : stanza.to
        guard let peer = peerAddress, peer.bare != account.bare, let kind = stanza.stanzaKind else { return .allow }
        let policy = await self.policy(for: account, context: context)
        guard !policy.isEmpty else { return .allow }
        let type = stanza.stanzaType
        let isRequest = kind == .message || (kind == .iq && (type == "get" || type == "set"))

        if policy.blocked.contains(where: { PrivacyList.matches(.jid($0), PrivacyList.Peer(jid: peer)) }) {
            guard kind != .presence, isRequest, type != "error" else { return .drop }
            if direction == .inbound { return .refuse(StanzaError(.serviceUnavailable)) }
            // XEP-0191 §3.6: the user is told the contact is blocked.
            return .refuse(StanzaError(.notAcceptable, applicationCondition: Element(name: "blocked", namespace: XMPPNamespace.blockingErrors)))
        }

        // The session's active list, else the account's default list (XEP-0016 §2.2).
        let sessionAddress = direction == .inbound ? stanza.to : stanza.from
        var listName = policy.defaultList
        if let sessionAddress, sessionAddress.isFull, let session = context.sessions.session(for: sessionAddress),
            let active = context.sessions.presence(of: session)?.moduleState[Self.activeListKey]
        {
            listName = active
        }
        guard let name = listName, let list = policy.lists[name] else { return .allow }
        var facts = PrivacyList.Peer(jid: peer)
        if list.needsRoster, let item = try? await context.storage.rosters.item(of: account, contact: peer.bare), item.inRoster {
            facts.groups = item.groups
            facts.subscription = item.state.subscription
        }
        let stanzaClass: PrivacyList.StanzaClass?
        switch (kind, direction) {
        case (.message, .inbound): stanzaClass = .message
        case (.iq, .inbound): stanzaClass = .iq
        case (.presence, .inbound): stanzaClass = (type == nil || type == "unavailable") ? .presenceIn : nil
        case (.presence, .outbound): stanzaClass = (type == nil || type == "unavailable") ? .presenceOut : nil
        default: stanzaClass = nil
        }
        let action: PrivacyList.Action?
        if let stanzaClass {
            action = list.decision(for: facts, stanzaClass)
        } else {
            // Only items that cover every kind of stanza apply to the rest.
            action = list.items.first { $0.classes.isEmpty && PrivacyList.matches($0.match, facts) }?.action
        }
        guard action == .deny else { return .allow }
        guard isRequest, type != "error" else { return .drop }
        return direction == .inbound ? .refuse(StanzaError(.serviceUnavailable)) : .refuse(StanzaError(.notAcceptable))
    }
}
