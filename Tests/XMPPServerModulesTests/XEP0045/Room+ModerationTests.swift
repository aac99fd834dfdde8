import Foundation
import Testing
import XMPPCore
@testable import XMPPServerModules

@Suite("Room: moderation (XEP-0425) and occupant ids (XEP-0421)")
struct RoomModerationTests {
    /// A room where thirdwitch said something that has stanza-id "id-1".
    private static func roomWithMessage() -> RoomHarness {
        var harness = RoomHarness.open()
        harness.join(Coven.hag, as: "thirdwitch")
        harness.groupchat(Coven.hag, "DM me for free magic potions!", id: "inappropriate-1")
        return harness
    }

    private static let request = xml("""
        <iq from='\(Coven.crone)' to='\(Coven.room)' type='set' id='retract-request-1'>\
        <moderate id='id-1' xmlns='urn:xmpp:message-moderate:1'><retract xmlns='urn:xmpp:message-retract:1'/>\
        <reason>This message contains inappropriate content for this forum</reason></moderate></iq>
        """)

    @Test("v1: everyone gets a retract with the moderator and reason, the archive a tombstone, the moderator a result")
    func moderateV1() throws {
        var harness = Self.roomWithMessage()
        let original = try #require(harness.room.history.first?.message)
        let reason = "This message contains inappropriate content for this forum"
        let actions = harness.room.moderate(Self.request, stanzaID: "id-1", original: original, reason: reason, legacy: false, from: address(Coven.crone))
        let croneID = harness.room.occupantID(for: address(Coven.crone))
        let hagID = harness.room.occupantID(for: address(Coven.hag))

        let result = try #require(sent(actions, to: Coven.crone).first { $0.name == "iq" })
        #expect(result.stanzaType == "result")
        #expect(result[attribute: "id"] == "retract-request-1")

        for recipient in [Coven.crone, Coven.hag] {
            let announcement = try #require(sent(actions, to: recipient).first { $0.name == "message" })
            #expect(announcement.stanzaType == "groupchat")
            #expect(announcement[attribute: "from"] == Coven.room)
            #expect(announcement.child(named: "body") == nil)
            let retract = try #require(announcement.child(named: "retract", namespace: "urn:xmpp:message-retract:1"))
            #expect(retract[attribute: "id"] == "id-1")
            let moderated = try #require(retract.child(named: "moderated", namespace: "urn:xmpp:message-moderate:1"))
            #expect(moderated[attribute: "by"] == Coven.occupant("firstwitch"))
            #expect(moderated.child(named: "occupant-id", namespace: "urn:xmpp:occupant-id:0")?[attribute: "id"] == croneID)
            #expect(retract.child(named: "reason", namespace: "urn:xmpp:message-retract:1")?.text == reason)
        }

        let tombstones = actions.compactMap { action -> (String, Element)? in
            if case .retractArchived(let stanzaID, let tombstone) = action { return (stanzaID, tombstone) }
            return nil
        }
        try #require(tombstones.count == 1)
        #expect(tombstones[0].0 == "id-1")
        let tombstone = tombstones[0].1
        #expect(tombstone[attribute: "from"] == Coven.occupant("thirdwitch"))
        #expect(tombstone.stanzaType == "groupchat")
        #expect(tombstone.child(named: "body") == nil)
        let retracted = try #require(tombstone.child(named: "retracted", namespace: "urn:xmpp:message-retract:1"))
        let moderated = try #require(retracted.child(named: "moderated", namespace: "urn:xmpp:message-moderate:1"))
        #expect(moderated[attribute: "by"] == Coven.occupant("firstwitch"))
        #expect(moderated.child(named: "occupant-id")?[attribute: "id"] == croneID)
        #expect(retracted.child(named: "reason")?.text == reason)
        // The author's occupant id stays on the tombstone (XEP-0425 §4), and so does the room's stanza id.
        #expect(tombstone.occupantIDValue == hagID)
        #expect(tombstone.child(named: "stanza-id", namespace: "urn:xmpp:sid:0")?[attribute: "id"] == "id-1")

        // Newcomers get the tombstone in the history, not the message.
        let history = sent(harness.join(Coven.wicca, as: "secondwitch"), to: Coven.wicca).filter { $0.name == "message" && $0.child(named: "subject") == nil }
        #expect(history.count == 1)
        #expect(history.first?.child(named: "body") == nil)
        #expect(history.first?.child(named: "retracted", namespace: "urn:xmpp:message-retract:1") != nil)
    }

