import Foundation
import XMPPCore

/// XEP-0045 §8 (moderator) and §9 (admin) through `muc#admin`: roles and affiliations.
extension Room {
    func adminGet(_ stanza: Element, query: Element, from: JID) -> [RoomAction] {
        guard let item = query.child(named: "item") else { return self.error(stanza, StanzaError(.badRequest, text: "say which list: an item with a role or an affiliation")) }
        let requester = self.occupant(for: from)
        let affiliation = self.record.affiliation(of: from)
        var result = Element("query", namespace: MUCNamespace.admin)
        if let roleName = item[attribute: "role"] {
            guard let role = MUCRole(rawValue: roleName), role != .none else { return self.error(stanza, StanzaError(.badRequest, text: "unknown role \(roleName)")) }
            guard requester?.role == .moderator else { return self.error(stanza, StanzaError(.forbidden, text: "only moderators may list roles")) }
            for occupant in self.occupants.values.sorted(by: { $0.nick < $1.nick }) where occupant.role == role {
                result.append(Element("item", namespace: MUCNamespace.admin, attributes: [
                    ("affiliation", self.record.affiliation(of: occupant.bareJID).rawValue), ("jid", occupant.bareJID.description), ("nick", occupant.nick), ("role", role.rawValue),
                ]))
            }
            return [.send(stanza.iqResult(payload: result))]
        }
        guard let name = item[attribute: "affiliation"], let wanted = MUCAffiliation(rawValue: name), wanted != .none else {
            return self.error(stanza, StanzaError(.badRequest, text: "unknown affiliation \(item[attribute: "affiliation"] ?? "")"))
        }
        // Members may see the member list of a members-only room (§9.5 leaves it to the room); admins see every list.
        let allowed = affiliation >= .admin || (wanted == .member && self.configuration.membersOnly && affiliation == .member)
        guard allowed else { return self.error(stanza, StanzaError(.forbidden, text: "only admins may list affiliations")) }
        for (jid, entry) in self.record.affiliations.sorted(by: { $0.key < $1.key }) where entry.affiliation == wanted {
            var element = Element("item", namespace: MUCNamespace.admin, attributes: [("affiliation", wanted.rawValue), ("jid", jid)])
            if let nick = entry.nick { element[attribute: "nick"] = nick }
            if let reason = entry.reason { element.append(Element("reason", namespace: MUCNamespace.admin, text: reason)) }
            result.append(element)
        }
        return [.send(stanza.iqResult(payload: result))]
    }

    /// Every item of the request is checked before any is applied, so a list either changes
    /// as a whole or not at all (§9.5).
    mutating func adminSet(_ stanza: Element, query: Element, from: JID) -> [RoomAction] {
        let items = query.children(named: "item")
        guard !items.isEmpty else { return self.error(stanza, StanzaError(.badRequest, text: "no item to change")) }
        let actor = self.occupant(for: from)
        let actorAffiliation = self.record.affiliation(of: from)
        enum Change {
            case role(Occupant, MUCRole, String?)
            case affiliation(JID, MUCAffiliation, String?)
        }
        var changes: [Change] = []
        for item in items {
            let reason = item.child(named: "reason")?.text
            if let roleName = item[attribute: "role"] {
                guard let role = MUCRole(rawValue: roleName) else { return self.error(stanza, StanzaError(.badRequest, text: "unknown role \(roleName)")) }
                guard let nick = item[attribute: "nick"] else { return self.error(stanza, StanzaError(.badRequest, text: "a role change names an occupant by nick")) }
                guard let target = self.occupants[nick] else { return self.error(stanza, StanzaError(.itemNotFound, text: "no occupant named \(nick)")) }
                guard let actor, actor.role == .moderator else { return self.error(stanza, StanzaError(.forbidden, text: "only moderators may change roles")) }
                if let refusal = self.refusal(roleChangeOf: target, to: role, byAffiliation: actorAffiliation) { return self.error(stanza, refusal) }
                changes.append(.role(target, role, reason))
            } else if let name = item[attribute: "affiliation"] {
                guard let affiliation = MUCAffiliation(rawValue: name) else { return self.error(stanza, StanzaError(.badRequest, text: "unknown affiliation \(name)")) }
                let jid: JID
                if let text = item[attribute: "jid"] {
                    guard let parsed = try? JID(text) else { return self.error(stanza, StanzaError(.jidMalformed)) }
                    jid = parsed.bare
                } else if let nick = item[attribute: "nick"], let target = self.occupants[nick] {
                    jid = target.bareJID
                } else {
                    return self.error(stanza, StanzaError(.badRequest, text: "an affiliation change names a JID"))
                }
                let current = self.record.affiliation(of: jid)
                // §9: admins manage members and outcasts below admin; owners manage everything.
                let mayChange = actorAffiliation == .owner || (actorAffiliation == .admin && current < .admin && affiliation < .admin)
                guard mayChange else { return self.error(stanza, StanzaError(.notAllowed, text: "you may not change that affiliation")) }
                changes.append(.affiliation(jid, affiliation, reason))
            } else {
                return self.error(stanza, StanzaError(.badRequest, text: "an item needs a role or an affiliation"))
            }
        }
        // §10.5: a room keeps at least one owner.
        var owners = Set(self.record.jids(with: .owner))
        for case .affiliation(let jid, let affiliation, _) in changes {
            if affiliation == .owner { owners.insert(jid) } else { owners.remove(jid) }
        }
        if owners.isEmpty { return self.error(stanza, StanzaError(.conflict, text: "a room needs an owner")) }

        var actions: [RoomAction] = [.send(stanza.iqResult())]
        for change in changes {
            switch change {
            case .role(let target, let role, let reason):
                guard let current = self.occupants[target.nick], let actor else { continue }
                actions += self.setRole(of: current, to: role, by: actor, reason: reason)
            case .affiliation(let jid, let affiliation, let reason):
                actions += self.setAffiliation(of: jid, to: affiliation, reason: reason, actorNick: actor?.nick)
            }
        }
        return actions
    }

