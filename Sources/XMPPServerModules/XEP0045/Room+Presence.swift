import Foundation
import XMPPCore

/// XEP-0045 §7.2–§7.4 and §7.14: entering, changing nickname or status, and leaving.
extension Room {
    /// How someone asks to enter: the `<x xmlns='…muc'/>` of the presence, if any.
    struct JoinRequest {
        var password: String?
        var history: HistoryRequest
        var requestedNick: String

        init(_ stanza: Element, nick: String) {
            let x = stanza.child(named: "x", namespace: MUCNamespace.muc)
            self.password = x?.child(named: "password")?.text
            self.history = HistoryRequest(x?.child(named: "history"))
            // The nickname as written, to tell the client when preparing it changed it (210).
            let raw = stanza[attribute: "to"] ?? ""
            self.requestedNick = raw.firstIndex(of: "/").map { String(raw[raw.index(after: $0)...]) } ?? nick
        }
    }

    /// A `<history/>` request (§7.2.15); absent limits are nil.
    struct HistoryRequest: Hashable {
        var maxChars: Int?
        var maxStanzas: Int?
        var seconds: Int?
        var since: Date?

        init(_ element: Element?) {
            guard let element else { return }
            self.maxChars = element[attribute: "maxchars"].flatMap { Int($0) }.map { max(0, $0) }
            self.maxStanzas = element[attribute: "maxstanzas"].flatMap { Int($0) }.map { max(0, $0) }
            self.seconds = element[attribute: "seconds"].flatMap { Int($0) }.map { max(0, $0) }
            self.since = element[attribute: "since"].flatMap(XMPPDateTime.parse)
        }

        /// The newest entries that fit every limit, oldest first.
        func select(_ history: [HistoryEntry], now: Date) -> [HistoryEntry] {
            var selected: [HistoryEntry] = []
            var characters = 0
            for entry in history.reversed() {
                if let maxStanzas, selected.count >= maxStanzas { break }
                if let seconds, entry.stamp < now.addingTimeInterval(-Double(seconds)) { break }
                if let since, entry.stamp <= since { break }
                if let maxChars {
                    characters += entry.characters
                    if characters > maxChars { break }
                }
                selected.append(entry)
            }
            return selected.reversed()
        }
    }

    mutating func receivePresence(_ stanza: Element, from: JID, nick: String?, clock: Clock) -> [RoomAction] {
        switch stanza.stanzaType {
        case "error":
            // A client that bounces the room's presence is gone (a "ghost"): take it out.
            guard let occupant = self.occupant(for: from) else { return [] }
            return self.leave(session: from, of: occupant, statuses: [333], presence: nil) + self.closeIfDeserted()
        case "unavailable":
            guard let occupant = self.occupant(for: from) else { return [] }
            return self.leave(session: from, of: occupant, statuses: [], presence: stanza) + self.closeIfDeserted()
        case nil:
            break
        default:
            // Subscriptions and probes mean nothing to a room.
            return []
        }
        guard let nick else { return self.error(stanza, StanzaError(.jidMalformed, text: "enter a room as room@service/nickname")) }
        if let occupant = self.occupant(for: from) {
            if occupant.nick == nick { return self.updatePresence(stanza, session: from, of: occupant) }
            return self.changeNick(stanza, session: from, of: occupant, to: nick)
        }
        return self.join(stanza, from: from, nick: nick, clock: clock)
    }

    // MARK: - Entering