    @Test("v0 (legacy): the retraction is wrapped in a fastening apply-to with moderate:0 and retract:0")
    func moderateLegacy() throws {
        var harness = Self.roomWithMessage()
        let original = harness.room.history.first?.message
        let request = xml("""
            <iq from='\(Coven.crone)' to='\(Coven.room)' type='set' id='retract-request-0'><apply-to id='id-1' xmlns='urn:xmpp:fasten:0'>\
            <moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/><reason>spam</reason></moderate></apply-to></iq>
            """)
        let actions = harness.room.moderate(request, stanzaID: "id-1", original: original, reason: "spam", legacy: true, from: address(Coven.crone))
        #expect(sent(actions, to: Coven.crone).first { $0.name == "iq" }?.stanzaType == "result")
        let announcement = try #require(sent(actions, to: Coven.hag).first)
        #expect(announcement.stanzaType == "groupchat")
        #expect(announcement[attribute: "from"] == Coven.room)
        let applyTo = try #require(announcement.child(named: "apply-to", namespace: "urn:xmpp:fasten:0"))
        #expect(applyTo[attribute: "id"] == "id-1")
        let moderated = try #require(applyTo.child(named: "moderated", namespace: "urn:xmpp:message-moderate:0"))
        #expect(moderated[attribute: "by"] == Coven.occupant("firstwitch"))
        #expect(moderated.child(named: "retract", namespace: "urn:xmpp:message-retract:0") != nil)
        #expect(moderated.child(named: "reason", namespace: "urn:xmpp:message-moderate:0")?.text == "spam")
        #expect(actions.contains { if case .retractArchived(stanzaID: "id-1", tombstone: _) = $0 { return true } else { return false } })
    }

    @Test("only moderators moderate; unknown messages are item-not-found")
    func moderateErrors() {
        var harness = Self.roomWithMessage()
        let byHag = harness.room.moderate(Self.request, stanzaID: "id-1", original: nil, reason: nil, legacy: false, from: address(Coven.hag))
        #expect(sent(byHag).count == 1)
        #expect(sent(byHag).first?.errorCondition == .forbidden)
        #expect(harness.room.history.first?.message.child(named: "body") != nil)
        let unknown = harness.room.moderate(Self.request, stanzaID: "nope", original: nil, reason: nil, legacy: false, from: address(Coven.crone))
        #expect(sent(unknown).first?.errorCondition == .itemNotFound)
        #expect(!unknown.contains { if case .retractArchived = $0 { return true } else { return false } })
        // A message only in the archive (passed as original) can be moderated.
        let archivedOnly = harness.room.moderate(Self.request, stanzaID: "old", original: xml("<message from='\(Coven.occupant("x"))' type='groupchat'><body>old</body></message>"), reason: nil, legacy: false, from: address(Coven.crone))
        #expect(sent(archivedOnly, to: Coven.crone).first { $0.name == "iq" }?.stanzaType == "result")
    }

    // MARK: - Occupant ids (XEP-0421)

    @Test("an occupant id is stable per room and bare JID, differs between people and rooms, and hides the JID")
    func occupantIDs() {
        let room = address(Coven.room)
        let other = address("darkcave@chat.shakespeare.lit")
        let hag = OccupantID.make(secret: "s", room: room, bareJID: address(Coven.hag))
        #expect(OccupantID.make(secret: "s", room: room, bareJID: address(Coven.hagPhone)) == hag)
        #expect(OccupantID.make(secret: "s", room: room, bareJID: address("hag66@shakespeare.lit")) == hag)
        #expect(OccupantID.make(secret: "s", room: room, bareJID: address(Coven.crone)) != hag)
        #expect(OccupantID.make(secret: "s", room: other, bareJID: address(Coven.hag)) != hag)
        #expect(OccupantID.make(secret: "t", room: room, bareJID: address(Coven.hag)) != hag)
        #expect(!hag.contains("hag66"))
        #expect(OccupantID.newSecret() != OccupantID.newSecret())
    }

    @Test("in the room: both clients of one person show one id, across nicknames and visits")
    func occupantIDsInRoom() throws {
        var harness = RoomHarness.open()
        let first = try #require(sent(harness.join(Coven.hag, as: "thirdwitch"), to: Coven.crone).first?.occupantIDValue)
        let second = try #require(sent(harness.join(Coven.hagPhone, as: "thirdwitch"), to: Coven.hagPhone).first { $0.statusCodes.contains(110) }?.occupantIDValue)
        #expect(first == second)
        harness.leave(Coven.hag, nick: "thirdwitch")
        harness.leave(Coven.hagPhone, nick: "thirdwitch")
        let later = try #require(sent(harness.join(Coven.hag, as: "oldhag"), to: Coven.crone).first?.occupantIDValue)
        #expect(later == first)
        let crone = try #require(sent(harness.join(Coven.wicca, as: "secondwitch"), to: Coven.wicca).first { $0[attribute: "from"] == Coven.occupant("firstwitch") }?.occupantIDValue)
        #expect(crone != first)

        // Another room with another secret gives the same person another id.
        var other = RoomHarness(room: Room.created(jid: address("darkcave@chat.shakespeare.lit"), by: address(Coven.crone), secret: "other", defaults: RoomConfiguration(), limits: RoomLimits(), speaksMUC: false))
        let elsewhere = other.receive("<presence from='\(Coven.hag)' to='darkcave@chat.shakespeare.lit/thirdwitch'/>")
        #expect(sent(elsewhere, to: Coven.hag).first?.occupantIDValue != first)
    }
}
