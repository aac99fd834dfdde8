import Foundation
import XMPPCore

/// XEP-0045 §7.4–§7.9 and §8.6: groupchat messages, subject, private messages, invitations,
/// voice requests; XEP-0359 stanza ids, XEP-0421 occupant ids, XEP-0425 moderation.
extension Room {
    mutating func receiveMessage(_ stanza: Element, from: JID, nick: String?, clock: Clock) -> [RoomAction] {
        let type = stanza.stanzaType ?? "normal"
        if type == "error" {
            // A client that bounces what the room relays is gone: take it out (a "ghost").
            guard let occupant = self.occupant(for: from) else { return [] }
            return self.leave(session: from, of: occupant, statuses: [333], presence: nil) + self.closeIfDeserted()
        }
        if let nick { return self.privateMessage(stanza, from: from, to: nick, type: type) }
        if type == "groupchat" { return self.groupchat(stanza, from: from, clock: clock) }
        if let x = stanza.child(named: "x", namespace: MUCNamespace.user) {
            if !x.children(named: "invite").isEmpty { return self.invite(stanza, x: x, from: from) }
            if let decline = x.child(named: "decline") { return self.decline(stanza, decline, from: from) }
        }
        if let form = DataForm(in: stanza), form.formType == MUCNamespace.request {
            return self.voiceRequest(stanza, form: form, from: from)
        }
        return self.error(stanza, StanzaError(.notAcceptable, text: "send groupchat messages, invitations or voice requests to a room"))
    }

    // MARK: - Groupchat

    private mutating func groupchat(_ stanza: Element, from: JID, clock: Clock) -> [RoomAction] {
        guard let sender = self.occupant(for: from) else {
            return self.error(stanza, StanzaError(.notAcceptable, text: "only occupants may send messages to the room"))
        }
        let subject = stanza.child(named: "subject")
        let body = stanza.child(named: "body")
        if let subject, body == nil {
            let mayChange = sender.role == .moderator || (self.configuration.changeSubject && sender.role >= .participant)
            guard mayChange else { return self.error(stanza, StanzaError(.forbidden, text: "you may not change the subject")) }
            self.record.subject = subject.text
            self.record.subjectBy = sender.nick
        } else if sender.role < .participant {
            return self.error(stanza, StanzaError(.forbidden, text: "you have no voice in this moderated room"))
        }

        var relayed = stanza
        relayed.attributes.removeAll { $0.name == "from" || $0.name == "to" }
        relayed.attributes.insert(Attribute(name: "from", value: self.occupantJID(sender.nick).description), at: 0)
        // Only the room may claim ids "by" itself, and occupant ids are the room's to give.
        relayed.removeChildren {
            ($0.name == "stanza-id" && $0.namespace == MessageArchiveModule.stanzaID && $0[attribute: "by"] == self.jid.description)
                || $0.namespace == MUCNamespace.occupantID
        }
        relayed.append(Element("occupant-id", namespace: MUCNamespace.occupantID, attributes: [("id", sender.occupantID)]))
        let stanzaID = clock.newID()
        relayed.append(Element("stanza-id", namespace: MessageArchiveModule.stanzaID, attributes: [("id", stanzaID), ("by", self.jid.description)]))

        var actions = self.toEveryone(relayed)
        if subject != nil, body == nil { actions.append(.save) }
        if body != nil, Self.storable(stanza) {
            let entry = HistoryEntry(message: relayed, stanzaID: stanzaID, stamp: clock.now, characters: relayed.storedText.utf8.count)
            self.remember(entry)
            if self.configuration.archived {
                actions.append(.archive(relayed, stanzaID: stanzaID, stamp: clock.now))
            }
        }
        return actions
    }

    /// Messages with a body and no hint against storing them (XEP-0334) are kept.
    static func storable(_ message: Element) -> Bool {
        message.child(named: "no-store", namespace: "urn:xmpp:hints") == nil && message.child(named: "no-permanent-store", namespace: "urn:xmpp:hints") == nil
    }

    /// A copy addressed to every session in the room.
    func toEveryone(_ stanza: Element) -> [RoomAction] {
        self.allSessions.map { recipient, _ in
            var copy = stanza
            copy[attribute: "to"] = recipient.description
            return .send(copy)
        }
    }

    // MARK: - Private messages (§7.5)