    private mutating func join(_ stanza: Element, from: JID, nick: String, clock: Clock) -> [RoomAction] {
        let request = JoinRequest(stanza, nick: nick)
        let affiliation = self.record.affiliation(of: from)
        if self.locked, affiliation != .owner {
            return self.error(stanza, StanzaError(.itemNotFound, text: "the room is being set up by its owner"))
        }
        if affiliation == .outcast {
            let reason = self.record.affiliations[from.bare.description]?.reason
            return self.error(stanza, StanzaError(.forbidden, text: reason.map { "you are banned from this room: \($0)" } ?? "you are banned from this room"))
        }
        if self.configuration.membersOnly, affiliation < .member {
            return self.error(stanza, StanzaError(.registrationRequired, text: "only members may enter this room"))
        }
        if let password = self.configuration.password, request.password != password {
            return self.error(stanza, StanzaError(.notAuthorized, text: request.password == nil ? "this room needs a password" : "wrong password"))
        }
        if let holder = self.occupants[nick], holder.bareJID != from.bare {
            return self.error(stanza, StanzaError(.conflict, text: "that nickname is in use"))
        }
        if self.isReserved(nick, byOtherThan: from) {
            return self.error(stanza, StanzaError(.conflict, text: "that nickname is registered by someone else"))
        }
        let capacity = min(self.configuration.maxOccupants ?? Int.max, self.limits.maxOccupants)
        if self.occupants[nick] == nil, self.occupants.count >= capacity, affiliation < .admin {
            return self.error(stanza, StanzaError(.serviceUnavailable, text: "the room is full"))
        }

        var codes = [110]
        if self.configuration.whois == .anyone { codes.append(100) }
        if self.configuration.archived { codes.append(170) }
        if self.isNew { codes.append(201) }
        if !request.requestedNick.unicodeScalars.elementsEqual(nick.unicodeScalars) { codes.append(210) }
        self.isNew = false

        let presence = Self.cleaned(stanza)
        var actions: [RoomAction] = []
        if var existing = self.occupants[nick] {
            // Another client of the same person under the same nickname.
            existing.sessions.append(from)
            existing.presences[from] = presence
            self.insert(existing)
            actions += self.presenceBurst(to: from, viewer: existing)
            actions += self.broadcastPresence(of: existing, except: [from])
            actions.append(.send(self.presence(of: existing, to: from, viewer: existing, codes: codes, id: stanza.id)))
        } else {
            let occupant = Occupant(
                nick: nick, bareJID: from.bare, sessions: [from], presences: [from: presence], role: self.defaultRole(for: affiliation),
                occupantID: self.occupantID(for: from))
            actions += self.presenceBurst(to: from, viewer: occupant)
            self.insert(occupant)
            actions += self.broadcastPresence(of: occupant, except: [from])
            actions.append(.send(self.presence(of: occupant, to: from, viewer: occupant, codes: codes, id: stanza.id)))
        }
        for entry in request.history.select(self.history, now: clock.now) {
            var message = entry.message
            message[attribute: "to"] = from.description
            message.append(Element("delay", namespace: XMPPNamespace.delay, attributes: [("from", self.jid.description), ("stamp", XMPPDateTime.string(entry.stamp))]))
            actions.append(.send(message))
        }
        actions.append(.send(self.subjectMessage(to: from)))
        return actions
    }

    func isReserved(_ nick: String, byOtherThan jid: JID) -> Bool {
        self.record.affiliations.contains { $0.value.nick == nick && $0.key != jid.bare.description }
    }

    /// The occupants a newcomer is told about (§7.2.3), moderators first when the service
    /// caps the burst.
    private func presenceBurst(to session: JID, viewer: Occupant) -> [RoomAction] {
        var others = self.occupants.values.filter { $0.nick != viewer.nick && self.broadcastsPresence(of: $0) }
        if self.limits.presenceBurst > 0, others.count > self.limits.presenceBurst {
            others.sort { ($0.role, $1.nick) > ($1.role, $0.nick) }
            others = Array(others.prefix(self.limits.presenceBurst))
        }
        return others.sorted { $0.nick < $1.nick }.map { .send(self.presence(of: $0, to: session, viewer: viewer)) }
    }

    func subjectMessage(to session: JID) -> Element {
        let from = self.record.subjectBy.map { self.occupantJID($0) } ?? self.jid
        return Element("message", namespace: XMPPNamespace.client, attributes: [("from", from.description), ("to", session.description), ("type", "groupchat")], children: [
            Element("subject", namespace: XMPPNamespace.client, text: self.record.subject.isEmpty ? nil : self.record.subject)
        ])
    }

    // MARK: - Changes

