import Foundation
import Testing
import XMPPCore
@testable import XMPPServerModules

@Suite("Room: loaded rooms, presence burst, odd requests")
struct RoomMoreTests {
    @Test("a room loaded with its record and history serves both to a newcomer")
    func loadedRoom() throws {
        var record = RoomRecord(secret: Coven.secret)
        record.configured = true
        record.subject = "Fire Burn"
        record.affiliations["crone1@shakespeare.lit"] = RoomRecord.Affiliation(affiliation: .owner)
        let message = xml("<message from='\(Coven.occupant("firstwitch"))' type='groupchat' id='old'><body>earlier</body></message>")
        let history = [HistoryEntry(message: message, stanzaID: "s-old", stamp: Coven.epoch - 3600, characters: message.storedText.utf8.count)]
        var harness = RoomHarness(room: Room(jid: address(Coven.room), record: record, limits: RoomLimits(), history: history))
        let toHag = sent(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag)
        // Not new: no 201; the owner is not there; history then subject.
        #expect(toHag.map(\.name) == ["presence", "message", "message"])
        #expect(!toHag[0].statusCodes.contains(201))
        #expect(toHag[1].child(named: "body")?.text == "earlier")
        #expect(toHag[1][attribute: "to"] == Coven.hag)
        #expect(toHag[2].child(named: "subject")?.text == "Fire Burn")
        #expect(toHag[2][attribute: "from"] == Coven.room)
    }

    @Test("a capped presence burst shows moderators first, then the others by nickname")
    func presenceBurst() {
        var harness = RoomHarness.open(affiliations: ["wiccarocks@shakespeare.lit": .admin], limits: RoomLimits(presenceBurst: 2))
        harness.join(Coven.hecate, as: "aaa")
        harness.join(Coven.wicca, as: "zzz")
        let toHag = sent(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag).filter(\.isPresence)
        // Two moderators (firstwitch, zzz) fill the burst; the participant aaa is left out.
        #expect(toHag.map { $0[attribute: "from"] } == [Coven.occupant("firstwitch"), Coven.occupant("zzz"), Coven.occupant("thirdwitch")])
    }

    @Test("a ban may name the occupant by nickname")
    func banByNick() {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        let actions = harness.admin(Coven.crone, "<item affiliation='outcast' nick='thirdwitch'/>")
        #expect(only(actions, to: Coven.hag)?.statusCodes.contains(301) == true)
        #expect(harness.room.record.affiliation(of: address(Coven.hag)) == .outcast)
    }

    @Test("an invitation without a valid JID is refused")
    func inviteMalformed() {
        var harness = RoomHarness.open()
        let actions = harness.receive("<message from='\(Coven.crone)' to='\(Coven.room)'><x xmlns='http://jabber.org/protocol/muc#user'><invite/></x></message>")
        #expect(only(actions, to: Coven.crone)?.errorCondition == .jidMalformed)
    }

    @Test("a message to the room that is neither groupchat, invitation nor voice request is not acceptable")
    func strayMessage() {
        var harness = RoomHarness.open()
        let actions = harness.receive("<message from='\(Coven.crone)' to='\(Coven.room)' type='chat'><body>hi</body></message>")
        #expect(only(actions, to: Coven.crone)?.errorCondition == .notAcceptable)
    }

    @Test("a voice approval cannot take moderator status from an owner (§8.4, §9.7)")
    func approvalDemotesOwner() {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        harness.admin(Coven.crone, "<item nick='thirdwitch' role='moderator'/>")
        #expect(harness.room.occupants["thirdwitch"]?.role == .moderator)
        // The moderator without affiliation "approves voice" for the owner.
        harness.receive("""
            <message from='\(Coven.hag)' to='\(Coven.room)'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>\
            <field var='muc#roomnick'><value>firstwitch</value></field><field var='muc#request_allow'><value>true</value></field></x></message>
            """)
        #expect(harness.room.occupants["firstwitch"]?.role == .moderator)
    }

    @Test("history messages carry the stanza-id and occupant-id they were relayed with")
    func historyKeepsIDs() throws {
        var harness = RoomHarness.open()
        harness.groupchat(Coven.crone, "hello")
        let replay = try #require(sent(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.hag).first { $0.child(named: "body") != nil })
        #expect(replay.child(named: "stanza-id", namespace: "urn:xmpp:sid:0")?[attribute: "id"] == "id-1")
        #expect(replay.occupantIDValue == harness.room.occupantID(for: address(Coven.crone)))
        #expect(replay[attribute: "from"] == Coven.occupant("firstwitch"))
    }
}