    private func privateMessage(_ stanza: Element, from: JID, to nick: String, type: String) -> [RoomAction] {
        guard type != "groupchat" else { return self.error(stanza, StanzaError(.badRequest, text: "groupchat messages go to the room, not to an occupant")) }
        guard let sender = self.occupant(for: from) else {
            return self.error(stanza, StanzaError(.notAcceptable, text: "only occupants may send private messages"))
        }
        let allowed: Bool
        switch self.configuration.allowPrivateMessages {
        case .anyone: allowed = true
        case .participants: allowed = sender.role >= .participant
        case .moderators: allowed = sender.role == .moderator
        case .none: allowed = false
        }
        guard allowed else { return self.error(stanza, StanzaError(.notAllowed, text: "private messages are not allowed in this room")) }
        guard let target = self.occupants[nick] else { return self.error(stanza, StanzaError(.itemNotFound, text: "no occupant with that nickname")) }
        var relayed = stanza
        relayed[attribute: "from"] = self.occupantJID(sender.nick).description
        relayed.removeChildren { ($0.name == "x" && $0.namespace == MUCNamespace.user) || $0.namespace == MUCNamespace.occupantID }
        relayed.append(Element("x", namespace: MUCNamespace.user))
        relayed.append(Element("occupant-id", namespace: MUCNamespace.occupantID, attributes: [("id", sender.occupantID)]))
        return target.sessions.map { session in
            var copy = relayed
            copy[attribute: "to"] = session.description
            return .send(copy)
        }
    }

    // MARK: - Invitations (§7.8.2) and declines (§7.8.3)

    private mutating func invite(_ stanza: Element, x: Element, from: JID) -> [RoomAction] {
        let affiliation = self.record.affiliation(of: from)
        guard self.occupant(for: from) != nil || affiliation >= .member else {
            return self.error(stanza, StanzaError(.notAcceptable, text: "only occupants may invite"))
        }
        let mayInvite = affiliation >= .admin || self.configuration.allowInvites || (!self.configuration.membersOnly && self.occupant(for: from) != nil)
        guard mayInvite else { return self.error(stanza, StanzaError(.forbidden, text: "only admins may invite to this room")) }
        var actions: [RoomAction] = []
        for invite in x.children(named: "invite") {
            guard let invitee = invite[attribute: "to"].flatMap({ try? JID($0) }) else {
                return self.error(stanza, StanzaError(.jidMalformed, text: "an invitation needs a JID in 'to'"))
            }
            if self.configuration.membersOnly, self.record.affiliation(of: invitee) == .none {
                self.record.affiliations[invitee.bare.description] = RoomRecord.Affiliation(affiliation: .member)
                actions.append(.save)
            }
            var told = Element("invite", namespace: MUCNamespace.user, attributes: [("from", from.description)])
            if let reason = invite.child(named: "reason") { told.append(reason) }
            var payload = Element("x", namespace: MUCNamespace.user, children: [told])
            if let password = self.configuration.password { payload.append(Element("password", namespace: MUCNamespace.user, text: password)) }
            let reasonText = invite.child(named: "reason")?.text
            let body = "\(from.bare) invites you to the room \(self.jid)" + (reasonText.map { ": \($0)" } ?? "")
            actions.append(.send(Element("message", namespace: XMPPNamespace.client, attributes: [("from", self.jid.description), ("to", invitee.description)], children: [
                payload, Element("body", namespace: XMPPNamespace.client, text: body),
            ])))
        }
        return actions
    }

    private func decline(_ stanza: Element, _ decline: Element, from: JID) -> [RoomAction] {
        guard let inviter = decline[attribute: "to"].flatMap({ try? JID($0) }) else {
            return self.error(stanza, StanzaError(.jidMalformed, text: "a decline needs the inviter's JID in 'to'"))
        }
        var told = Element("decline", namespace: MUCNamespace.user, attributes: [("from", from.bare.description)])
        if let reason = decline.child(named: "reason") { told.append(reason) }
        return [.send(Element("message", namespace: XMPPNamespace.client, attributes: [("from", self.jid.description), ("to", inviter.description)], children: [
            Element("x", namespace: MUCNamespace.user, children: [told])
        ]))]
    }

    // MARK: - Voice requests (§7.13, §8.6)

