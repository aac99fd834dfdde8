import Foundation
import Testing
import XMPPCore
@testable import XMPPServerModules

@Suite("Room: owners configure, destroy; registration; IQs between occupants (XEP-0045 §7.7, §7.10, §10; XEP-0410)")
struct RoomOwnerTests {
    private static let ownerGet = "<query xmlns='http://jabber.org/protocol/muc#owner'/>"

    // MARK: - Configuration (§10.1.3, §10.2)

    @Test("the owner gets the muc#roomconfig form; others are forbidden")
    func ownerGet() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin]) { $0.name = "A Dark Cave" }
        let actions = harness.iq(Coven.crone, "get", Self.ownerGet, id: "config1")
        let result = try #require(only(actions, to: Coven.crone))
        #expect(result.stanzaType == "result")
        #expect(result[attribute: "id"] == "config1")
        let query = try #require(result.child(named: "query", namespace: MUCNamespace.owner))
        let form = try #require(DataForm(in: query))
        #expect(form.type == "form")
        #expect(form.formType == "http://jabber.org/protocol/muc#roomconfig")
        #expect(form.value("muc#roomconfig_roomname") == "A Dark Cave")
        #expect(form.values("muc#roomconfig_roomowners") == ["crone1@shakespeare.lit"])
        #expect(form.values("muc#roomconfig_roomadmins") == ["wiccarocks@shakespeare.lit"])
        #expect(only(harness.iq(Coven.wicca, "get", Self.ownerGet), to: Coven.wicca)?.errorCondition == .forbidden)
        #expect(only(harness.configure(Coven.wicca, [("muc#roomconfig_roomname", ["Mine"])]), to: Coven.wicca)?.errorCondition == .forbidden)
        #expect(harness.room.configuration.name == "A Dark Cave")
    }

    @Test("submitting a form applies it, saves, and tells occupants 104 for a non-privacy change")
    func submit() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.configure(Coven.crone, [("muc#roomconfig_roomname", ["A Dark Cave"]), ("muc#roomconfig_persistentroom", ["1"])])
        #expect(sent(actions, to: Coven.crone).first { $0.name == "iq" }?.stanzaType == "result")
        #expect(saves(actions))
        #expect(harness.room.configuration.name == "A Dark Cave")
        #expect(harness.room.configuration.persistent)
        let notice = try #require(only(actions, to: Coven.hag))
        #expect(notice.name == "message")
        #expect(notice[attribute: "from"] == Coven.room)
        #expect(notice.stanzaType == "groupchat")
        #expect(notice.statusCodes == [104])
        #expect(notice.child(named: "body") == nil)
    }

    @Test("privacy changes are announced with their own codes: 172 non-anonymous, 171 logging off")
    func privacyCodes() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let anonymity = harness.configure(Coven.crone, [("muc#roomconfig_whois", ["anyone"])])
        #expect(only(anonymity, to: Coven.hag)?.statusCodes == [172])
        let logging = harness.configure(Coven.crone, [("muc#roomconfig_enablelogging", ["0"])])
        #expect(only(logging, to: Coven.hag)?.statusCodes == [171])
        let nothing = harness.configure(Coven.crone, [("muc#roomconfig_enablelogging", ["0"])])
        #expect(sent(nothing, to: Coven.hag).isEmpty)
    }

    @Test("bad forms are refused and change nothing")
    func badForms() {
        var harness = RoomHarness.open()
        #expect(only(harness.configure(Coven.crone, [("muc#roomconfig_passwordprotectedroom", ["1"])]), to: Coven.crone)?.errorCondition == .notAcceptable)
        #expect(only(harness.configure(Coven.crone, [("muc#roomconfig_whois", ["everyone"])]), to: Coven.crone)?.errorCondition == .badRequest)
        let wrongType = harness.iq(Coven.crone, "set", """
            <query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>urn:example:other</value></field></x></query>
            """)
        #expect(only(wrongType, to: Coven.crone)?.errorCondition == .badRequest)
        #expect(only(harness.iq(Coven.crone, "set", Self.ownerGet), to: Coven.crone)?.errorCondition == .badRequest)
        #expect(harness.room.configuration == RoomConfiguration())
    }

    @Test("switching to members-only removes non-members with 322; members stay")
    func membersOnlySwitch() throws {
        var harness = RoomHarness.open(affiliations: ["hecate@shakespeare.lit": .member])
        harness.join(Coven.hecate, as: "hecate")
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.configure(Coven.crone, [("muc#roomconfig_membersonly", ["1"])])
        let removed = try #require(sent(actions, to: Coven.hag).first { $0.isPresence })
        #expect(removed.stanzaType == "unavailable")
        #expect(Set(removed.statusCodes) == [110, 322])
        #expect(removed.mucItem?[attribute: "role"] == "none")
        #expect(sent(actions, to: Coven.hecate).first { $0.isPresence }?.statusCodes == [322])
        #expect(harness.room.occupant(for: address(Coven.hag)) == nil)
        #expect(harness.room.occupant(for: address(Coven.hecate)) != nil)
        #expect(harness.room.occupant(for: address(Coven.crone)) != nil)
    }

    @Test("in a room made moderated newcomers without affiliation are visitors; unmoderating gives visitors voice")
    func moderationSwitch() throws {
        var harness = RoomHarness.open(affiliations: ["hecate@shakespeare.lit": .member])
        harness.join(Coven.hag, as: "thirdwitch")
        harness.configure(Coven.crone, [("muc#roomconfig_moderatedroom", ["1"])])
        // Voice already held is kept.
        #expect(harness.room.occupants["thirdwitch"]?.role == .participant)
        harness.join(Coven.hecate, as: "hecate")
        harness.join(Coven.wicca, as: "secondwitch")
        #expect(harness.room.occupants["hecate"]?.role == .participant)
        #expect(harness.room.occupants["secondwitch"]?.role == .visitor)
        let unmoderated = harness.configure(Coven.crone, [("muc#roomconfig_moderatedroom", ["0"])])
        #expect(harness.room.occupants["secondwitch"]?.role == .participant)
        #expect(sent(unmoderated, to: Coven.crone).contains { $0[attribute: "from"] == Coven.occupant("secondwitch") && $0.mucItem?[attribute: "role"] == "participant" })
        #expect(sent(unmoderated, to: Coven.wicca).contains { $0.statusCodes.contains(110) })
    }

    @Test("the owner list in the form replaces the owners, and may not be emptied")
    func ownerListInForm() {
        var harness = RoomHarness.open()
        harness.configure(Coven.crone, [("muc#roomconfig_roomowners", ["crone1@shakespeare.lit", "wiccarocks@shakespeare.lit"])])
        #expect(harness.room.record.jids(with: .owner) == [address("crone1@shakespeare.lit"), address("wiccarocks@shakespeare.lit")])
        #expect(only(harness.configure(Coven.crone, [("muc#roomconfig_roomowners", [])]), to: Coven.crone)?.errorCondition == .conflict)
        #expect(harness.room.record.jids(with: .owner).count == 2)
        harness.configure(Coven.crone, [("muc#roomconfig_roomadmins", ["hag66@shakespeare.lit"])])
        #expect(harness.room.record.affiliation(of: address(Coven.hag)) == .admin)
    }

    @Test("cancelling the first configuration of a new room destroys it (§10.1.3)")
    func cancelNewRoom() throws {
        var harness = RoomHarness.created(speaksMUC: true)
        harness.join(Coven.crone, as: "firstwitch")
        let actions = harness.iq(Coven.crone, "set", "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query>", id: "cancel1")
        #expect(sent(actions, to: Coven.crone).first { $0.name == "iq" }?.stanzaType == "result")
        #expect(destroys(actions))
        #expect(harness.room.isEmpty)
    }

    @Test("cancelling a later configuration changes nothing")
    func cancelLater() throws {
        var harness = RoomHarness.open()
        let actions = harness.iq(Coven.crone, "set", "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query>")
        #expect(only(actions, to: Coven.crone)?.stanzaType == "result")
        #expect(!destroys(actions))
        #expect(harness.room.occupantCount == 1)
    }

    @Test("a reserved room: the creator fetches the form and submits it, which unlocks the room without 104")
    func reservedRoom() throws {
        var harness = RoomHarness.created(speaksMUC: true)
        harness.join(Coven.crone, as: "firstwitch")
        #expect(only(harness.iq(Coven.crone, "get", Self.ownerGet), to: Coven.crone)?.stanzaType == "result")
        let actions = harness.configure(Coven.crone, [("muc#roomconfig_roomname", ["A Dark Cave"])])
        #expect(!harness.room.locked)
        #expect(!sent(actions).contains { $0.name == "message" })
        #expect(sent(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag).allSatisfy { $0.errorCondition == nil })
    }

    // MARK: - Destruction (§10.9)

    @Test("destroying: one unavailable presence per occupant with the alternate venue and reason, then the room is gone")
    func destroy() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin])
        harness.join(Coven.wicca, as: "secondwitch")
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.iq(Coven.crone, "set", """
            <query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='darkcave@chat.shakespeare.lit'>\
            <reason>Macbeth doth come.</reason><password>cauldronburn</password></destroy></query>
            """, id: "begone")
        for (recipient, nick) in [(Coven.crone, "firstwitch"), (Coven.wicca, "secondwitch"), (Coven.hag, "thirdwitch")] {
            let presences = sent(actions, to: recipient).filter(\.isPresence)
            try #require(presences.count == 1)
            let presence = presences[0]
            #expect(presence.stanzaType == "unavailable")
            #expect(presence[attribute: "from"] == Coven.occupant(nick))
            #expect(presence.mucItem?[attribute: "affiliation"] == "none")
            #expect(presence.mucItem?[attribute: "role"] == "none")
            let destroy = try #require(presence.mucUser?.child(named: "destroy"))
            #expect(destroy[attribute: "jid"] == "darkcave@chat.shakespeare.lit")
            #expect(destroy.child(named: "reason")?.text == "Macbeth doth come.")
            #expect(destroy.child(named: "password")?.text == "cauldronburn")
        }
        let result = try #require(sent(actions, to: Coven.crone).first { $0.name == "iq" })
        #expect(result.stanzaType == "result")
        #expect(result[attribute: "id"] == "begone")
        #expect(destroys(actions))
        #expect(harness.room.isEmpty)
    }

    @Test("a destroy element is sent even without venue or reason; non-owners may not destroy")
    func destroyPlainAndForbidden() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin])
        harness.join(Coven.wicca, as: "secondwitch")
        let refused = harness.iq(Coven.wicca, "set", "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query>")
        #expect(only(refused, to: Coven.wicca)?.errorCondition == .forbidden)
        #expect(!destroys(refused))
        let actions = harness.iq(Coven.crone, "set", "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query>")
        #expect(sent(actions, to: Coven.wicca).first?.mucUser?.child(named: "destroy") != nil)
        #expect(destroys(actions))
    }

    // MARK: - Registration (§7.10, §7.12)

    private static let registerGet = "<query xmlns='jabber:iq:register'/>"
    private static func registerSet(_ nick: String) -> String {
        """
        <query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
        <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>\
        <field var='muc#register_roomnick'><value>\(nick)</value></field></x></query>
        """
    }

    @Test("registering: the form, the nickname reserved, membership, and the reserved nickname discovered")
    func register() throws {
        var harness = RoomHarness.open()
        let form = try #require(only(harness.iq(Coven.hag, "get", Self.registerGet), to: Coven.hag))
        #expect(form.stanzaType == "result")
        let registerQuery = try #require(form.child(named: "query", namespace: "jabber:iq:register"))
        let registration = try #require(DataForm(in: registerQuery))
        #expect(registration.formType == "http://jabber.org/protocol/muc#register")
        #expect(registration.contains("muc#register_roomnick"))

        let done = harness.iq(Coven.hag, "set", Self.registerSet("thirdwitch"), id: "reg2")
        #expect(only(done, to: Coven.hag)?.stanzaType == "result")
        #expect(saves(done))
        #expect(harness.room.record.affiliations["hag66@shakespeare.lit"] == RoomRecord.Affiliation(affiliation: .member, nick: "thirdwitch"))

        let again = try #require(only(harness.iq(Coven.hag, "get", Self.registerGet), to: Coven.hag)?.child(named: "query"))
        #expect(again.child(named: "registered") != nil)
        #expect(again.child(named: "username")?.text == "thirdwitch")

        let disco = harness.iq(Coven.hag, "get", "<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/>")
        let identity = try #require(only(disco, to: Coven.hag)?.child(named: "query")?.child(named: "identity"))
        #expect(identity[attribute: "name"] == "thirdwitch")
        #expect(identity[attribute: "category"] == "conference")
        #expect(identity[attribute: "type"] == "text")
        let none = harness.iq(Coven.hecate, "get", "<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/>")
        #expect(only(none, to: Coven.hecate)?.child(named: "query")?.children(named: "identity").isEmpty == true)

        // The nickname is now the registrant's.
        #expect(only(harness.join(Coven.hecate, as: "thirdwitch"), to: Coven.hecate)?.errorCondition == .conflict)
    }

    @Test("an occupant who registers is shown as a member")
    func registerInRoom() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.iq(Coven.hag, "set", Self.registerSet("thirdwitch"))
        #expect(sent(actions, to: Coven.crone).first?.mucItem?[attribute: "affiliation"] == "member")
    }

    @Test("registration errors: a nickname reserved by another is a conflict, a bad form a bad request, an outcast forbidden")
    func registerErrors() {
        var harness = RoomHarness.open(affiliations: ["hecate@shakespeare.lit": .outcast])
        harness.iq(Coven.hag, "set", Self.registerSet("thirdwitch"))
        #expect(only(harness.iq(Coven.wicca, "set", Self.registerSet("thirdwitch")), to: Coven.wicca)?.errorCondition == .conflict)
        #expect(only(harness.iq(Coven.wicca, "set", Self.registerSet("firstwitch")), to: Coven.wicca)?.errorCondition == .conflict, "in use in the room")
        #expect(only(harness.iq(Coven.wicca, "set", "<query xmlns='jabber:iq:register'/>"), to: Coven.wicca)?.errorCondition == .badRequest)
        #expect(only(harness.iq(Coven.hecate, "set", Self.registerSet("hecate")), to: Coven.hecate)?.errorCondition == .forbidden)
    }

    @Test("a members-only room does not take registrations from non-members: not-allowed, for the form too")
    func registerMembersOnly() {
        var harness = RoomHarness.open { $0.membersOnly = true }
        #expect(only(harness.iq(Coven.hag, "set", Self.registerSet("thirdwitch")), to: Coven.hag)?.errorCondition == .notAllowed)
        #expect(harness.room.record.affiliation(of: address(Coven.hag)) == .none)
        let form = harness.iq(Coven.hag, "get", Self.registerGet)
        #expect(only(form, to: Coven.hag)?.errorCondition == .notAllowed)
    }

    @Test("removing a registration frees the nickname")
    func unregister() {
        var harness = RoomHarness.open()
        harness.iq(Coven.hag, "set", Self.registerSet("thirdwitch"))
        let actions = harness.iq(Coven.hag, "set", "<query xmlns='jabber:iq:register'><remove/></query>")
        #expect(only(actions, to: Coven.hag)?.stanzaType == "result")
        #expect(!harness.room.isReserved("thirdwitch", byOtherThan: address(Coven.hecate)))
        #expect(only(harness.iq(Coven.hecate, "set", "<query xmlns='jabber:iq:register'><remove/></query>"), to: Coven.hecate)?.errorCondition == .itemNotFound)
    }

    // MARK: - Discovery (§6.4)

    @Test("disco#info on the room: conference identity, MUC features with the muc_* pairs, muc#roominfo")
    func discoInfo() throws {
        var harness = RoomHarness.open { $0.name = "A Dark Cave" }
        let result = try #require(only(harness.iq(Coven.hag, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"), to: Coven.hag))
        let query = try #require(result.child(named: "query", namespace: XMPPNamespace.discoInfo))
        let identity = try #require(query.child(named: "identity"))
        #expect(identity[attribute: "category"] == "conference")
        #expect(identity[attribute: "type"] == "text")
        #expect(identity[attribute: "name"] == "A Dark Cave")
        let features = Set(query.children(named: "feature").compactMap { $0[attribute: "var"] })
        #expect(features.isSuperset(of: ["http://jabber.org/protocol/muc", "muc_temporary", "muc_public", "muc_open", "muc_unmoderated", "muc_semianonymous", "muc_unsecured"]))
        #expect(DataForm(in: query)?.formType == "http://jabber.org/protocol/muc#roominfo")
        #expect(DataForm(in: query)?.value("muc#roominfo_occupants") == "1")
    }

    @Test("an unknown IQ to the room is feature-not-implemented; results to the room are dropped")
    func unknownIQ() {
        var harness = RoomHarness.open()
        #expect(only(harness.iq(Coven.hag, "get", "<query xmlns='urn:example:nothing'/>"), to: Coven.hag)?.errorCondition == .featureNotImplemented)
        #expect(harness.iq(Coven.hag, "result", "").isEmpty)
    }

    // MARK: - IQs between occupants (§7.7) and self-ping (XEP-0410)

    @Test("an IQ to an occupant is relayed from the asker's occupant JID, and the answer finds its way back with the original id")
    func iqRelay() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        for originalID in ["v1", "with~tilde~s", "ümlaut id", ""] {
            let question = harness.iq(Coven.hag, "get", "<vCard xmlns='vcard-temp'/>", id: originalID, to: Coven.occupant("firstwitch"))
            let relayed = try #require(only(question, to: Coven.crone))
            #expect(relayed[attribute: "from"] == Coven.occupant("thirdwitch"))
            #expect(relayed.stanzaType == "get")
            #expect(relayed.child(named: "vCard", namespace: "vcard-temp") != nil)
            let relayedID = try #require(relayed[attribute: "id"])
            #expect(!relayedID.contains(Coven.hag), "the asker's real JID is not shown in clear")

            let answer = harness.iq(Coven.crone, "result", "<vCard xmlns='vcard-temp'><FN>Crone</FN></vCard>", id: relayedID, to: Coven.occupant("thirdwitch"))
            let back = try #require(only(answer, to: Coven.hag))
            #expect(back[attribute: "from"] == Coven.occupant("firstwitch"))
            #expect(back[attribute: "id"] == originalID)
            #expect(back.stanzaType == "result")
            #expect(back.child(named: "vCard")?.child(named: "FN")?.text == "Crone")
        }
    }

    @Test("answers that do not decode, or name someone not under that nickname, are dropped")
    func iqRelayForged() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        harness.join(Coven.wicca, as: "secondwitch")
        let relayed = try #require(only(harness.iq(Coven.hag, "get", "<ping xmlns='urn:xmpp:ping'/>", id: "p1", to: Coven.occupant("firstwitch")), to: Coven.crone))
        let relayedID = try #require(relayed[attribute: "id"])
        // Addressed to another occupant than the asker: dropped.
        #expect(harness.iq(Coven.crone, "result", "", id: relayedID, to: Coven.occupant("secondwitch")).isEmpty)
        // From someone not in the room: dropped.
        #expect(harness.iq(Coven.hecate, "result", "", id: relayedID, to: Coven.occupant("thirdwitch")).isEmpty)
        // Ids the room never made: dropped.
        #expect(harness.iq(Coven.crone, "result", "", id: "plain", to: Coven.occupant("thirdwitch")).isEmpty)
        #expect(harness.iq(Coven.crone, "result", "", id: "muc-relay~!!!~x", to: Coven.occupant("thirdwitch")).isEmpty)
    }

    @Test("IQs to occupants: an outsider gets not-acceptable, an unknown nick item-not-found")
    func iqRelayErrors() {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        #expect(only(harness.iq(Coven.hecate, "get", "<vCard xmlns='vcard-temp'/>", to: Coven.occupant("thirdwitch")), to: Coven.hecate)?.errorCondition == .notAcceptable)
        #expect(only(harness.iq(Coven.hag, "get", "<vCard xmlns='vcard-temp'/>", to: Coven.occupant("nobody")), to: Coven.hag)?.errorCondition == .itemNotFound)
    }

    @Test("self-ping: the room answers for a joined client, not-acceptable for one that is not (XEP-0410)")
    func selfPing() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let answer = try #require(only(harness.iq(Coven.hag, "get", "<ping xmlns='urn:xmpp:ping'/>", id: "s61", to: Coven.occupant("thirdwitch")), to: Coven.hag))
        #expect(answer.stanzaType == "result")
        #expect(answer[attribute: "id"] == "s61")
        #expect(answer[attribute: "from"] == Coven.occupant("thirdwitch"))
        #expect(sent(harness.iq(Coven.hag, "get", "<ping xmlns='urn:xmpp:ping'/>", to: Coven.occupant("thirdwitch"))).count == 1, "nothing is relayed to the occupant itself")
        let ghost = harness.iq(Coven.hecate, "get", "<ping xmlns='urn:xmpp:ping'/>", id: "s62", to: Coven.occupant("thirdwitch"))
        #expect(only(ghost, to: Coven.hecate)?.errorCondition == .notAcceptable)
    }
}
