import Foundation
import Testing
import XMPPCore
@testable import XMPPServerModules

@Suite("Room: history, groupchat, subject, private messages, invitations, voice (XEP-0045 §7.2.13–§7.9, §7.13, §8.6)")
struct RoomMessageTests {
    // MARK: - History selection (§7.2.14)

    private static func entries(_ sizes: [Int], every seconds: Double = 60) -> [HistoryEntry] {
        sizes.enumerated().map { index, size in
            HistoryEntry(
                message: xml("<message type='groupchat'><body>\(index)</body></message>"), stanzaID: "s\(index)",
                stamp: Coven.epoch + Double(index) * seconds, characters: size)
        }
    }

    private static func request(_ attributes: String) -> Room.HistoryRequest {
        Room.HistoryRequest(xml("<history xmlns='http://jabber.org/protocol/muc' \(attributes)/>"))
    }

    @Test("no history element: everything the room keeps")
    func historyAll() {
        let history = Self.entries([10, 10, 10])
        #expect(Room.HistoryRequest(nil).select(history, now: Coven.epoch + 1000).map(\.stanzaID) == ["s0", "s1", "s2"])
    }

    @Test("maxstanzas keeps the newest, oldest first")
    func historyMaxStanzas() {
        let history = Self.entries([10, 10, 10, 10])
        #expect(Self.request("maxstanzas='2'").select(history, now: Coven.epoch).map(\.stanzaID) == ["s2", "s3"])
        #expect(Self.request("maxstanzas='0'").select(history, now: Coven.epoch).isEmpty)
        #expect(Self.request("maxstanzas='10'").select(history, now: Coven.epoch).count == 4)
    }

    @Test("maxchars sends whole stanzas whose total stays within the limit; 0 sends none")
    func historyMaxChars() {
        let history = Self.entries([100, 30, 40])
        #expect(Self.request("maxchars='70'").select(history, now: Coven.epoch).map(\.stanzaID) == ["s1", "s2"])
        #expect(Self.request("maxchars='69'").select(history, now: Coven.epoch).map(\.stanzaID) == ["s2"])
        #expect(Self.request("maxchars='39'").select(history, now: Coven.epoch).isEmpty)
        #expect(Self.request("maxchars='0'").select(history, now: Coven.epoch).isEmpty)
    }

    @Test("seconds keeps what was sent within the last X seconds")
    func historySeconds() {
        let history = Self.entries([1, 1, 1, 1], every: 60)  // at 0, 60, 120, 180
        #expect(Self.request("seconds='90'").select(history, now: Coven.epoch + 200).map(\.stanzaID) == ["s2", "s3"])
        #expect(Self.request("seconds='10'").select(history, now: Coven.epoch + 200).isEmpty)
    }

    @Test("since keeps what was sent after the date")
    func historySince() {
        let history = Self.entries([1, 1, 1, 1], every: 60)
        let since = XMPPDateTime.string(Coven.epoch + 90)
        #expect(Self.request("since='\(since)'").select(history, now: Coven.epoch + 200).map(\.stanzaID) == ["s2", "s3"])
        #expect(Self.request("since='1970-01-01T00:00:00Z'").select(history, now: Coven.epoch + 200).count == 4)
    }

    @Test("limits combine: the smallest history meeting all of them")
    func historyCombined() {
        let history = Self.entries([10, 10, 10, 10], every: 60)
        #expect(Self.request("maxstanzas='3' seconds='100'").select(history, now: Coven.epoch + 180).map(\.stanzaID) == ["s2", "s3"])
        #expect(Self.request("maxstanzas='3' maxchars='15'").select(history, now: Coven.epoch + 180).map(\.stanzaID) == ["s3"])
    }

    @Test("a newcomer asking for one stanza gets the last message only, stamped with delay from the room")
    func historyOnJoin() throws {
        var harness = RoomHarness.open()
        harness.groupchat(Coven.crone, "one")
        harness.groupchat(Coven.crone, "two")
        let toHag = sent(harness.join(Coven.hag, as: "thirdwitch", payload: "<history maxstanzas='1'/>"), to: Coven.hag)
        let messages = toHag.filter { $0.child(named: "body") != nil }
        #expect(messages.map { $0.child(named: "body")?.text } == ["two"])
        #expect(messages.first?.child(named: "delay", namespace: "urn:xmpp:delay")?[attribute: "from"] == Coven.room)
        var none = RoomHarness.open()
        none.groupchat(Coven.crone, "one")
        #expect(sent(none.join(Coven.hag, as: "x", payload: "<history maxchars='0'/>"), to: Coven.hag).filter { $0.child(named: "body") != nil }.isEmpty)
    }