    private mutating func updatePresence(_ stanza: Element, session: JID, of occupant: Occupant) -> [RoomAction] {
        var occupant = occupant
        occupant.presences[session] = Self.cleaned(stanza)
        // The newest presence is the one shown.
        occupant.sessions.removeAll { $0 == session }
        occupant.sessions.append(session)
        self.insert(occupant)
        return self.broadcastPresence(of: occupant, except: [], selfCodes: [110])
    }

    private mutating func changeNick(_ stanza: Element, session: JID, of occupant: Occupant, to nick: String) -> [RoomAction] {
        if let holder = self.occupants[nick], holder.bareJID != occupant.bareJID {
            return self.error(stanza, StanzaError(.conflict, text: "that nickname is in use"))
        }
        if self.isReserved(nick, byOtherThan: occupant.bareJID) {
            return self.error(stanza, StanzaError(.conflict, text: "that nickname is registered by someone else"))
        }
        if self.occupants[nick] != nil {
            // Joining the nickname one's other client uses is not a change the room can show.
            return self.error(stanza, StanzaError(.notAcceptable, text: "leave the room before taking the nickname your other client uses"))
        }
        // §7.6: unavailable from the old nickname with 303 and the new one, then available from the new.
        var actions: [RoomAction] = []
        let announce = self.broadcastsPresence(of: occupant)
        for (recipient, viewer) in self.allSessions where announce || viewer.nick == occupant.nick {
            let own = viewer.nick == occupant.nick
            actions.append(.send(self.presence(of: occupant, to: recipient, viewer: viewer, type: "unavailable", codes: own ? [303, 110] : [303], newNick: nick)))
        }
        var renamed = occupant
        renamed.nick = nick
        renamed.presences[session] = Self.cleaned(stanza)
        self.removeOccupant(occupant.nick)
        self.insert(renamed)
        // §7.6: 210 when the service changed the nickname as written (preparation).
        let written = JoinRequest(stanza, nick: nick).requestedNick
        let modified = !written.unicodeScalars.elementsEqual(nick.unicodeScalars)
        actions += self.broadcastPresence(of: renamed, except: [], selfCodes: modified ? [110, 210] : [110])
        return actions
    }

    /// Takes one of an occupant's sessions out; the occupant leaves with its last session.
    mutating func leave(session: JID, of occupant: Occupant, statuses: [Int], presence: Element?, item: ItemDetails = ItemDetails()) -> [RoomAction] {
        var actions: [RoomAction] = []
        let gone = occupant.sessions == [session]
        let shown = Self.cleaned(presence ?? Element("presence", namespace: XMPPNamespace.client))
        var departing = occupant
        departing.presences[session] = shown
        departing.sessions = [session]
        if gone {
            departing.role = .none
            let announce = self.broadcastsPresence(of: occupant)
            for (recipient, viewer) in self.allSessions where announce || recipient == session {
                let codes = recipient == session ? statuses + [110] : statuses
                actions.append(.send(self.presence(of: departing, to: recipient, viewer: viewer, type: "unavailable", codes: codes, item: item)))
            }
            self.removeOccupant(occupant.nick)
        } else {
            actions.append(.send(self.presence(of: departing, to: session, viewer: occupant, type: "unavailable", codes: statuses + [110], item: item)))
            self.removeSession(session, of: occupant.nick)
        }
        return actions
    }

    /// Takes every session of an occupant out (kick, ban, lost membership).
    mutating func remove(_ occupant: Occupant, statuses: [Int], item: ItemDetails) -> [RoomAction] {
        var actions: [RoomAction] = []
        var remaining = occupant
        for session in occupant.sessions.dropLast() {
            actions += self.leave(session: session, of: remaining, statuses: statuses, presence: nil, item: item)
            remaining.sessions.removeAll { $0 == session }
        }
        if let last = occupant.sessions.last {
            actions += self.leave(session: last, of: remaining, statuses: statuses, presence: nil, item: item)
        }
        return actions
    }

    /// The service stops (§15 status 332): every session hears that it is out of the room.
    mutating func shutDown() -> [RoomAction] {
        var actions: [RoomAction] = []
        for (session, occupant) in self.allSessions {
            var departing = occupant
            departing.role = .none
            actions.append(.send(self.presence(of: departing, to: session, viewer: occupant, type: "unavailable", codes: [332, 110])))
        }
        for nick in Array(self.occupants.keys) { self.removeOccupant(nick) }
        return actions
    }