    private mutating func voiceRequest(_ stanza: Element, form: DataForm, from: JID) -> [RoomAction] {
        guard let sender = self.occupant(for: from) else {
            return self.error(stanza, StanzaError(.notAcceptable, text: "only occupants may ask for voice"))
        }
        if sender.role == .moderator, form.contains("muc#request_allow") {
            // A moderator's answer to a request.
            guard form.bool("muc#request_allow") == true else { return [] }
            guard let nick = form.value("muc#roomnick"), let target = self.occupants[nick] else {
                return self.error(stanza, StanzaError(.itemNotFound, text: "no occupant with that nickname"))
            }
            // Only a visitor's request can be granted; nobody is demoted by an approval.
            guard target.role == .visitor else { return [] }
            if let refusal = self.refusal(roleChangeOf: target, to: .participant, byAffiliation: self.record.affiliation(of: from)) { return self.error(stanza, refusal) }
            return self.setRole(of: target, to: .participant, by: sender, reason: nil)
        }
        guard sender.role == .visitor else { return self.error(stanza, StanzaError(.notAcceptable, text: "you have voice already")) }
        let request = DataForm(type: "form", title: "Voice request", formType: MUCNamespace.request, fields: [
            DataForm.Field("muc#role", type: "list-single", label: "Requested role", values: ["participant"]),
            DataForm.Field("muc#jid", type: "jid-single", label: "User ID", values: [from.bare.description]),
            DataForm.Field("muc#roomnick", type: "text-single", label: "Nickname", values: [sender.nick]),
            DataForm.Field("muc#request_allow", type: "boolean", label: "Grant voice to this person?", values: ["0"]),
        ])
        return self.occupants.values.filter { $0.role == .moderator }.flatMap(\.sessions).map { moderator in
            .send(Element("message", namespace: XMPPNamespace.client, attributes: [("from", self.jid.description), ("to", moderator.description)], children: [request.element]))
        }
    }

    // MARK: - Moderation (XEP-0425 with XEP-0424)

    /// A moderator retracts a message the room relayed: everyone gets the retraction, the
    /// archive and history keep a tombstone instead of the message. The host has checked the
    /// message exists (`original`).
    mutating func moderate(_ stanza: Element, stanzaID: String, original: Element?, reason: String?, legacy: Bool, from: JID) -> [RoomAction] {
        guard let moderator = self.occupant(for: from), moderator.role == .moderator else {
            return self.error(stanza, StanzaError(.forbidden, text: "only moderators may retract messages"))
        }
        guard original != nil || self.history.contains(where: { $0.stanzaID == stanzaID }) else {
            return self.error(stanza, StanzaError(.itemNotFound, text: "no message with that id in this room"))
        }
        let by = self.occupantJID(moderator.nick).description
        let occupantID = Element("occupant-id", namespace: MUCNamespace.occupantID, attributes: [("id", moderator.occupantID)])
        let reasonElement = reason.map { Element("reason", namespace: legacy ? MUCNamespace.moderateLegacy : MUCNamespace.retract, text: $0) }
        var announcement = Element("message", namespace: XMPPNamespace.client, attributes: [("from", self.jid.description), ("type", "groupchat")])
        if legacy {
            var moderated = Element("moderated", namespace: MUCNamespace.moderateLegacy, attributes: [("by", by)], children: [
                Element("retract", namespace: MUCNamespace.retractLegacy), occupantID,
            ])
            if let reasonElement { moderated.append(reasonElement) }
            announcement.append(Element("apply-to", namespace: MUCNamespace.fasten, attributes: [("id", stanzaID)], children: [moderated]))
        } else {
            var retract = Element("retract", namespace: MUCNamespace.retract, attributes: [("id", stanzaID)], children: [
                Element("moderated", namespace: MUCNamespace.moderate, attributes: [("by", by)], children: [occupantID])
            ])
            if let reasonElement { retract.append(reasonElement) }
            announcement.append(retract)
        }
        var tombstone = Element("message", namespace: XMPPNamespace.client, attributes: [("from", (original?.from ?? self.jid).description), ("type", "groupchat")])
        var retracted = Element("retracted", namespace: MUCNamespace.retract, attributes: [("id", stanzaID)], children: [
            Element("moderated", namespace: MUCNamespace.moderate, attributes: [("by", by)], children: [occupantID])
        ])
        if let reason { retracted.append(Element("reason", namespace: MUCNamespace.retract, text: reason)) }
        tombstone.append(retracted)
        if let occupant = original?.child(named: "occupant-id", namespace: MUCNamespace.occupantID) { tombstone.append(occupant) }
        tombstone.append(Element("stanza-id", namespace: MessageArchiveModule.stanzaID, attributes: [("id", stanzaID), ("by", self.jid.description)]))
        self.replaceHistory(stanzaID: stanzaID, with: tombstone)
        return [.send(stanza.iqResult())] + self.toEveryone(announcement) + [.retractArchived(stanzaID: stanzaID, tombstone: tombstone)]
    }
}
