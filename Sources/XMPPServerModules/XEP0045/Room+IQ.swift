import Foundation
import XMPPCore
import XMPPServer

/// IQs to a room and its occupants: discovery (§6), owner configuration and destruction
/// (§10), registration (§7.10), XEP-0410 self-ping, and IQs between occupants (§7.7).
extension Room {
    static let reservedNickNode = "x-roomuser-item"
    /// IQs relayed between occupants carry the asker's JID in their id, so the answer finds
    /// its way back without the room remembering anything.
    static let relayedIDPrefix = "muc-relay~"

    mutating func receiveIQ(_ stanza: Element, from: JID, nick: String?, clock: Clock) -> [RoomAction] {
        if let nick { return self.occupantIQ(stanza, from: from, nick: nick) }
        guard stanza.stanzaType == "get" || stanza.stanzaType == "set", let payload = stanza.iqPayload else { return [] }
        switch (stanza.stanzaType, payload.namespace) {
        case ("get", XMPPNamespace.discoInfo): return [.send(stanza.iqResult(payload: self.discoInfo(node: payload[attribute: "node"], for: from)))]
        case ("get", XMPPNamespace.discoItems): return [.send(stanza.iqResult(payload: Element("query", namespace: XMPPNamespace.discoItems)))]
        case ("get", XMPPNamespace.ping): return [.send(stanza.iqResult())]
        case ("get", MUCNamespace.admin): return self.adminGet(stanza, query: payload, from: from)
        case ("set", MUCNamespace.admin): return self.adminSet(stanza, query: payload, from: from)
        case ("get", MUCNamespace.owner): return self.ownerGet(stanza, from: from)
        case ("set", MUCNamespace.owner): return self.ownerSet(stanza, query: payload, from: from)
        case ("get", XMPPNamespace.register): return self.registrationForm(stanza, from: from)
        case ("set", XMPPNamespace.register): return self.register(stanza, query: payload, from: from)
        default: return self.error(stanza, StanzaError(.featureNotImplemented))
        }
    }

    // MARK: - Discovery (§6.4)

    func discoInfo(node: String?, for requester: JID) -> Element {
        if node == Self.reservedNickNode {
            // §7.12: the nickname the requester registered, if any.
            let nick = self.record.affiliations[requester.bare.description]?.nick
            return DiscoInfo.result(identities: nick.map { [DiscoIdentity(category: "conference", type: "text", name: $0)] } ?? [], features: [], node: node)
        }
        var features = [MUCNamespace.muc, MUCNamespace.stableID, MUCNamespace.selfPingOptimization, MUCNamespace.request, XMPPNamespace.register,
                        MUCNamespace.occupantID, MessageArchiveModule.stanzaID, MUCNamespace.moderate, MUCNamespace.moderateLegacy,
                        XMPPNamespace.discoInfo, XMPPNamespace.discoItems]
        features += self.configuration.features
        if self.configuration.archived { features.append(MessageArchiveModule.namespace) }
        let name = self.configuration.name.isEmpty ? self.jid.localpart ?? self.jid.description : self.configuration.name
        var result = DiscoInfo.result(identities: [DiscoIdentity(category: "conference", type: "text", name: name)], features: features, node: node)
        result.append(self.configuration.roomInfo(occupants: self.occupants.count, subject: self.record.subject).element)
        return result
    }

    // MARK: - Owner (§10)

    private func ownerGet(_ stanza: Element, from: JID) -> [RoomAction] {
        guard self.record.affiliation(of: from) == .owner else { return self.error(stanza, StanzaError(.forbidden, text: "only owners may configure the room")) }
        let form = self.configuration.form(owners: self.record.jids(with: .owner), admins: self.record.jids(with: .admin), historyLimit: self.limits.maxHistory)
        return [.send(stanza.iqResult(payload: Element("query", namespace: MUCNamespace.owner, children: [form.element])))]
    }

