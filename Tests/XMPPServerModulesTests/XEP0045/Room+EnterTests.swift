import Foundation
import Testing
import XMPPCore
@testable import XMPPServerModules

@Suite("Room: creating, entering, presence and leaving (XEP-0045 §7.2–§7.6, §7.14, §10.1)")
struct RoomEnterTests {
    // MARK: - Creation

    @Test("a MUC client creating a room gets it locked, owner and moderator, with 201 and 110")
    func createLocked() throws {
        var harness = RoomHarness.created(speaksMUC: true)
        let actions = harness.join(Coven.crone, as: "firstwitch", id: "create1")
        // Self-presence, then the (empty) subject.
        #expect(sent(actions, to: Coven.crone).map(\.name) == ["presence", "message"])
        let presence = try #require(sent(actions, to: Coven.crone).first)
        #expect(presence[attribute: "from"] == Coven.occupant("firstwitch"))
        #expect(presence[attribute: "id"] == "create1")
        #expect(presence.stanzaType == nil)
        #expect(presence.mucItem?[attribute: "affiliation"] == "owner")
        #expect(presence.mucItem?[attribute: "role"] == "moderator")
        #expect(Set(presence.statusCodes).isSuperset(of: [110, 201]))
        #expect(harness.room.locked)

        // §7.2.9: nobody else enters until the owner configures the room.
        let refused = harness.join(Coven.hag, as: "thirdwitch")
        let error = try #require(only(refused, to: Coven.hag))
        #expect(error.errorCondition == .itemNotFound)
        #expect(error[attribute: "from"] == Coven.occupant("thirdwitch"))
        #expect(harness.room.occupantCount == 1)

        // §10.1.2: an empty submitted form asks for an instant room and unlocks it.
        let instant = harness.iq(Coven.crone, "set", "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>", id: "create2")
        let result = try #require(only(instant, to: Coven.crone))
        #expect(result.stanzaType == "result")
        #expect(result[attribute: "id"] == "create2")
        #expect(!harness.room.locked)
        #expect(harness.room.record.configured)
        let entered = harness.join(Coven.hag, as: "thirdwitch")
        #expect(sent(entered, to: Coven.hag).contains { $0.statusCodes.contains(110) })
        // 201 is only for the creator.
        #expect(!sent(entered, to: Coven.hag).contains { $0.statusCodes.contains(201) })
    }

    @Test("a groupchat 1.0 client (no MUC extension) gets an instant room others can enter at once")
    func createLegacy() throws {
        var harness = RoomHarness.created(speaksMUC: false)
        let actions = harness.receive("<presence from='\(Coven.crone)' to='\(Coven.occupant("firstwitch"))'/>")
        let presence = try #require(sent(actions, to: Coven.crone).first)
        #expect(presence.statusCodes.contains(110))
        #expect(!harness.room.locked)
        #expect(harness.room.record.configured)
        let entered = harness.join(Coven.hag, as: "thirdwitch")
        #expect(sent(entered, to: Coven.hag).allSatisfy { $0.errorCondition == nil })
        #expect(harness.room.occupantCount == 2)
    }

    // MARK: - Refusals (§7.2.6–§7.2.11)

    @Test("a banned user is refused with forbidden")
    func banned() throws {
        var harness = RoomHarness.open(affiliations: ["hag66@shakespeare.lit": .outcast])
        let error = try #require(only(harness.join(Coven.hag, as: "thirdwitch", id: "n13mt3l"), to: Coven.hag))
        #expect(error.errorCondition == .forbidden)
        #expect(error.stanzaType == "error")
        #expect(error[attribute: "id"] == "n13mt3l")
        #expect(error[attribute: "from"] == Coven.occupant("thirdwitch"))
        #expect(StanzaError(stanza: error)?.type == .auth)
        #expect(harness.room.occupant(for: address(Coven.hag)) == nil)
    }

