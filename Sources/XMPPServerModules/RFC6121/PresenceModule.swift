import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// RFC 6121 §3 (subscriptions) and §4 (presence): broadcast, probes, directed presence,
/// subscription requests and answers in both directions, unavailable presence at session end.
public struct PresenceModule: ServerModule {
    public let name = "presence"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        // §3.4: the server keeps pre-approvals, so clients may send them.
        registrar.addStreamFeature { Element(name: "sub", namespace: XMPPNamespace.preApproval) }
        registrar.onOutbound(.presence) { stanza, session in
            await Self.outbound(stanza, session: session, context: context)
        }
        registrar.onInbound(.presence) { stanza, account in
            await Self.inbound(stanza, account: account, context: context)
        }
        registrar.onEvent { event in
            switch event {
            case .sessionEnded(let session, let presence):
                await Self.sessionEnded(session, presence: presence, context: context)
            case .accountDeleting(let account):
                await Self.endSubscriptions(of: account, context: context)
            default:
                break
            }
        }
    }

    static let subscriptionTypes: Set<String> = ["subscribe", "unsubscribe", "subscribed", "unsubscribed"]

    // MARK: - From the user's own clients

    static func outbound(_ stanza: Element, session: ClientSession, context: ModuleContext) async -> HookResult {
        let type = stanza.stanzaType
        if let type, Self.subscriptionTypes.contains(type) {
            guard let contact = stanza.to?.bare else { return .handled }
            return await self.outboundSubscription(stanza, type: type, account: session.jid.bare, contact: contact, context: context)
        }
        if type == "probe" { return .handled }
        if let to = stanza.to {
            // Directed presence (§4.6): remembered so the peer hears when this session goes away.
            if type == nil || type == "unavailable" {
                context.sessions.updatePresence(of: session) { presence in
                    if type == nil && presence.available { presence.directedTo.insert(to) } else { presence.directedTo.remove(to) }
                }
            }
            return .continue(stanza)
        }
        switch type {
        case nil:
            await self.broadcastAvailable(stanza, session: session, context: context)
        case "unavailable":
            await self.broadcastUnavailable(stanza, session: session, context: context)
        default:
            break
        }
        return .handled
    }

    private static func priority(of stanza: Element) -> Int {
        guard let text = stanza.child(named: "priority", namespace: XMPPNamespace.client)?.text,
            let value = Int(text.trimmingCharacters(in: .whitespaces))
        else { return 0 }
        return min(max(value, -128), 127)
    }

    /// §4.2 and §4.4: initial or updated available presence.
    private static func broadcastAvailable(_ stanza: Element, session: ClientSession, context: ModuleContext) async {
        let account = session.jid.bare
        guard
            let change = context.sessions.updatePresence(of: session, { presence in
                presence.available = true
                presence.priority = self.priority(of: stanza)
                presence.lastPresence = stanza
                presence.initialPresenceDone = true
            })
        else { return }
        let records = (try? await context.storage.rosters.allRecords(of: account)) ?? []
        for item in records where item.state.from {
            await context.route(self.addressed(stanza, to: item.jid))
        }
        self.deliverToOwnResources(stanza, account: account, sender: session, context: context)
        guard !change.before.initialPresenceDone else { return }

        // Initial presence: the new resource learns about the account's other available ones …
        for (other, presence) in context.sessions.sessions(of: account) where other !== session && presence.available {
            if var last = presence.lastPresence {
                last[attribute: "from"] = other.jid.description
                session.deliver(self.addressed(last, to: session.jid))
            }
        }
        // … probes the contacts we are subscribed to (§4.2.1) …
        for item in records where item.state.to {
            await context.route(RosterModule.presence("probe", from: account, to: item.jid))
        }
        // … deliver subscription requests that arrived while we were away (§3.1.3) …
        for item in records where item.state.pendingIn {
            if let text = item.pendingRequest, var request = Element.parse(text) {
                request[attribute: "to"] = account.description
                session.deliver(request)
            }
        }
        // … and let other modules (offline messages) know.
        await context.emit(.initialPresence(session))
    }

    private static func broadcastUnavailable(_ stanza: Element, session: ClientSession, context: ModuleContext) async {
        guard
            let change = context.sessions.updatePresence(of: session, { presence in
                presence.available = false
                presence.lastPresence = nil
                presence.directedTo = []
            }), change.before.available
        else { return }
        await self.announceUnavailable(stanza, from: session, directedTo: change.before.directedTo, context: context)
    }

    static func sessionEnded(_ session: ClientSession, presence: SessionPresence, context: ModuleContext) async {
        let account = session.jid.bare
        if presence.available {
            var unavailable = Element("presence", namespace: XMPPNamespace.client, attributes: [("type", "unavailable")])
            unavailable[attribute: "from"] = session.jid.description
            // The ended session is not told: it is gone, and a new one may hold its full JID.
            await self.announceUnavailable(unavailable, from: session, directedTo: presence.directedTo, ended: true, context: context)
        }
        if !context.sessions.sessions(of: account).contains(where: { $0.1.available }) {
            let stamp = String(Int(Date().timeIntervalSince1970))
            try? await context.storage.accountData.setValue(stamp + "\n", for: account, key: AccountDataKey.lastLogout)
        }
    }

    private static func announceUnavailable(
        _ stanza: Element, from session: ClientSession, directedTo: Set<JID>, ended: Bool = false, context: ModuleContext
    ) async {
        let account = session.jid.bare
        let records = (try? await context.storage.rosters.allRecords(of: account)) ?? []
        var told = Set<JID>()
        for item in records where item.state.from {
            told.insert(item.jid)
            await context.route(self.addressed(stanza, to: item.jid))
        }
        for peer in directedTo where !told.contains(peer.bare) {
            await context.route(self.addressed(stanza, to: peer))
        }
        self.deliverToOwnResources(stanza, account: account, sender: ended ? nil : session, context: context)
    }

    /// Sends the last presence of each available session of the account; false when there is none.
    @discardableResult
    private static func sendCurrentPresence(of account: JID, to peer: JID, context: ModuleContext) async -> Bool {
        var sent = false
        for (session, presence) in context.sessions.sessions(of: account) where presence.available {
            guard var last = presence.lastPresence else { continue }
            last[attribute: "from"] = session.jid.description
            await context.route(self.addressed(last, to: peer))
            sent = true
        }
        return sent
    }

    /// The account is about to be deleted (XEP-0077 §3.2): each contact is told as if the user
    /// had cancelled every subscription both ways (§3.2, §3.3). A contact that was receiving the
    /// user's presence hears each available resource go; local contacts' roster items follow
    /// through their inbound processing and are pushed.
    static func endSubscriptions(of account: JID, context: ModuleContext) async {
        let records = (try? await context.storage.rosters.allRecords(of: account)) ?? []
        for item in records {
            if item.state.from || item.state.pendingIn {
                await context.route(RosterModule.presence("unsubscribed", from: account, to: item.jid))
            }
            if item.state.from {
                await self.sendUnavailable(of: account, to: item.jid, context: context)
            }
            if item.state.to || item.state.pendingOut {
                await context.route(RosterModule.presence("unsubscribe", from: account, to: item.jid))
            }
        }
    }

    /// Unavailable presence from each available resource of the account, for a contact that
    /// stops receiving its presence (§3.2.2, §3.3.3).
    static func sendUnavailable(of account: JID, to contact: JID, context: ModuleContext) async {
        for (session, presence) in context.sessions.sessions(of: account) where presence.available {
            await context.route(RosterModule.presence("unavailable", from: session.jid, to: contact))
        }
    }

    /// The account's available resources and the sender itself (§4.2.2, §4.5.2). Another session
    /// that took the sender's full JID (a reconnect replacing it) is not the sender.
    private static func deliverToOwnResources(_ stanza: Element, account: JID, sender: ClientSession?, context: ModuleContext) {
        let senderJID = stanza[attribute: "from"]
        for (other, presence) in context.sessions.sessions(of: account)
        where other === sender || (presence.available && other.jid.description != senderJID) {
            other.deliver(self.addressed(stanza, to: other.jid))
        }
    }

    private static func addressed(_ stanza: Element, to: JID) -> Element {
        var copy = stanza
        copy[attribute: "to"] = to.description
        return copy
    }

    // MARK: - Subscriptions sent by the user (§3, Appendix A.2)

    private static func outboundSubscription(_ stanza: Element, type: String, account: JID, contact: JID, context: ModuleContext) async -> HookResult {
        guard contact != account else { return .handled }
        let store = context.storage.rosters
        var item = (try? await store.item(of: account, contact: contact)) ?? RosterItem(jid: contact, inRoster: false)
        let outcome: SubscriptionState.Outcome
        switch type {
        case "subscribe": outcome = item.state.outboundSubscribe()
        case "unsubscribe": outcome = item.state.outboundUnsubscribe()
        case "subscribed": outcome = item.state.outboundSubscribed()
        default: outcome = item.state.outboundUnsubscribed()
        }
        // The request is routed with the bare JID as sender (§3.1.2).
        var routed = stanza
        routed[attribute: "from"] = account.description
        routed[attribute: "to"] = contact.description
        // A request (§3.1.2), an approval (§3.1.5) and a pre-approval (§3.4.2) all leave the
        // contact in the roster, pushed: a pre-approval kept off the roster could be neither
        // seen nor removed, yet it lets the contact subscribe and receive presence.
        let joinsRoster = type == "subscribe" || type == "subscribed"
        if outcome.changed || (joinsRoster && !item.inRoster) {
            item.state = outcome.state
            if joinsRoster { item.inRoster = true }
            if !outcome.state.pendingIn { item.pendingRequest = nil }
            if let version = try? await store.setItem(item, of: account), item.inRoster {
                RosterXML.push(RosterXML.element(item), version: version, account: account, context: context)
            }
        }
        guard outcome.route else { return .handled }
        await context.route(routed)
        switch type {
        case "subscribed":
            // §3.1.5: the new subscriber gets the user's current presence from each available resource.
            await self.sendCurrentPresence(of: account, to: contact, context: context)
        case "unsubscribed":
            // §3.2.2: and a former subscriber is told the user is gone.
            await self.sendUnavailable(of: account, to: contact, context: context)
        default:
            break
        }
        return .handled
    }

    // MARK: - Presence arriving for the user (§3, Appendix A.3, §4.3)

    static func inbound(_ stanza: Element, account: JID, context: ModuleContext) async -> HookResult {
        guard let from = stanza.from else { return .handled }
        let type = stanza.stanzaType
        if let type, Self.subscriptionTypes.contains(type) {
            await self.inboundSubscription(stanza, type: type, account: account, contact: from.bare, context: context)
            return .handled
        }
        if type == "probe" {
            await self.answerProbe(from: from, account: account, context: context)
            return .handled
        }
        return .continue(stanza)
    }

    private static func inboundSubscription(_ stanza: Element, type: String, account: JID, contact: JID, context: ModuleContext) async {
        guard (try? await context.storage.accounts.accountExists(account)) == true else {
            // No such user: a request gets `unsubscribed` back (§3.1.3), anything else is dropped.
            if type == "subscribe" { await context.route(RosterModule.presence("unsubscribed", from: account, to: contact)) }
            return
        }
        let store = context.storage.rosters
        var item = (try? await store.item(of: account, contact: contact)) ?? RosterItem(jid: contact, inRoster: false)
        let outcome: SubscriptionState.InboundOutcome
        switch type {
        case "subscribe": outcome = item.state.inboundSubscribe()
        case "unsubscribe": outcome = item.state.inboundUnsubscribe()
        case "subscribed": outcome = item.state.inboundSubscribed()
        default: outcome = item.state.inboundUnsubscribed()
        }
        var delivered = stanza
        delivered[attribute: "from"] = contact.description
        delivered[attribute: "to"] = account.description
        // An invitation's token (XEP-0379) is never stored or passed on, accepted or not.
        delivered.removeChildren { $0.name == "preauth" && $0.namespace == InvitationsModule.preauthNamespace }
        if outcome.changed {
            item.state = outcome.state
            item.pendingRequest = outcome.state.pendingIn ? delivered.storedText : nil
            if let version = try? await store.setItem(item, of: account), item.inRoster {
                RosterXML.push(RosterXML.element(item), version: version, account: account, context: context)
            }
        }
        if outcome.autoReplySubscribed {
            await context.route(RosterModule.presence("subscribed", from: account, to: contact))
            await self.sendCurrentPresence(of: account, to: contact, context: context)
        }
        if type == "subscribe", outcome.state.pendingIn, await InvitationsModule.acceptsContact(stanza, account: account, context: context) {
            // XEP-0379 §3: the invitation stands for the user's approval, and its holder is
            // asked back, so the two end up subscribed both ways without a prompt.
            let approval = RosterModule.presence("subscribed", from: account, to: contact)
            _ = await self.outboundSubscription(approval, type: "subscribed", account: account, contact: contact, context: context)
            let request = RosterModule.presence("subscribe", from: account, to: contact)
            _ = await self.outboundSubscription(request, type: "subscribe", account: account, contact: contact, context: context)
            return
        }
        if outcome.deliver {
            for (session, presence) in context.sessions.sessions(of: account) where presence.available {
                session.deliver(delivered)
            }
        }
        if type == "unsubscribe" && outcome.changed {
            // §3.3.3: the former subscriber stops seeing the user.
            await self.sendUnavailable(of: account, to: contact, context: context)
        }
    }

    /// §4.3.2: a subscriber gets the current presence of each available resource, or the last
    /// unavailable presence with its time; anyone else, and a prober asking about an account
    /// that does not exist, gets `unsubscribed`, which ends the prober's stale subscription.
    private static func answerProbe(from prober: JID, account: JID, context: ModuleContext) async {
        guard let item = try? await context.storage.rosters.item(of: account, contact: prober.bare), item.state.from else {
            await context.route(RosterModule.presence("unsubscribed", from: account, to: prober.bare))
            return
        }
        guard await !self.sendCurrentPresence(of: account, to: prober, context: context) else { return }
        var unavailable = RosterModule.presence("unavailable", from: account, to: prober)
        if let record = try? await context.storage.accountData.value(for: account, key: AccountDataKey.lastLogout),
            let seconds = record.split(separator: "\n").first.flatMap({ TimeInterval($0) })
        {
            unavailable.append(Element("delay", namespace: XMPPNamespace.delay, attributes: [("stamp", XMPPDateTime.string(Date(timeIntervalSince1970: seconds))), ("from", account.description)]))
        }
        await context.route(unavailable)
    }
}

/// XEP-0082 date-time profiles.
public enum XMPPDateTime {
    public static func string(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// A date-time with or without fractional seconds; nil when it is not one.
    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