    private mutating func ownerSet(_ stanza: Element, query: Element, from: JID) -> [RoomAction] {
        guard self.record.affiliation(of: from) == .owner else { return self.error(stanza, StanzaError(.forbidden, text: "only owners may configure or destroy the room")) }
        if let destroy = query.child(named: "destroy") {
            return self.destroy(stanza, destroy)
        }
        guard let form = DataForm(in: query) else { return self.error(stanza, StanzaError(.badRequest, text: "send a muc#roomconfig form or a destroy request")) }
        if form.type == "cancel" {
            // §10.1.3: cancelling the first configuration of a locked room destroys it.
            if self.locked, !self.record.configured {
                return [.send(stanza.iqResult())] + self.destroyAll(reason: nil, alternate: nil, password: nil)
            }
            return [.send(stanza.iqResult())]
        }
        guard form.type == "submit" else { return self.error(stanza, StanzaError(.badRequest, text: "the form type must be submit or cancel")) }
        if let type = form.formType, type != RoomConfiguration.formType {
            return self.error(stanza, StanzaError(.badRequest, text: "unknown FORM_TYPE \(type)"))
        }
        let old = self.configuration
        let updated: RoomConfiguration
        do {
            updated = try old.applying(form, historyLimit: self.limits.maxHistory)
        } catch {
            return self.error(stanza, error)
        }
        // Owner and admin lists in the form replace those lists (§10.5, §10.7).
        var affiliationChanges: [(JID, MUCAffiliation)] = []
        for (field, affiliation) in [("muc#roomconfig_roomowners", MUCAffiliation.owner), ("muc#roomconfig_roomadmins", .admin)] where form.contains(field) {
            var wanted = Set<JID>()
            for value in form.values(field) where !value.isEmpty {
                guard let jid = try? JID(value) else { return self.error(stanza, StanzaError(.jidMalformed, text: "\(value) in \(field) is not a JID")) }
                wanted.insert(jid.bare)
            }
            for jid in self.record.jids(with: affiliation) where !wanted.contains(jid) { affiliationChanges.append((jid, .none)) }
            for jid in wanted where self.record.affiliation(of: jid) != affiliation { affiliationChanges.append((jid, affiliation)) }
        }
        var owners = Set(self.record.jids(with: .owner))
        for (jid, affiliation) in affiliationChanges {
            if affiliation == .owner { owners.insert(jid) } else if owners.contains(jid), affiliation == .none { owners.remove(jid) }
        }
        if owners.isEmpty { return self.error(stanza, StanzaError(.conflict, text: "a room needs an owner")) }

        self.record.configuration = updated
        let firstConfiguration = !self.record.configured
        self.record.configured = true
        self.unlock()
        var actions: [RoomAction] = [.send(stanza.iqResult()), .save]
        for (jid, affiliation) in affiliationChanges {
            actions += self.setAffiliation(of: jid, to: affiliation, reason: nil, actorNick: self.occupant(for: from)?.nick)
        }
        if !firstConfiguration {
            let codes = updated.statusCodes(comparedTo: old)
            if !codes.isEmpty {
                var x = Element("x", namespace: MUCNamespace.user)
                for code in codes { x.append(.status(code)) }
                actions += self.toEveryone(Element("message", namespace: XMPPNamespace.client, attributes: [("from", self.jid.description), ("type", "groupchat")], children: [x]))
            }
        }
        // §10.2.1: whoever is not a member leaves a room that became members-only (322).
        if updated.membersOnly, !old.membersOnly {
            for occupant in self.occupants.values.sorted(by: { $0.nick < $1.nick }) where self.record.affiliation(of: occupant.bareJID) < .member {
                actions += self.remove(occupant, statuses: [322], item: ItemDetails())
            }
        }
        // Roles follow a change of moderation: visitors get voice in an unmoderated room.
        if old.moderated != updated.moderated {
            for occupant in self.occupants.values.sorted(by: { $0.nick < $1.nick }) {
                let role = self.defaultRole(for: self.record.affiliation(of: occupant.bareJID))
                guard occupant.role != .moderator, role != occupant.role, !(updated.moderated && occupant.role == .participant) else { continue }
                var changed = occupant
                changed.role = role
                self.insert(changed)
                actions += self.broadcastPresence(of: changed, except: [], selfCodes: [110])
            }
        }
        return actions + self.closeIfDeserted()
    }

    private mutating func destroy(_ stanza: Element, _ destroy: Element) -> [RoomAction] {
        let alternate = destroy[attribute: "jid"].flatMap { try? JID($0) }
        return [.send(stanza.iqResult())]
            + self.destroyAll(reason: destroy.child(named: "reason")?.text, alternate: alternate, password: destroy.child(named: "password")?.text)
    }

    /// §10.9: everyone leaves with the reason and the alternate venue, then the room is gone.
    mutating func destroyAll(reason: String?, alternate: JID?, password: String?) -> [RoomAction] {
        var actions: [RoomAction] = []
        var destroyElement = Element("destroy", namespace: MUCNamespace.user)
        if let alternate { destroyElement[attribute: "jid"] = alternate.description }
        if let reason { destroyElement.append(Element("reason", namespace: MUCNamespace.user, text: reason)) }
        if let password { destroyElement.append(Element("password", namespace: MUCNamespace.user, text: password)) }
        for (recipient, occupant) in self.allSessions {
            let presence = Element("presence", namespace: XMPPNamespace.client, attributes: [
                ("from", self.occupantJID(occupant.nick).description), ("to", recipient.description), ("type", "unavailable"),
            ], children: [
                Element("x", namespace: MUCNamespace.user, children: [
                    Element("item", namespace: MUCNamespace.user, attributes: [("affiliation", "none"), ("role", "none")]), destroyElement, .status(110),
                ])
            ])
            actions.append(.send(presence))
        }
        for nick in Array(self.occupants.keys) { self.removeOccupant(nick) }
        actions.append(.destroyed)
        return actions
    }

    // MARK: - Registration (§7.10)