    /// A temporary room goes when its last occupant leaves (§10.9: "destroyed when empty").
    mutating func closeIfDeserted() -> [RoomAction] {
        guard self.occupants.isEmpty, !self.configuration.persistent else { return [] }
        return [.destroyed]
    }

    // MARK: - Building presence

    /// Extra details of the `<item/>` in an occupant's presence.
    struct ItemDetails: Hashable {
        var reason: String?
        var actorNick: String?
    }

    /// The occupant's presence to every session in the room (that may see it); the occupant's
    /// own sessions get `selfCodes` too.
    func broadcastPresence(of occupant: Occupant, except: Set<JID>, selfCodes: [Int] = [110], item: ItemDetails = ItemDetails()) -> [RoomAction] {
        let announce = self.broadcastsPresence(of: occupant)
        var actions: [RoomAction] = []
        // Others see one of two presences (with or without the real JID): built once each and
        // copied per recipient, so the copies share their children and are serialized once.
        var variants: [Bool: Element] = [:]
        for (recipient, viewer) in self.allSessions where !except.contains(recipient) {
            let own = viewer.nick == occupant.nick
            guard announce || own else { continue }
            if own {
                actions.append(.send(self.presence(of: occupant, to: recipient, viewer: viewer, codes: selfCodes, item: item)))
                continue
            }
            let reveal = self.revealsJIDs(to: viewer)
            let template = variants[reveal] ?? self.presence(of: occupant, to: recipient, viewer: viewer, item: item)
            variants[reveal] = template
            var copy = template
            copy[attribute: "to"] = recipient.description
            actions.append(.send(copy))
        }
        return actions
    }

    /// An occupant's presence as `viewer` sees it (§7.2.3–§7.2.4).
    func presence(
        of occupant: Occupant, to recipient: JID, viewer: Occupant?, type: String? = nil, codes: [Int] = [], newNick: String? = nil,
        item details: ItemDetails = ItemDetails(), id: String? = nil
    ) -> Element {
        var presence = occupant.presence ?? Element("presence", namespace: XMPPNamespace.client)
        presence.attributes = [Attribute(name: "from", value: self.occupantJID(occupant.nick).description), Attribute(name: "to", value: recipient.description)]
        if let type { presence[attribute: "type"] = type }
        if let id, codes.contains(110) { presence[attribute: "id"] = id }
        if type == "unavailable" {
            presence.removeChildren { $0.name != "status" }
        }
        var item = Element("item", namespace: MUCNamespace.user, attributes: [
            ("affiliation", self.record.affiliation(of: occupant.bareJID).rawValue), ("role", type == "unavailable" ? MUCRole.none.rawValue : occupant.role.rawValue),
        ])
        if viewer?.nick == occupant.nick || self.revealsJIDs(to: viewer) {
            let shown = occupant.sessions.last ?? occupant.bareJID
            item[attribute: "jid"] = shown.description
        }
        if let newNick { item[attribute: "nick"] = newNick }
        if let actor = details.actorNick { item.append(Element("actor", namespace: MUCNamespace.user, attributes: [("nick", actor)])) }
        if let reason = details.reason { item.append(Element("reason", namespace: MUCNamespace.user, text: reason)) }
        var x = Element("x", namespace: MUCNamespace.user, children: [item])
        for code in codes { x.append(.status(code)) }
        presence.append(x)
        presence.append(Element("occupant-id", namespace: MUCNamespace.occupantID, attributes: [("id", occupant.occupantID)]))
        return presence
    }

    /// A client's presence without what only the room may say (MUC payloads, occupant ids)
    /// and without addressing.
    static func cleaned(_ stanza: Element) -> Element {
        var presence = Element("presence", namespace: XMPPNamespace.client)
        presence.children = stanza.children
        presence.removeChildren {
            ($0.name == "x" && ($0.namespace == MUCNamespace.muc || $0.namespace == MUCNamespace.user)) || $0.namespace == MUCNamespace.occupantID
        }
        return presence
    }
}
