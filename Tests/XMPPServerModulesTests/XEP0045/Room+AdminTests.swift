import Foundation
import Testing
import XMPPCore
@testable import XMPPServerModules

@Suite("Room: moderators and admins through muc#admin (XEP-0045 §8, §9)")
struct RoomAdminTests {
    // MARK: - Kick (§8.2)

    @Test("a kick removes the occupant with 307, the actor and the reason; the moderator gets a result")
    func kick() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.admin(Coven.crone, "<item nick='thirdwitch' role='none'><reason>Avaunt, you cullion!</reason></item>", id: "kick1")
        let kicked = try #require(only(actions, to: Coven.hag))
        #expect(kicked.stanzaType == "unavailable")
        #expect(kicked[attribute: "from"] == Coven.occupant("thirdwitch"))
        #expect(kicked.mucItem?[attribute: "role"] == "none")
        #expect(kicked.mucItem?[attribute: "affiliation"] == "none")
        #expect(kicked.mucItem?.child(named: "actor")?[attribute: "nick"] == "firstwitch")
        #expect(kicked.mucItem?.child(named: "reason")?.text == "Avaunt, you cullion!")
        #expect(Set(kicked.statusCodes) == [110, 307])

        let toCrone = sent(actions, to: Coven.crone)
        let result = try #require(toCrone.first { $0.name == "iq" })
        #expect(result.stanzaType == "result")
        #expect(result[attribute: "id"] == "kick1")
        let told = try #require(toCrone.first { $0.isPresence })
        #expect(told.stanzaType == "unavailable")
        #expect(told.statusCodes == [307])
        #expect(harness.room.occupant(for: address(Coven.hag)) == nil)
        // Kicked is not banned.
        #expect(sent(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag).allSatisfy { $0.errorCondition == nil })
    }

    @Test("a kick removes every client of the occupant")
    func kickAllSessions() {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        harness.join(Coven.hagPhone, as: "thirdwitch")
        let actions = harness.admin(Coven.crone, "<item nick='thirdwitch' role='none'/>")
        #expect(only(actions, to: Coven.hag)?.statusCodes.contains(307) == true)
        #expect(only(actions, to: Coven.hagPhone)?.statusCodes.contains(307) == true)
        #expect(harness.room.occupants["thirdwitch"] == nil)
        #expect(harness.room.occupant(for: address(Coven.hagPhone)) == nil)
    }

    @Test("nobody may be kicked by a moderator of lower affiliation: not-allowed")
    func kickHigher() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin, "hag66@shakespeare.lit": .member])
        harness.join(Coven.wicca, as: "secondwitch")
        harness.join(Coven.hag, as: "thirdwitch")
        // An admin may not kick the owner.
        #expect(only(harness.admin(Coven.wicca, "<item nick='firstwitch' role='none'/>"), to: Coven.wicca)?.errorCondition == .notAllowed)
        // A member made moderator may not kick an admin.
        harness.admin(Coven.crone, "<item nick='thirdwitch' role='moderator'/>")
        #expect(harness.room.occupants["thirdwitch"]?.role == .moderator)
        #expect(only(harness.admin(Coven.hag, "<item nick='secondwitch' role='none'/>"), to: Coven.hag)?.errorCondition == .notAllowed)
        #expect(harness.room.occupantCount == 3)
    }

    @Test("a moderator without affiliation may neither kick a member nor silence one (§8.2, §8.4)")
    func lowerModerator() throws {
        var harness = RoomHarness.open(affiliations: ["hag66@shakespeare.lit": .member]) { $0.moderated = false }
        harness.join(Coven.hag, as: "thirdwitch")
        harness.join(Coven.hecate, as: "hecate")
        harness.admin(Coven.crone, "<item nick='hecate' role='moderator'/>")
        #expect(harness.room.occupants["hecate"]?.role == .moderator)
        let silence = harness.admin(Coven.hecate, "<item nick='thirdwitch' role='visitor'/>", id: "silence")
        #expect(sent(silence, to: Coven.hecate).first { $0.name == "iq" }?.errorCondition == .notAllowed)
        let kick = harness.admin(Coven.hecate, "<item nick='thirdwitch' role='none'/>", id: "kick")
        #expect(sent(kick, to: Coven.hecate).first { $0.name == "iq" }?.errorCondition == .notAllowed)
    }

    // MARK: - Voice (§8.3, §8.4)

    @Test("granting and revoking voice is announced with the new role")
    func voice() throws {
        var harness = RoomHarness.open { $0.moderated = true }
        harness.join(Coven.hag, as: "thirdwitch")
        let granted = harness.admin(Coven.crone, "<item nick='thirdwitch' role='participant'><reason>A worthy witch indeed!</reason></item>")
        #expect(sent(granted, to: Coven.crone).first { $0.name == "iq" }?.stanzaType == "result")
        #expect(sent(granted, to: Coven.crone).first { $0.isPresence }?.mucItem?[attribute: "role"] == "participant")
        #expect(only(granted, to: Coven.hag)?.statusCodes == [110])
        #expect(harness.room.occupants["thirdwitch"]?.role == .participant)
        let revoked = harness.admin(Coven.crone, "<item nick='thirdwitch' role='visitor'/>")
        #expect(only(revoked, to: Coven.hag)?.mucItem?[attribute: "role"] == "visitor")
        #expect(harness.room.occupants["thirdwitch"]?.role == .visitor)
    }

    @Test("nobody revokes voice from an admin or owner: not-allowed")
    func voiceOfAdmin() {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin]) { $0.moderated = true }
        harness.join(Coven.wicca, as: "secondwitch")
        #expect(only(harness.admin(Coven.crone, "<item nick='secondwitch' role='visitor'/>"), to: Coven.crone)?.errorCondition == .notAllowed)
        #expect(harness.room.occupants["secondwitch"]?.role == .moderator)
    }

    @Test("role changes: unknown role bad-request, unknown nick item-not-found, non-moderator forbidden")
    func roleErrors() {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        #expect(only(harness.admin(Coven.crone, "<item nick='thirdwitch' role='witch'/>"), to: Coven.crone)?.errorCondition == .badRequest)
        #expect(only(harness.admin(Coven.crone, "<item nick='nobody' role='none'/>"), to: Coven.crone)?.errorCondition == .itemNotFound)
        #expect(only(harness.admin(Coven.hag, "<item nick='firstwitch' role='visitor'/>"), to: Coven.hag)?.errorCondition == .forbidden)
        #expect(only(harness.admin(Coven.crone, ""), to: Coven.crone)?.errorCondition == .badRequest)
        #expect(harness.room.occupantCount == 2)
    }

    @Test("only admins grant moderator; admins and owners stay moderators")
    func moderatorRole() {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin])
        harness.join(Coven.wicca, as: "secondwitch")
        harness.join(Coven.hag, as: "thirdwitch")
        harness.admin(Coven.crone, "<item nick='thirdwitch' role='moderator'/>")
        #expect(harness.room.occupants["thirdwitch"]?.role == .moderator)
        // A moderator who is no admin may not make moderators.
        harness.join(Coven.hecate, as: "hecate")
        #expect(only(harness.admin(Coven.hag, "<item nick='hecate' role='moderator'/>"), to: Coven.hag)?.errorCondition == .notAllowed)
        // §9.7: an admin may not revoke moderator from an admin or owner.
        #expect(only(harness.admin(Coven.wicca, "<item nick='firstwitch' role='participant'/>"), to: Coven.wicca)?.errorCondition == .notAllowed)
        // But revokes it from a mere occupant.
        harness.admin(Coven.wicca, "<item nick='thirdwitch' role='participant'/>")
        #expect(harness.room.occupants["thirdwitch"]?.role == .participant)
    }

    // MARK: - Ban (§9.1, §9.2)

    @Test("a ban removes the user with 301, keeps the reason in the outcast list and keeps them out")
    func ban() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.admin(Coven.crone, "<item affiliation='outcast' jid='hag66@shakespeare.lit'><reason>Treason</reason></item>", id: "ban1")
        let banned = try #require(only(actions, to: Coven.hag))
        #expect(banned.stanzaType == "unavailable")
        #expect(banned.mucItem?[attribute: "affiliation"] == "outcast")
        #expect(banned.mucItem?[attribute: "role"] == "none")
        #expect(banned.mucItem?.child(named: "reason")?.text == "Treason")
        #expect(banned.mucItem?.child(named: "actor")?[attribute: "nick"] == "firstwitch")
        #expect(Set(banned.statusCodes) == [110, 301])
        #expect(sent(actions, to: Coven.crone).first { $0.isPresence }?.statusCodes == [301])
        #expect(sent(actions, to: Coven.crone).first { $0.name == "iq" }?.stanzaType == "result")
        #expect(saves(actions))
        #expect(harness.room.record.affiliations["hag66@shakespeare.lit"] == RoomRecord.Affiliation(affiliation: .outcast, reason: "Treason"))

        let list = harness.iq(Coven.crone, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query>", id: "banlist")
        let query = try #require(only(list, to: Coven.crone)?.child(named: "query", namespace: MUCNamespace.admin))
        let items = query.children(named: "item")
        #expect(items.count == 1)
        #expect(items.first?[attribute: "affiliation"] == "outcast")
        #expect(items.first?[attribute: "jid"] == "hag66@shakespeare.lit")
        #expect(items.first?.child(named: "reason")?.text == "Treason")

        #expect(only(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag)?.errorCondition == .forbidden)
        #expect(only(harness.join(Coven.hagPhone, as: "other"), to: Coven.hagPhone)?.errorCondition == .forbidden)
    }

    @Test("a ban loses the registered nickname (§9.1)")
    func banDropsNick() {
        var harness = RoomHarness.open()
        harness.room.record.affiliations["hag66@shakespeare.lit"] = .init(affiliation: .member, nick: "thirdwitch")
        harness.admin(Coven.crone, "<item affiliation='outcast' jid='hag66@shakespeare.lit'/>")
        #expect(harness.room.record.affiliations["hag66@shakespeare.lit"]?.nick == nil)
        #expect(!harness.room.isReserved("thirdwitch", byOtherThan: address(Coven.wicca)))
    }

    @Test("a user not in the room is told of a new affiliation by a message with 101")
    func affiliationOutOfRoom() throws {
        var harness = RoomHarness.open()
        let actions = harness.admin(Coven.crone, "<item affiliation='member' jid='hecate@shakespeare.lit'/>")
        let message = try #require(only(actions, to: "hecate@shakespeare.lit"))
        #expect(message[attribute: "from"] == Coven.room)
        #expect(message.statusCodes == [101])
        #expect(message.mucItem?[attribute: "affiliation"] == "member")
    }

    @Test("an admin or owner may not ban himself: conflict (§9.1)")
    func banSelf() {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .owner])
        let actions = harness.admin(Coven.crone, "<item affiliation='outcast' jid='crone1@shakespeare.lit'/>")
        #expect(sent(actions, to: Coven.crone).first { $0.name == "iq" }?.errorCondition == .conflict)
        #expect(harness.room.record.affiliation(of: address(Coven.crone)) == .owner)
    }

    // MARK: - Membership (§9.3–§9.5)

    @Test("granting membership is announced with the new affiliation; the role stays")
    func grantMember() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.admin(Coven.crone, "<item affiliation='member' jid='hag66@shakespeare.lit' nick='thirdwitch'/>")
        let told = try #require(sent(actions, to: Coven.crone).first { $0.isPresence })
        #expect(told.mucItem?[attribute: "affiliation"] == "member")
        #expect(told.mucItem?[attribute: "role"] == "participant")
        #expect(only(actions, to: Coven.hag)?.statusCodes == [110])
        #expect(harness.room.record.affiliation(of: address(Coven.hag)) == .member)
    }

    @Test("losing membership of a members-only room removes the occupant with 321")
    func revokeMembershipMembersOnly() throws {
        var harness = RoomHarness.open(affiliations: ["hag66@shakespeare.lit": .member]) { $0.membersOnly = true }
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.admin(Coven.crone, "<item affiliation='none' jid='hag66@shakespeare.lit'/>")
        let removed = try #require(only(actions, to: Coven.hag))
        #expect(removed.stanzaType == "unavailable")
        #expect(Set(removed.statusCodes) == [110, 321])
        #expect(removed.mucItem?[attribute: "affiliation"] == "none")
        #expect(sent(actions, to: Coven.crone).first { $0.isPresence }?.statusCodes == [321])
        #expect(harness.room.occupant(for: address(Coven.hag)) == nil)
        #expect(harness.room.record.affiliations["hag66@shakespeare.lit"] == nil)
        #expect(only(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag)?.errorCondition == .registrationRequired)
    }

    @Test("losing membership of an open room only changes the affiliation shown")
    func revokeMembershipOpen() throws {
        var harness = RoomHarness.open(affiliations: ["hag66@shakespeare.lit": .member])
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.admin(Coven.crone, "<item affiliation='none' jid='hag66@shakespeare.lit'/>")
        let told = try #require(only(actions, to: Coven.hag))
        #expect(told.stanzaType == nil)
        #expect(told.mucItem?[attribute: "affiliation"] == "none")
        #expect(harness.room.occupant(for: address(Coven.hag)) != nil)
    }

    @Test("a list of changes is applied whole or not at all")
    func atomicList() {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin])
        harness.join(Coven.wicca, as: "secondwitch")
        let actions = harness.admin(Coven.wicca, "<item affiliation='member' jid='hecate@shakespeare.lit'/><item affiliation='outcast' jid='crone1@shakespeare.lit'/>")
        #expect(only(actions, to: Coven.wicca)?.errorCondition == .notAllowed)
        #expect(harness.room.record.affiliation(of: address("hecate@shakespeare.lit")) == .none)
    }

    // MARK: - Owners and admins (§10.3–§10.8)

    @Test("the last owner may not give up ownership: conflict; with another owner they may")
    func lastOwner() {
        var harness = RoomHarness.open()
        #expect(only(harness.admin(Coven.crone, "<item affiliation='admin' jid='crone1@shakespeare.lit'/>"), to: Coven.crone)?.errorCondition == .conflict)
        #expect(harness.room.record.affiliation(of: address(Coven.crone)) == .owner)
        harness.admin(Coven.crone, "<item affiliation='owner' jid='wiccarocks@shakespeare.lit'/>")
        #expect(harness.room.record.affiliation(of: address(Coven.wicca)) == .owner)
        let stepDown = harness.admin(Coven.crone, "<item affiliation='admin' jid='crone1@shakespeare.lit'/>")
        #expect(sent(stepDown, to: Coven.crone).first { $0.name == "iq" }?.stanzaType == "result")
        #expect(harness.room.record.affiliation(of: address(Coven.crone)) == .admin)
    }

    @Test("an admin may not ban or demote an owner: not-allowed")
    func adminVersusOwner() {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin])
        harness.join(Coven.wicca, as: "secondwitch")
        #expect(only(harness.admin(Coven.wicca, "<item affiliation='outcast' jid='crone1@shakespeare.lit'/>"), to: Coven.wicca)?.errorCondition == .notAllowed)
        #expect(only(harness.admin(Coven.wicca, "<item affiliation='member' jid='crone1@shakespeare.lit'/>"), to: Coven.wicca)?.errorCondition == .notAllowed)
        #expect(harness.room.record.affiliation(of: address(Coven.crone)) == .owner)
    }

    @Test("only owners edit the owner and admin lists: forbidden for an admin (§10.3, §10.6)")
    func adminGrantsOwner() {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin])
        harness.join(Coven.wicca, as: "secondwitch")
        let owner = harness.admin(Coven.wicca, "<item affiliation='owner' jid='hecate@shakespeare.lit'/>")
        let admin = harness.admin(Coven.wicca, "<item affiliation='admin' jid='hecate@shakespeare.lit'/>")
        #expect(harness.room.record.affiliation(of: address("hecate@shakespeare.lit")) == .none)
        #expect(only(owner, to: Coven.wicca)?.errorCondition == .forbidden)
        #expect(only(admin, to: Coven.wicca)?.errorCondition == .forbidden)
    }

    @Test("someone who is not an admin may not change affiliations: forbidden (§9)")
    func nonAdminAffiliation() {
        var harness = RoomHarness.open(affiliations: ["hag66@shakespeare.lit": .member])
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.admin(Coven.hag, "<item affiliation='outcast' jid='hecate@shakespeare.lit'/>")
        #expect(harness.room.record.affiliation(of: address("hecate@shakespeare.lit")) == .none)
        #expect(only(actions, to: Coven.hag)?.errorCondition == .forbidden)
    }

    @Test("an unknown affiliation is a bad request")
    func unknownAffiliation() {
        var harness = RoomHarness.open()
        #expect(only(harness.admin(Coven.crone, "<item affiliation='king' jid='hecate@shakespeare.lit'/>"), to: Coven.crone)?.errorCondition == .badRequest)
        #expect(only(harness.admin(Coven.crone, "<item affiliation='member'/>"), to: Coven.crone)?.errorCondition == .badRequest)
    }

    @Test("admins made in the room become moderators; an owner made admin keeps moderating")
    func grantAdmin() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.admin(Coven.crone, "<item affiliation='admin' jid='hag66@shakespeare.lit'/>")
        let told = try #require(only(actions, to: Coven.hag))
        #expect(told.mucItem?[attribute: "affiliation"] == "admin")
        #expect(told.mucItem?[attribute: "role"] == "moderator")
        #expect(harness.room.occupants["thirdwitch"]?.role == .moderator)
    }

    // MARK: - Lists (§8.5, §9.5, §10.5)

    @Test("moderators list roles; admins list affiliations; others are forbidden")
    func lists() throws {
        var harness = RoomHarness.open(affiliations: ["hecate@shakespeare.lit": .member, "wiccarocks@shakespeare.lit": .admin]) { $0.moderated = true }
        harness.join(Coven.hag, as: "thirdwitch")
        harness.join(Coven.hecate, as: "hecate")
        harness.admin(Coven.crone, "<item nick='thirdwitch' role='participant'/>")

        let voice = harness.iq(Coven.crone, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item role='participant'/></query>")
        let voiceItems = try #require(only(voice, to: Coven.crone)?.child(named: "query", namespace: MUCNamespace.admin)).children(named: "item")
        #expect(voiceItems.map { $0[attribute: "nick"] } == ["hecate", "thirdwitch"])
        #expect(voiceItems.allSatisfy { $0[attribute: "role"] == "participant" })

        let members = harness.iq(Coven.crone, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>")
        let memberItems = try #require(only(members, to: Coven.crone)?.child(named: "query", namespace: MUCNamespace.admin)).children(named: "item")
        #expect(memberItems.map { $0[attribute: "jid"] } == ["hecate@shakespeare.lit"])
        #expect(memberItems.first?[attribute: "affiliation"] == "member")

        let admins = harness.iq(Coven.crone, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='admin'/></query>")
        #expect(only(admins, to: Coven.crone)?.child(named: "query")?.children(named: "item").map { $0[attribute: "jid"] } == ["wiccarocks@shakespeare.lit"])

        #expect(only(harness.iq(Coven.hag, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item role='participant'/></query>"), to: Coven.hag)?.errorCondition == .forbidden)
        #expect(only(harness.iq(Coven.hag, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query>"), to: Coven.hag)?.errorCondition == .forbidden)
        #expect(only(harness.iq(Coven.crone, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item role='god'/></query>"), to: Coven.crone)?.errorCondition == .badRequest)
        #expect(only(harness.iq(Coven.crone, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'/>"), to: Coven.crone)?.errorCondition == .badRequest)
    }

    @Test("members of a members-only room may read its member list")
    func memberReadsMembers() {
        var harness = RoomHarness.open(affiliations: ["hag66@shakespeare.lit": .member]) { $0.membersOnly = true }
        let list = harness.iq(Coven.hag, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>")
        #expect(only(list, to: Coven.hag)?.stanzaType == "result")
    }
}