    /// Why a moderator may not give `target` this role (§8.2–§8.5, §9.6), if so.
    private func refusal(roleChangeOf target: Occupant, to role: MUCRole, byAffiliation actor: MUCAffiliation) -> StanzaError? {
        let targetAffiliation = self.record.affiliation(of: target.bareJID)
        switch role {
        case .none, .visitor:
            // Nobody kicks or silences someone of equal or higher standing among admins and owners.
            if targetAffiliation >= .admin { return StanzaError(.notAllowed, text: "admins and owners cannot be kicked or silenced") }
        case .moderator:
            if actor < .admin { return StanzaError(.notAllowed, text: "only admins may grant moderator") }
        case .participant:
            if target.role == .moderator, actor < .admin { return StanzaError(.notAllowed, text: "only admins may revoke moderator") }
            if target.role == .moderator, targetAffiliation >= .admin { return StanzaError(.notAllowed, text: "admins and owners stay moderators") }
        }
        return nil
    }

    mutating func setRole(of target: Occupant, to role: MUCRole, by actor: Occupant, reason: String?) -> [RoomAction] {
        let details = ItemDetails(reason: reason, actorNick: actor.nick)
        if role == .none {
            return self.remove(target, statuses: [307], item: details) + self.closeIfDeserted()
        }
        var changed = target
        changed.role = role
        self.insert(changed)
        return self.broadcastPresence(of: changed, except: [], selfCodes: [110], item: details)
    }

    /// Records the affiliation and carries out what it means for anyone in the room (§9.1,
    /// §9.3, §9.4, §10.6): a ban or lost membership removes them, other changes are
    /// announced with the new role; someone not in the room is told by message (101).
    mutating func setAffiliation(of jid: JID, to affiliation: MUCAffiliation, reason: String?, actorNick: String?) -> [RoomAction] {
        let key = jid.bare.description
        let nick = self.record.affiliations[key]?.nick
        if affiliation == .none {
            self.record.affiliations[key] = nil
        } else {
            self.record.affiliations[key] = RoomRecord.Affiliation(affiliation: affiliation, reason: reason, nick: affiliation >= .member ? nick : nil)
        }
        var actions: [RoomAction] = [.save]
        let present = self.occupants.values.filter { $0.bareJID == jid.bare }
        let details = ItemDetails(reason: reason, actorNick: actorNick)
        if present.isEmpty {
            var item = Element("item", namespace: MUCNamespace.user, attributes: [("affiliation", affiliation.rawValue), ("jid", key)])
            if let reason { item.append(Element("reason", namespace: MUCNamespace.user, text: reason)) }
            actions.append(.send(Element("message", namespace: XMPPNamespace.client, attributes: [("from", self.jid.description), ("to", key)], children: [
                Element("x", namespace: MUCNamespace.user, children: [item, .status(101)])
            ])))
            return actions
        }
        for occupant in present {
            if affiliation == .outcast {
                actions += self.remove(occupant, statuses: [301], item: details)
            } else if self.configuration.membersOnly, affiliation < .member {
                actions += self.remove(occupant, statuses: [321], item: details)
            } else {
                var changed = occupant
                changed.role = self.defaultRole(for: affiliation)
                // A participant made a member keeps voice they were given; admins become moderators.
                if affiliation < .admin, occupant.role > changed.role, occupant.role != .moderator { changed.role = occupant.role }
                self.insert(changed)
                actions += self.broadcastPresence(of: changed, except: [], selfCodes: [110], item: details)
            }
        }
        return actions + self.closeIfDeserted()
    }
}