    @Test("the room keeps at most its configured history length")
    func historyLength() {
        var harness = RoomHarness.open { $0.historyLength = 2 }
        for index in 0..<5 { harness.groupchat(Coven.crone, "m\(index)") }
        #expect(harness.room.history.map { $0.message.child(named: "body")?.text } == ["m3", "m4"])
        var none = RoomHarness.open { $0.historyLength = 0 }
        none.groupchat(Coven.crone, "m")
        #expect(none.room.history.isEmpty)
    }

    // MARK: - Groupchat (§7.4)

    @Test("a groupchat message goes to every occupant from the sender's occupant JID, with the room's stanza-id and the occupant-id")
    func groupchat() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.groupchat(Coven.hag, "Harpier cries 'Tis time, 'tis time.", id: "hysf1v37")
        for recipient in [Coven.crone, Coven.hag] {
            let message = try #require(only(actions, to: recipient))
            #expect(message[attribute: "from"] == Coven.occupant("thirdwitch"))
            #expect(message[attribute: "id"] == "hysf1v37")
            #expect(message.stanzaType == "groupchat")
            #expect(message.child(named: "body")?.text == "Harpier cries 'Tis time, 'tis time.")
            let stanzaIDs = message.children(named: "stanza-id", namespace: "urn:xmpp:sid:0")
            #expect(stanzaIDs.count == 1)
            #expect(stanzaIDs.first?[attribute: "by"] == Coven.room)
            #expect(stanzaIDs.first?[attribute: "id"] == "id-1")
            #expect(message.occupantIDValue == harness.room.occupantID(for: address(Coven.hag)))
        }
        let archived = actions.compactMap { action -> (String, Element)? in
            if case .archive(let message, let stanzaID, let stamp) = action {
                #expect(stamp == Coven.epoch)
                #expect(message[attribute: "to"] == nil)
                return (stanzaID, message)
            }
            return nil
        }
        #expect(archived.count == 1)
        #expect(archived.first?.0 == "id-1")
        // What is archived is the relayed message, from the sender's occupant JID.
        #expect(archived.first?.1.from == address("\(Coven.room)/thirdwitch"))
        #expect(harness.room.history.map(\.stanzaID) == ["id-1"])
    }

    @Test("stanza-ids claiming to be the room's and occupant-ids from the client are removed; others' stanza-ids stay")
    func forgedIDs() throws {
        var harness = RoomHarness.open()
        let actions = harness.groupchat(Coven.crone, "hi", extra: """
            <stanza-id xmlns='urn:xmpp:sid:0' by='\(Coven.room)' id='forged'/>\
            <stanza-id xmlns='urn:xmpp:sid:0' by='crone1@shakespeare.lit' id='mine'/>\
            <occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged-occupant'/>
            """)
        let message = try #require(only(actions, to: Coven.crone))
        let ids = message.children(named: "stanza-id", namespace: "urn:xmpp:sid:0")
        #expect(ids.filter { $0[attribute: "by"] == Coven.room }.map { $0[attribute: "id"] } == ["id-1"])
        #expect(ids.contains { $0[attribute: "id"] == "mine" })
        #expect(message.children(named: "occupant-id", namespace: MUCNamespace.occupantID).map { $0[attribute: "id"] } == [harness.room.occupantID(for: address(Coven.crone))])
    }

    @Test("messages hinted no-store are relayed but neither kept nor archived")
    func noStore() {
        var harness = RoomHarness.open()
        let actions = harness.groupchat(Coven.crone, "secret", extra: "<no-store xmlns='urn:xmpp:hints'/>")
        #expect(sent(actions).count == 1)
        #expect(!actions.contains { if case .archive = $0 { return true } else { return false } })
        #expect(harness.room.history.isEmpty)
    }

    @Test("a room that does not archive keeps history but asks for no archiving")
    func notArchived() {
        var harness = RoomHarness.open { $0.archived = false }
        let actions = harness.groupchat(Coven.crone, "hi")
        #expect(!actions.contains { if case .archive = $0 { return true } else { return false } })
        #expect(harness.room.history.count == 1)
    }

    @Test("a visitor in a moderated room may not speak: forbidden, nothing relayed")
    func visitorSilenced() throws {
        var harness = RoomHarness.open { $0.moderated = true }
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.groupchat(Coven.hag, "hello?")
        let error = try #require(only(actions, to: Coven.hag))
        #expect(error.errorCondition == .forbidden)
        #expect(sent(actions, to: Coven.crone).isEmpty)
        #expect(harness.room.history.isEmpty)
    }

    @Test("someone not in the room may not send groupchat messages: not-acceptable")
    func outsiderGroupchat() {
        var harness = RoomHarness.open()
        let actions = harness.groupchat(Coven.hag, "let me in")
        #expect(only(actions, to: Coven.hag)?.errorCondition == .notAcceptable)
        #expect(sent(actions, to: Coven.crone).isEmpty)
    }

    // MARK: - Subject (§8.1)

    @Test("a moderator changes the subject: relayed to all, saved, shown to newcomers from the setter")
    func subjectByModerator() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("<message from='\(Coven.crone)' to='\(Coven.room)' type='groupchat' id='lh2bs617'><subject>Fire Burn and Cauldron Bubble!</subject></message>")
        #expect(only(actions, to: Coven.hag)?.child(named: "subject")?.text == "Fire Burn and Cauldron Bubble!")
        #expect(only(actions, to: Coven.hag)?[attribute: "from"] == Coven.occupant("firstwitch"))
        #expect(saves(actions))
        #expect(harness.room.record.subject == "Fire Burn and Cauldron Bubble!")
        #expect(harness.room.history.isEmpty, "subject changes are not discussion history")
        let subject = try #require(sent(harness.join(Coven.wicca, as: "secondwitch"), to: Coven.wicca).last)
        #expect(subject[attribute: "from"] == Coven.occupant("firstwitch"))
        #expect(subject.child(named: "subject")?.text == "Fire Burn and Cauldron Bubble!")

        // An empty subject clears it.
        harness.receive("<message from='\(Coven.crone)' to='\(Coven.room)' type='groupchat'><subject/></message>")
        #expect(harness.room.record.subject == "")
    }

    @Test("a participant may change the subject only when the room allows it; a visitor never")
    func subjectRules() throws {
        var closed = RoomHarness.open()
        closed.join(Coven.hag, as: "thirdwitch")
        let refused = closed.receive("<message from='\(Coven.hag)' to='\(Coven.room)' type='groupchat'><subject>mine</subject></message>")
        #expect(only(refused, to: Coven.hag)?.errorCondition == .forbidden)
        #expect(sent(refused, to: Coven.crone).isEmpty)
        #expect(closed.room.record.subject == "")

        var open = RoomHarness.open { $0.changeSubject = true }
        open.join(Coven.hag, as: "thirdwitch")
        open.receive("<message from='\(Coven.hag)' to='\(Coven.room)' type='groupchat'><subject>mine</subject></message>")
        #expect(open.room.record.subject == "mine")

        var moderated = RoomHarness.open {
            $0.changeSubject = true
            $0.moderated = true
        }
        moderated.join(Coven.hag, as: "thirdwitch")
        let visitor = moderated.receive("<message from='\(Coven.hag)' to='\(Coven.room)' type='groupchat'><subject>mine</subject></message>")
        #expect(only(visitor, to: Coven.hag)?.errorCondition == .forbidden)
    }

    @Test("a message with a subject and a body is an ordinary message, not a subject change")
    func subjectWithBody() {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("<message from='\(Coven.hag)' to='\(Coven.room)' type='groupchat'><subject>s</subject><body>b</body></message>")
        #expect(sent(actions, to: Coven.crone).count == 1)
        #expect(harness.room.record.subject == "")
        #expect(harness.room.history.count == 1)
    }

    // MARK: - Private messages (§7.5)

    @Test("a private message reaches the occupant's clients from the sender's occupant JID with a muc#user x")
    func privateMessage() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        harness.join(Coven.hagPhone, as: "thirdwitch")
        let actions = harness.receive("<message from='\(Coven.crone)' to='\(Coven.occupant("thirdwitch"))' type='chat' id='pm1'><body>I'll give thee a wind.</body></message>")
        #expect(sent(actions).count == 2)
        for session in [Coven.hag, Coven.hagPhone] {
            let message = try #require(only(actions, to: session))
            #expect(message[attribute: "from"] == Coven.occupant("firstwitch"))
            #expect(message.stanzaType == "chat")
            #expect(message[attribute: "id"] == "pm1")
            #expect(message.child(named: "body")?.text == "I'll give thee a wind.")
            #expect(message.mucUser != nil)
        }
    }

    @Test("private message errors: groupchat type is bad-request, unknown nick item-not-found, outsider not-acceptable")
    func privateMessageErrors() {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let groupchat = harness.receive("<message from='\(Coven.crone)' to='\(Coven.occupant("thirdwitch"))' type='groupchat'><body>x</body></message>")
        #expect(only(groupchat, to: Coven.crone)?.errorCondition == .badRequest)
        #expect(sent(groupchat, to: Coven.hag).isEmpty)
        let nobody = harness.receive("<message from='\(Coven.crone)' to='\(Coven.occupant("nobody"))' type='chat'><body>x</body></message>")
        #expect(only(nobody, to: Coven.crone)?.errorCondition == .itemNotFound)
        let outsider = harness.receive("<message from='\(Coven.hecate)' to='\(Coven.occupant("thirdwitch"))' type='chat'><body>x</body></message>")
        #expect(only(outsider, to: Coven.hecate)?.errorCondition == .notAcceptable)
        #expect(sent(outsider, to: Coven.hag).isEmpty)
    }

    @Test("muc#roomconfig_allowpm decides who may send private messages", arguments: [
        // (allowpm, sender's role is visitor/participant/moderator, delivered)
        (RoomConfiguration.PrivateMessages.anyone, MUCRole.visitor, true),
        (.participants, .visitor, false),
        (.participants, .participant, true),
        (.moderators, .participant, false),
        (.moderators, .moderator, true),
        (RoomConfiguration.PrivateMessages.none, .moderator, false),
    ])
    func allowPM(_ setting: RoomConfiguration.PrivateMessages, _ role: MUCRole, _ delivered: Bool) {
        let affiliation: MUCAffiliation
        switch role {
        case .moderator: affiliation = .admin
        case .participant: affiliation = .member
        default: affiliation = .none
        }
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": affiliation]) {
            $0.allowPrivateMessages = setting
            $0.moderated = true
        }
        harness.join(Coven.wicca, as: "secondwitch")
        #expect(harness.room.occupants["secondwitch"]?.role == role)
        let actions = harness.receive("<message from='\(Coven.wicca)' to='\(Coven.occupant("firstwitch"))' type='chat'><body>psst</body></message>")
        #expect(sent(actions, to: Coven.crone).count == (delivered ? 1 : 0))
        #expect((only(actions, to: delivered ? Coven.crone : Coven.wicca)?.errorCondition != nil) == !delivered)
    }

    // MARK: - Invitations (§7.8.2) and declines (§7.8.3)

    @Test("an occupant invites through the room: the invitee hears from the room, with the inviter, reason and password")
    func invite() throws {
        var harness = RoomHarness.open { $0.password = "cauldronburn" }
        let actions = harness.receive("""
            <message from='\(Coven.crone)' to='\(Coven.room)' id='nzd143v8'><x xmlns='http://jabber.org/protocol/muc#user'>\
            <invite to='hecate@shakespeare.lit'><reason>Hey Hecate, this is the place for all good witches!</reason></invite></x></message>
            """)
        let message = try #require(only(actions, to: "hecate@shakespeare.lit"))
        #expect(message[attribute: "from"] == Coven.room)
        let invite = try #require(message.mucUser?.child(named: "invite"))
        let inviter = try #require(invite[attribute: "from"].flatMap { try? JID($0) })
        #expect(inviter.bare == address(Coven.crone).bare)
        #expect(invite.child(named: "reason")?.text == "Hey Hecate, this is the place for all good witches!")
        #expect(message.mucUser?.child(named: "password")?.text == "cauldronburn")
        // An open room does not make the invitee a member.
        #expect(harness.room.record.affiliation(of: address("hecate@shakespeare.lit")) == .none)
    }

    @Test("several invitations in one message each reach their invitee")
    func multipleInvites() {
        var harness = RoomHarness.open()
        let actions = harness.receive("""
            <message from='\(Coven.crone)' to='\(Coven.room)'><x xmlns='http://jabber.org/protocol/muc#user'>\
            <invite to='hecate@shakespeare.lit'/><invite to='bard@shakespeare.lit'/></x></message>
            """)
        #expect(sent(actions, to: "hecate@shakespeare.lit").count == 1)
        #expect(sent(actions, to: "bard@shakespeare.lit").count == 1)
    }

    @Test("in a members-only room an admin's invitation adds the invitee to the member list")
    func inviteMembersOnly() throws {
        var harness = RoomHarness.open { $0.membersOnly = true }
        let actions = harness.receive("<message from='\(Coven.crone)' to='\(Coven.room)'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='hecate@shakespeare.lit'/></x></message>")
        #expect(sent(actions, to: "hecate@shakespeare.lit").count == 1)
        #expect(saves(actions))
        #expect(harness.room.record.affiliation(of: address("hecate@shakespeare.lit")) == .member)
        #expect(sent(harness.join(Coven.hecate, as: "hecate"), to: Coven.hecate).allSatisfy { $0.errorCondition == nil })
    }

    @Test("in a members-only room without member invitations a mere member may not invite: forbidden")
    func inviteForbidden() throws {
        var harness = RoomHarness.open(affiliations: ["hag66@shakespeare.lit": .member]) { $0.membersOnly = true }
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("<message from='\(Coven.hag)' to='\(Coven.room)'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='hecate@shakespeare.lit'/></x></message>")
        #expect(only(actions, to: Coven.hag)?.errorCondition == .forbidden)
        #expect(sent(actions, to: "hecate@shakespeare.lit").isEmpty)
        #expect(harness.room.record.affiliation(of: address("hecate@shakespeare.lit")) == .none)

        var allowing = RoomHarness.open(affiliations: ["hag66@shakespeare.lit": .member]) {
            $0.membersOnly = true
            $0.allowInvites = true
        }
        allowing.join(Coven.hag, as: "thirdwitch")
        let allowed = allowing.receive("<message from='\(Coven.hag)' to='\(Coven.room)'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='hecate@shakespeare.lit'/></x></message>")
        #expect(sent(allowed, to: "hecate@shakespeare.lit").count == 1)
        #expect(allowing.room.record.affiliation(of: address("hecate@shakespeare.lit")) == .member)
    }

    @Test("someone with no standing outside the room may not invite")
    func inviteOutsider() {
        var harness = RoomHarness.open()
        let actions = harness.receive("<message from='\(Coven.hag)' to='\(Coven.room)'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='hecate@shakespeare.lit'/></x></message>")
        #expect(only(actions, to: Coven.hag)?.errorCondition != nil)
        #expect(sent(actions, to: "hecate@shakespeare.lit").isEmpty)
    }

    @Test("a decline goes to the inviter from the room, naming the invitee's bare JID")
    func decline() throws {
        var harness = RoomHarness.open()
        let actions = harness.receive("""
            <message from='\(Coven.hecate)' to='\(Coven.room)' id='jk2vs61v'><x xmlns='http://jabber.org/protocol/muc#user'>\
            <decline to='crone1@shakespeare.lit'><reason>Sorry, I'm too busy right now.</reason></decline></x></message>
            """)
        let message = try #require(only(actions, to: "crone1@shakespeare.lit"))
        #expect(message[attribute: "from"] == Coven.room)
        let decline = try #require(message.mucUser?.child(named: "decline"))
        #expect(decline[attribute: "from"] == "hecate@shakespeare.lit")
        #expect(decline.child(named: "reason")?.text == "Sorry, I'm too busy right now.")
    }

    // MARK: - Voice requests (§7.13, §8.6)

    private static let voiceRequest = """
        <message from='\(Coven.hag)' to='\(Coven.room)'><x xmlns='jabber:x:data' type='submit'>\
        <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>\
        <field var='muc#role' type='list-single'><value>participant</value></field></x></message>
        """

    @Test("a visitor's voice request reaches every moderator as a muc#request approval form")
    func voiceRequest() throws {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin]) { $0.moderated = true }
        harness.join(Coven.wicca, as: "secondwitch")
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive(Self.voiceRequest)
        #expect(sent(actions).count == 2)
        for moderator in [Coven.crone, Coven.wicca] {
            let message = try #require(only(actions, to: moderator))
            #expect(message[attribute: "from"] == Coven.room)
            let form = try #require(DataForm(in: message))
            #expect(form.type == "form")
            #expect(form.formType == "http://jabber.org/protocol/muc#request")
            #expect(form.value("muc#role") == "participant")
            #expect(form.value("muc#roomnick") == "thirdwitch")
            #expect(form.value("muc#jid").flatMap { try? JID($0) }?.bare == address(Coven.hag).bare)
            #expect(form.bool("muc#request_allow") == false)
            #expect(form.fields.first { $0.name == "muc#request_allow" }?.type == "boolean")
        }
        #expect(harness.room.occupants["thirdwitch"]?.role == .visitor)
    }

    @Test("a moderator approving the request gives the visitor voice, announced to all")
    func voiceApproval() throws {
        var harness = RoomHarness.open { $0.moderated = true }
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("""
            <message from='\(Coven.crone)' to='\(Coven.room)' id='approve'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>\
            <field var='muc#role'><value>participant</value></field><field var='muc#jid'><value>\(Coven.hag)</value></field>\
            <field var='muc#roomnick'><value>thirdwitch</value></field><field var='muc#request_allow'><value>true</value></field></x></message>
            """)
        #expect(harness.room.occupants["thirdwitch"]?.role == .participant)
        #expect(only(actions, to: Coven.crone)?.mucItem?[attribute: "role"] == "participant")
        #expect(only(actions, to: Coven.hag)?.statusCodes.contains(110) == true)
        #expect(sent(harness.groupchat(Coven.hag, "at last"), to: Coven.crone).count == 1)
    }

    @Test("a moderator leaving the request unapproved changes nothing; a participant needs no voice")
    func voiceNotGranted() {
        var harness = RoomHarness.open { $0.moderated = true }
        harness.join(Coven.hag, as: "thirdwitch")
        let denied = harness.receive("""
            <message from='\(Coven.crone)' to='\(Coven.room)'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>\
            <field var='muc#roomnick'><value>thirdwitch</value></field><field var='muc#request_allow'><value>false</value></field></x></message>
            """)
        #expect(denied.isEmpty)
        #expect(harness.room.occupants["thirdwitch"]?.role == .visitor)

        var unmoderated = RoomHarness.open()
        unmoderated.join(Coven.hag, as: "thirdwitch")
        let actions = unmoderated.receive(Self.voiceRequest)
        #expect(sent(actions, to: Coven.crone).isEmpty)
        #expect(only(actions, to: Coven.hag)?.errorCondition != nil)
    }

    // MARK: - Ghosts (§7.14 implementation notes, §11.1 status 333)

    @Test("an error bounced by an occupant's client removes it, with 333 to everyone")
    func errorRemovesOccupant() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("<message from='\(Coven.hag)' to='\(Coven.room)' type='error'><error type='cancel'><recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
        let toCrone = try #require(only(actions, to: Coven.crone))
        #expect(toCrone.stanzaType == "unavailable")
        #expect(toCrone[attribute: "from"] == Coven.occupant("thirdwitch"))
        #expect(toCrone.statusCodes.contains(333))
        #expect(toCrone.mucItem?[attribute: "role"] == "none")
        #expect(harness.room.occupant(for: address(Coven.hag)) == nil)
        // Never an error in reply to an error.
        #expect(!sent(actions).contains { $0.stanzaType == "error" })
    }

    @Test("an error presence from an occupant removes it with 333 as well")
    func errorPresenceRemovesOccupant() throws {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.receive("<presence from='\(Coven.hag)' to='\(Coven.occupant("thirdwitch"))' type='error'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
        #expect(only(actions, to: Coven.crone)?.statusCodes.contains(333) == true)
        #expect(harness.room.occupant(for: address(Coven.hag)) == nil)
        // Errors from someone not in the room are ignored.
        #expect(harness.receive("<message from='\(Coven.hecate)' to='\(Coven.room)' type='error'/>").isEmpty)
    }

    @Test("a temporary room whose last occupant is removed for an error goes away, whichever stanza bounced")
    func ghostLeavesEmptyRoom() {
        var byMessage = RoomHarness.open()
        #expect(destroys(byMessage.receive("<message from='\(Coven.crone)' to='\(Coven.room)' type='error'/>")))
        var byPresence = RoomHarness.open()
        let actions = byPresence.receive("<presence from='\(Coven.crone)' to='\(Coven.occupant("firstwitch"))' type='error'/>")
        #expect(byPresence.room.isEmpty)
        #expect(destroys(actions))
    }
}