    private func registrationForm(_ stanza: Element, from: JID) -> [RoomAction] {
        let entry = self.record.affiliations[from.bare.description]
        let affiliation = entry?.affiliation ?? .none
        if affiliation == .outcast { return self.error(stanza, StanzaError(.forbidden, text: "you are banned from this room")) }
        if self.configuration.membersOnly, affiliation < .member { return self.error(stanza, StanzaError(.notAllowed, text: "ask an admin of this room for membership")) }
        if let nick = entry?.nick {
            return [.send(stanza.iqResult(payload: Element("query", namespace: XMPPNamespace.register, children: [
                Element("registered", namespace: XMPPNamespace.register), Element("username", namespace: XMPPNamespace.register, text: nick),
            ])))]
        }
        let form = DataForm(type: "form", title: "Register with the room", formType: MUCNamespace.register, fields: [
            DataForm.Field("muc#register_roomnick", type: "text-single", label: "Nickname")
        ])
        return [.send(stanza.iqResult(payload: Element("query", namespace: XMPPNamespace.register, children: [
            Element("instructions", namespace: XMPPNamespace.register, text: "Choose the nickname reserved for you in this room."), form.element,
        ])))]
    }

    private mutating func register(_ stanza: Element, query: Element, from: JID) -> [RoomAction] {
        let affiliation = self.record.affiliation(of: from)
        if query.child(named: "remove") != nil {
            guard affiliation != .outcast, affiliation != .none else { return self.error(stanza, StanzaError(.itemNotFound, text: "you are not registered")) }
            self.record.affiliations[from.bare.description]?.nick = nil
            return [.send(stanza.iqResult()), .save]
        }
        guard let form = DataForm(in: query), form.type == "submit", let nick = form.value("muc#register_roomnick"), !nick.isEmpty else {
            return self.error(stanza, StanzaError(.badRequest, text: "submit muc#register_roomnick"))
        }
        if affiliation == .outcast { return self.error(stanza, StanzaError(.forbidden, text: "you are banned from this room")) }
        // In a members-only room membership comes from its admins, not from registering.
        if self.configuration.membersOnly, affiliation < .member { return self.error(stanza, StanzaError(.notAllowed, text: "ask an admin of this room for membership")) }
        guard let prepared = try? JID.prepareResourcepart(nick) else { return self.error(stanza, StanzaError(.jidMalformed, text: "that nickname is not valid")) }
        if self.isReserved(prepared, byOtherThan: from) || (self.occupants[prepared].map { $0.bareJID != from.bare } ?? false) {
            return self.error(stanza, StanzaError(.conflict, text: "that nickname is taken"))
        }
        var entry = self.record.affiliations[from.bare.description] ?? RoomRecord.Affiliation(affiliation: .member)
        entry.nick = prepared
        if entry.affiliation < .member { entry.affiliation = .member }
        self.record.affiliations[from.bare.description] = entry
        var actions: [RoomAction] = [.send(stanza.iqResult()), .save]
        // Someone in the room who became a member is shown with the new affiliation.
        for occupant in self.occupants.values where occupant.bareJID == from.bare && affiliation < .member {
            actions += self.broadcastPresence(of: occupant, except: [], selfCodes: [110])
        }
        return actions
    }

    // MARK: - IQs to occupants (§7.7, XEP-0410)

    private func occupantIQ(_ stanza: Element, from: JID, nick: String) -> [RoomAction] {
        let type = stanza.stanzaType
        if type == "result" || type == "error" {
            return self.relayAnswer(stanza, from: from, nick: nick)
        }
        guard let sender = self.occupant(for: from) else {
            return self.error(stanza, StanzaError(.notAcceptable, text: "you are not in this room"))
        }
        if stanza.iqPayload?.namespace == XMPPNamespace.ping, sender.nick == nick {
            // XEP-0410: the client is joined as this occupant.
            return [.send(stanza.iqResult())]
        }
        guard let target = self.occupants[nick], let session = target.sessions.last else {
            return self.error(stanza, StanzaError(.itemNotFound, text: "no occupant with that nickname"))
        }
        var relayed = stanza
        relayed[attribute: "from"] = self.occupantJID(sender.nick).description
        relayed[attribute: "to"] = session.description
        relayed[attribute: "id"] = Self.relayedIDPrefix + Base64.encode(Array(from.description.utf8)) + "~" + (stanza.id ?? "")
        return [.send(relayed)]
    }

    private func relayAnswer(_ stanza: Element, from: JID, nick: String) -> [RoomAction] {
        guard let answerer = self.occupant(for: from), let id = stanza.id, id.hasPrefix(Self.relayedIDPrefix) else { return [] }
        let rest = id.dropFirst(Self.relayedIDPrefix.count)
        guard let separator = rest.firstIndex(of: "~"), let bytes = Base64.decode(String(rest[..<separator])),
            let asker = try? JID(String(decoding: bytes, as: UTF8.self)), self.occupants[nick]?.sessions.contains(asker) == true
        else { return [] }
        var answer = stanza
        answer[attribute: "from"] = self.occupantJID(answerer.nick).description
        answer[attribute: "to"] = asker.description
        answer[attribute: "id"] = String(rest[rest.index(after: separator)...])
        return [.send(answer)]
    }
}