    @Test("a non-member is refused from a members-only room with registration-required; a member enters")
    func membersOnly() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .member]) { $0.membersOnly = true }
        #expect(only(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag)?.errorCondition == .registrationRequired)
        #expect(sent(harness.join(Coven.wicca, as: "secondwitch"), to: Coven.wicca).allSatisfy { $0.errorCondition == nil })
        #expect(harness.room.occupantCount == 2)
    }

    @Test("a password-protected room refuses a missing or wrong password with not-authorized")
    func password() throws {
        var harness = RoomHarness.open { $0.password = "cauldronburn" }
        #expect(only(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag)?.errorCondition == .notAuthorized)
        #expect(only(harness.join(Coven.hag, as: "thirdwitch", payload: "<password>wrong</password>"), to: Coven.hag)?.errorCondition == .notAuthorized)
        let entered = harness.join(Coven.hag, as: "thirdwitch", payload: "<password>cauldronburn</password>")
        #expect(sent(entered, to: Coven.hag).allSatisfy { $0.errorCondition == nil })
        #expect(harness.room.occupant(for: address(Coven.hag))?.nick == "thirdwitch")
    }

    @Test("a nickname in use by someone else is a conflict")
    func nickConflict() throws {
        var harness = RoomHarness.open()
        let error = try #require(only(harness.join(Coven.hag, as: "firstwitch"), to: Coven.hag))
        #expect(error.errorCondition == .conflict)
        #expect(StanzaError(stanza: error)?.type == .cancel)
        #expect(harness.room.occupantCount == 1)
    }

    @Test("a nickname registered by another user is a conflict; its owner may use it")
    func reservedNick() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .member])
        harness.room.record.affiliations["wiccarocks@shakespeare.lit"]?.nick = "secondwitch"
        #expect(only(harness.join(Coven.hag, as: "secondwitch"), to: Coven.hag)?.errorCondition == .conflict)
        #expect(sent(harness.join(Coven.wicca, as: "secondwitch"), to: Coven.wicca).allSatisfy { $0.errorCondition == nil })
    }

    @Test("a full room refuses with service-unavailable, but admins and owners still enter (§7.2.10)")
    func fullRoom() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin]) { $0.maxOccupants = 2 }
        harness.join(Coven.hecate, as: "hecate")
        #expect(harness.room.occupantCount == 2)
        #expect(only(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag)?.errorCondition == .serviceUnavailable)
        #expect(sent(harness.join(Coven.wicca, as: "secondwitch"), to: Coven.wicca).allSatisfy { $0.errorCondition == nil })
        #expect(harness.room.occupantCount == 3)
    }

    @Test("the service's own occupant limit applies too")
    func serviceLimit() throws {
        var harness = RoomHarness.open(limits: RoomLimits(maxOccupants: 1))
        #expect(only(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag)?.errorCondition == .serviceUnavailable)
    }

    @Test("presence to the bare room JID is jid-malformed (§7.2.1)")
    func noNick() throws {
        var harness = RoomHarness.open()
        let actions = harness.receive("<presence from='\(Coven.hag)' to='\(Coven.room)' id='x'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        #expect(only(actions, to: Coven.hag)?.errorCondition == .jidMalformed)
    }

    // MARK: - What a newcomer receives (§7.1, §7.2.3)

    @Test("order on entering: others' presence, the newcomer's presence to others, self-presence, history, subject")
    func joinOrder() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin])
        harness.join(Coven.wicca, as: "secondwitch")
        harness.groupchat(Coven.crone, "Thrice the brinded cat hath mew'd.", id: "m1")
        harness.now += 6
        harness.groupchat(Coven.wicca, "Thrice and once the hedge-pig whined.", id: "m2")
        harness.receive("<message from='\(Coven.wicca)' to='\(Coven.room)' type='groupchat'><subject>Fire Burn and Cauldron Bubble!</subject></message>")
        harness.now += 60

        let actions = harness.join(Coven.hag, as: "thirdwitch", id: "n13mt3l")
        let all = sent(actions)
        let toHag = sent(actions, to: Coven.hag)
        // 1. Presence of the two others, 2. self-presence, 3. two history messages, 4. subject.
        #expect(toHag.map(\.name) == ["presence", "presence", "presence", "message", "message", "message"])
        #expect(toHag[0][attribute: "from"] == Coven.occupant("firstwitch"))
        #expect(toHag[0].mucItem?[attribute: "affiliation"] == "owner")
        #expect(toHag[0].mucItem?[attribute: "role"] == "moderator")
        #expect(toHag[1][attribute: "from"] == Coven.occupant("secondwitch"))
        #expect(toHag[1].mucItem?[attribute: "affiliation"] == "admin")
        #expect(!toHag[0].statusCodes.contains(110) && !toHag[1].statusCodes.contains(110))
        let selfPresence = toHag[2]
        #expect(selfPresence[attribute: "from"] == Coven.occupant("thirdwitch"))
        #expect(selfPresence[attribute: "id"] == "n13mt3l")
        #expect(selfPresence.statusCodes.contains(110))
        #expect(selfPresence.statusCodes.contains(170), "the default configuration archives, so 170 warns of logging")
        #expect(selfPresence.mucItem?[attribute: "affiliation"] == "none")
        #expect(selfPresence.mucItem?[attribute: "role"] == "participant")
        #expect(selfPresence.occupantIDValue == harness.room.occupantID(for: address(Coven.hag)))

        // The newcomer's presence reaches the others before its self-presence.
        let selfIndex = try #require(all.firstIndex { $0[attribute: "to"] == Coven.hag && $0.statusCodes.contains(110) })
        for other in [Coven.crone, Coven.wicca] {
            let index = try #require(all.firstIndex { $0[attribute: "to"] == other })
            #expect(index < selfIndex)
            #expect(all[index][attribute: "from"] == Coven.occupant("thirdwitch"))
            #expect(!all[index].statusCodes.contains(110))
        }

        let history = toHag[3...4]
        #expect(history.map { $0.child(named: "body")?.text } == ["Thrice the brinded cat hath mew'd.", "Thrice and once the hedge-pig whined."])
        #expect(history.map { $0[attribute: "from"] } == [Coven.occupant("firstwitch"), Coven.occupant("secondwitch")])
        for message in history {
            #expect(message.stanzaType == "groupchat")
            let delay = try #require(message.child(named: "delay", namespace: "urn:xmpp:delay"))
            #expect(delay[attribute: "from"] == Coven.room)
        }
        #expect(history.first?.child(named: "delay")?[attribute: "stamp"].flatMap(XMPPDateTime.parse) == Coven.epoch)
        #expect(history.last?.child(named: "delay")?[attribute: "stamp"].flatMap(XMPPDateTime.parse) == Coven.epoch + 6)

        let subject = toHag[5]
        #expect(subject.stanzaType == "groupchat")
        #expect(subject[attribute: "from"] == Coven.occupant("secondwitch"))
        #expect(subject.child(named: "subject")?.text == "Fire Burn and Cauldron Bubble!")
        #expect(subject.child(named: "body") == nil)
    }

    @Test("a room without a subject sends an empty subject from the room")
    func emptySubject() throws {
        var harness = RoomHarness.open()
        let subject = try #require(sent(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag).last)
        #expect(subject.name == "message")
        #expect(subject[attribute: "from"] == Coven.room)
        #expect(subject.child(named: "subject")?.text == "")
    }

    @Test("default roles: visitors in a moderated room, members participate, admins and owners moderate (§5.1.2)")
    func defaultRoles() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin, "hecate@shakespeare.lit": .member]) { $0.moderated = true }
        harness.join(Coven.wicca, as: "secondwitch")
        harness.join(Coven.hecate, as: "hecate")
        harness.join(Coven.hag, as: "thirdwitch")
        #expect(harness.room.occupants["firstwitch"]?.role == .moderator)
        #expect(harness.room.occupants["secondwitch"]?.role == .moderator)
        #expect(harness.room.occupants["hecate"]?.role == .participant)
        #expect(harness.room.occupants["thirdwitch"]?.role == .visitor)

        var unmoderated = RoomHarness.open()
        let selfPresence = sent(unmoderated.join(Coven.hag, as: "thirdwitch"), to: Coven.hag).first { $0.statusCodes.contains(110) }
        #expect(selfPresence?.mucItem?[attribute: "role"] == "participant")
    }

    @Test("in a non-anonymous room everyone sees the full JID and the newcomer is warned with 100")
    func nonAnonymous() throws {
        var harness = RoomHarness.open { $0.whois = .anyone }
        harness.join(Coven.wicca, as: "secondwitch")
        let actions = harness.join(Coven.hag, as: "thirdwitch")
        let toWicca = try #require(only(actions, to: Coven.wicca))
        #expect(toWicca.mucItem?[attribute: "jid"] == Coven.hag)
        let toHag = sent(actions, to: Coven.hag)
        #expect(toHag.first { $0[attribute: "from"] == Coven.occupant("secondwitch") }?.mucItem?[attribute: "jid"] == Coven.wicca)
        let selfPresence = try #require(toHag.first { $0.statusCodes.contains(110) })
        #expect(selfPresence.statusCodes.contains(100))
    }

    @Test("in a semi-anonymous room only moderators see full JIDs, and there is no 100")
    func semiAnonymous() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.wicca, as: "secondwitch")
        let actions = harness.join(Coven.hag, as: "thirdwitch")
        #expect(only(actions, to: Coven.crone)?.mucItem?[attribute: "jid"] == Coven.hag)
        #expect(only(actions, to: Coven.wicca)?.mucItem?[attribute: "jid"] == nil)
        let toHag = sent(actions, to: Coven.hag)
        #expect(toHag.first { $0[attribute: "from"] == Coven.occupant("firstwitch") }?.mucItem?[attribute: "jid"] == nil)
        #expect(toHag.first { $0[attribute: "from"] == Coven.occupant("secondwitch") }?.mucItem?[attribute: "jid"] == nil)
        let selfPresence = try #require(toHag.first { $0.statusCodes.contains(110) })
        #expect(!selfPresence.statusCodes.contains(100))
    }

    @Test("the client's presence payload is relayed, its MUC payloads and occupant-id are not")
    func presencePayload() throws {
        var harness = RoomHarness.open()
        let actions = harness.receive("""
            <presence from='\(Coven.hag)' to='\(Coven.occupant("thirdwitch"))'><show>away</show><status>brewing</status>\
            <x xmlns='http://jabber.org/protocol/muc'><password>x</password></x>\
            <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator'/></x>\
            <occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></presence>
            """)
        let toCrone = try #require(only(actions, to: Coven.crone))
        #expect(toCrone.child(named: "show")?.text == "away")
        #expect(toCrone.child(named: "status")?.text == "brewing")
        #expect(toCrone.child(named: "x", namespace: MUCNamespace.muc) == nil)
        #expect(toCrone.children(named: "x", namespace: MUCNamespace.user).count == 1)
        #expect(toCrone.mucItem?[attribute: "affiliation"] == "none")
        #expect(toCrone.children(named: "occupant-id", namespace: MUCNamespace.occupantID).map { $0[attribute: "id"] } == [harness.room.occupantID(for: address(Coven.hag))])
    }

    @Test("presence broadcast limited to moderators hides participants' presence but not their self-presence")
    func presenceBroadcastRoles() throws {
        var harness = RoomHarness.open { $0.presenceBroadcast = [.moderator] }
        harness.join(Coven.wicca, as: "secondwitch")
        let actions = harness.join(Coven.hag, as: "thirdwitch")
        #expect(sent(actions, to: Coven.crone).isEmpty)
        #expect(sent(actions, to: Coven.wicca).isEmpty)
        let toHag = sent(actions, to: Coven.hag).filter(\.isPresence)
        // The owner (a moderator) is shown; secondwitch (a participant) is not.
        #expect(toHag.map { $0[attribute: "from"] } == [Coven.occupant("firstwitch"), Coven.occupant("thirdwitch")])
        #expect(toHag.last?.statusCodes.contains(110) == true)
    }

    // MARK: - Several clients under one nickname (§7.2.8)

    @Test("a second client of the same user shares the nickname and gets every groupchat message")
    func multiSession() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let second = harness.join(Coven.hagPhone, as: "thirdwitch", id: "phone-join")
        let toPhone = sent(second, to: Coven.hagPhone)
        #expect(toPhone.allSatisfy { $0.errorCondition == nil })
        let selfPresence = try #require(toPhone.first { $0.statusCodes.contains(110) })
        #expect(selfPresence[attribute: "id"] == "phone-join")
        #expect(toPhone.contains { $0[attribute: "from"] == Coven.occupant("firstwitch") })
        #expect(harness.room.occupantCount == 2)
        #expect(harness.room.occupants["thirdwitch"]?.sessions == [address(Coven.hag), address(Coven.hagPhone)])

        let message = harness.groupchat(Coven.crone, "hello")
        #expect(sent(message, to: Coven.hag).count == 1)
        #expect(sent(message, to: Coven.hagPhone).count == 1)
        // Either client may speak.
        #expect(sent(harness.groupchat(Coven.hagPhone, "from the phone"), to: Coven.crone).count == 1)

        // One client leaving leaves the other in the room; only the leaving client hears it.
        let left = harness.leave(Coven.hagPhone, nick: "thirdwitch")
        #expect(sent(left).count == 1)
        #expect(only(left, to: Coven.hagPhone)?.stanzaType == "unavailable")
        #expect(harness.room.occupants["thirdwitch"]?.sessions == [address(Coven.hag)])
    }

    // MARK: - Status and nickname changes (§7.6, §7.7)

    @Test("a status change is broadcast, with 110 to the occupant itself")
    func statusChange() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("<presence from='\(Coven.hag)' to='\(Coven.occupant("thirdwitch"))'><show>xa</show></presence>")
        #expect(only(actions, to: Coven.crone)?.child(named: "show")?.text == "xa")
        #expect(only(actions, to: Coven.crone)?.statusCodes == [])
        #expect(only(actions, to: Coven.hag)?.statusCodes == [110])
    }

    @Test("a nickname change: unavailable from the old nick with 303 and the new nick, then presence from the new one")
    func nickChange() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("<presence from='\(Coven.hag)' to='\(Coven.occupant("oldhag"))'/>")
        for recipient in [Coven.crone, Coven.hag] {
            let stanzas = sent(actions, to: recipient)
            try #require(stanzas.count == 2)
            let gone = stanzas[0]
            #expect(gone.stanzaType == "unavailable")
            #expect(gone[attribute: "from"] == Coven.occupant("thirdwitch"))
            #expect(gone.mucItem?[attribute: "nick"] == "oldhag")
            #expect(gone.statusCodes.contains(303))
            let back = stanzas[1]
            #expect(back.stanzaType == nil)
            #expect(back[attribute: "from"] == Coven.occupant("oldhag"))
            #expect(back.mucItem?[attribute: "role"] == "participant")
            #expect(gone.statusCodes.contains(110) == (recipient == Coven.hag))
            #expect(back.statusCodes.contains(110) == (recipient == Coven.hag))
        }
        // Every unavailable goes out before any new presence.
        let kinds = sent(actions).map { $0.stanzaType ?? "available" }
        #expect(kinds == ["unavailable", "unavailable", "available", "available"])
        #expect(harness.room.occupants["thirdwitch"] == nil)
        #expect(harness.room.occupant(for: address(Coven.hag))?.nick == "oldhag")
        // The occupant id stays with the person.
        #expect(harness.room.occupants["oldhag"]?.occupantID == harness.room.occupantID(for: address(Coven.hag)))
    }

    @Test("changing to a nickname in use or registered by someone else is a conflict")
    func nickChangeConflict() throws {
        var harness = RoomHarness.open()
        harness.room.record.affiliations["hecate@shakespeare.lit"] = .init(affiliation: .member, nick: "hecate")
        harness.join(Coven.hag, as: "thirdwitch")
        #expect(only(harness.receive("<presence from='\(Coven.hag)' to='\(Coven.occupant("firstwitch"))'/>"), to: Coven.hag)?.errorCondition == .conflict)
        #expect(only(harness.receive("<presence from='\(Coven.hag)' to='\(Coven.occupant("hecate"))'/>"), to: Coven.hag)?.errorCondition == .conflict)
        #expect(harness.room.occupant(for: address(Coven.hag))?.nick == "thirdwitch")
    }

    @Test("entering under a nickname the service prepared differently gets 210 (§7.2.3)")
    func joinModifiedNick() throws {
        var harness = RoomHarness.open()
        // PRECIS OpaqueString maps the no-break space to a space.
        let actions = harness.join(Coven.hag, as: "third\u{00A0}witch")
        let selfPresence = try #require(sent(actions, to: Coven.hag).first { $0.statusCodes.contains(110) })
        #expect(selfPresence[attribute: "from"] == Coven.occupant("third witch"))
        #expect(selfPresence.statusCodes.contains(210))
        // Nothing changed: no 210.
        let plain = harness.join(Coven.wicca, as: "secondwitch")
        #expect(sent(plain, to: Coven.wicca).first { $0.statusCodes.contains(110) }?.statusCodes.contains(210) == false)
    }

    @Test("normalisation to NFC is a change of the nickname too: 210")
    func joinNormalizedNick() throws {
        var harness = RoomHarness.open()
        // Written decomposed (e + combining acute), prepared composed (é).
        let actions = harness.join(Coven.hag, as: "Cafe\u{301}")
        let selfPresence = try #require(sent(actions, to: Coven.hag).first { $0.statusCodes.contains(110) })
        #expect(Array(selfPresence[attribute: "from"]!.unicodeScalars) == Array("\(Coven.room)/Caf\u{E9}".unicodeScalars))
        #expect(selfPresence.statusCodes.contains(210))
    }

    @Test("a nickname change the service prepared differently gets 210 in the self-presence (§7.6)")
    func nickChangeModified() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("<presence from='\(Coven.hag)' to='\(Coven.occupant("old\u{00A0}hag"))'/>")
        let selfPresence = try #require(sent(actions, to: Coven.hag).last)
        #expect(selfPresence[attribute: "from"] == Coven.occupant("old hag"))
        #expect(selfPresence.statusCodes.contains(210))
    }

    // MARK: - Leaving (§7.14)

    @Test("leaving: unavailable with role none to everyone, 110 to the leaver, status text kept")
    func leave() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.leave(Coven.hag, nick: "thirdwitch", status: "gone where the goblins go")
        for recipient in [Coven.crone, Coven.hag] {
            let presence = try #require(only(actions, to: recipient))
            #expect(presence.stanzaType == "unavailable")
            #expect(presence[attribute: "from"] == Coven.occupant("thirdwitch"))
            #expect(presence.mucItem?[attribute: "role"] == "none")
            #expect(presence.mucItem?[attribute: "affiliation"] == "none")
            #expect(presence.child(named: "status")?.text == "gone where the goblins go")
            #expect(presence.statusCodes.contains(110) == (recipient == Coven.hag))
        }
        #expect(harness.room.occupant(for: address(Coven.hag)) == nil)
        #expect(!destroys(actions))
    }

    @Test("a temporary room goes with its last occupant; a persistent one stays")
    func lastLeaves() {
        var temporary = RoomHarness.open()
        #expect(destroys(temporary.leave(Coven.crone, nick: "firstwitch")))
        var persistent = RoomHarness.open { $0.persistent = true }
        #expect(!destroys(persistent.leave(Coven.crone, nick: "firstwitch")))
        #expect(persistent.room.isEmpty)
    }

    @Test("unavailable presence from someone not in the room, and subscriptions, are ignored")
    func ignored() {
        var harness = RoomHarness.open()
        #expect(harness.leave(Coven.hag, nick: "thirdwitch").isEmpty)
        #expect(harness.receive("<presence from='\(Coven.hag)' to='\(Coven.occupant("thirdwitch"))' type='subscribe'/>").isEmpty)
        #expect(harness.receive("<presence from='\(Coven.hag)' to='\(Coven.occupant("thirdwitch"))' type='probe'/>").isEmpty)
    }

    // MARK: - Service shutdown (§11.2)

    @Test("a service shutting down tells each session it is out with 332 and 110, once, and empties the room")
    func shutdown() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        harness.join(Coven.hagPhone, as: "thirdwitch")
        let actions = harness.room.shutDown()
        #expect(sent(actions).count == 3)
        for (session, nick) in [(Coven.crone, "firstwitch"), (Coven.hag, "thirdwitch"), (Coven.hagPhone, "thirdwitch")] {
            let presence = try #require(only(actions, to: session))
            #expect(presence.stanzaType == "unavailable")
            #expect(presence[attribute: "from"] == Coven.occupant(nick))
            #expect(presence.mucItem?[attribute: "role"] == "none")
            #expect(Set(presence.statusCodes) == [110, 332])
        }
        #expect(harness.room.isEmpty)
        #expect(harness.room.occupant(for: address(Coven.hag)) == nil)
    }
}
