import Testing

@testable import StarlingLoad

@Suite struct StanzaScannerTests {
    private func scan(_ pieces: [String]) -> [StanzaScanner.Stanza] {
        var scanner = StanzaScanner()
        var found: [StanzaScanner.Stanza] = []
        for piece in pieces {
            Array(piece.utf8).withUnsafeBytes { scanner.scan($0) { found.append($0) } }
        }
        return found
    }

    /// What Prosody, ejabberd and Starling send a client creating a room, in their styles:
    /// the self-presence with 110 and 201, then the answer to the instant-room IQ.
    private let creation =
        "<presence from='bench@conference.localhost/u0' to='load0@localhost/load' id='j1'>"
        + "<x xmlns='http://jabber.org/protocol/muc#user'><status code='201'/><item jid='load0@localhost/load' affiliation='owner' role='moderator'/>"
        + "<status code='110'/></x></presence>"
        + "<message type='groupchat' from='bench@conference.localhost'><subject/><body>~LT5.1~ &lt;x&gt; a > b</body></message>"
        + "<iq xml:lang=\"en\" to=\"load0@localhost/load\" from=\"bench@conference.localhost\" type=\"result\" id=\"muc-instant\"/>"

    @Test func readsStanzasAndStatusCodesHoweverTheBytesAreSplit() {
        let expected = [
            StanzaScanner.Stanza(
                name: "presence", type: nil, id: "j1", from: "bench@conference.localhost/u0", statusCodes: [201, 110]),
            StanzaScanner.Stanza(name: "message", type: "groupchat", id: nil, from: "bench@conference.localhost"),
            StanzaScanner.Stanza(name: "iq", type: "result", id: "muc-instant", from: "bench@conference.localhost"),
        ]
        let characters = Array(self.creation)
        for split in 0...characters.count {
            let found = self.scan([String(characters[..<split]), String(characters[split...])])
            #expect(found == expected, "split at \(split)")
        }
        #expect(expected[0].isSelfPresence && expected[0].isRoomCreated)
    }

    @Test func tellsOtherOccupantsPresenceFromTheSelfPresence() {
        let found = self.scan([
            "<presence from='bench@conference.localhost/u1'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>",
            "<presence from='bench@conference.localhost/u2' type='unavailable'/>",
            "<presence from='bench@conference.localhost/u3'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v/x='/>"
                + "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code = \"110\" /></x></presence>",
        ])
        #expect(found.map(\.isSelfPresence) == [false, false, true])
        #expect(found[1].type == "unavailable")
        #expect(found[2].statusCodes == [110])
    }

    @Test func readsTheConditionOfAnError() {
        let found = self.scan([
            "<presence from='bench@conference.localhost/u5' type='error'><x xmlns='http://jabber.org/protocol/muc'/>"
                + "<error type='cancel'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Room is locked</text>"
                + "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
            "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
        ])
        #expect(found.first?.errorCondition == "item-not-found")
        #expect(found.first?.isSelfPresence == false)
        #expect(found.last?.name == "error")
    }

    @Test func findsAttributesOnlyOutsideOtherValues() {
        let tag = Array("<presence from='a type=\"x\"' type='error' xid='no' id=\"yes\">".utf8)
        tag.withUnsafeBytes { bytes in
            #expect(StanzaScanner.attribute("type", in: bytes) == "error")
            #expect(StanzaScanner.attribute("id", in: bytes) == "yes")
            #expect(StanzaScanner.attribute("to", in: bytes) == nil)
        }
    }
}

@Suite struct RoomJoinTests {
    private let room = "bench@conference.localhost"

    private func presence(_ nick: String, codes: [Int] = [], type: String? = nil, condition: String? = nil) -> StanzaScanner.Stanza {
        StanzaScanner.Stanza(name: "presence", type: type, from: "\(self.room)/\(nick)", statusCodes: codes, errorCondition: condition)
    }

    @Test func countsTheOccupantListAndEndsAtTheSelfPresence() {
        var join = RoomJoin(room: self.room, nick: "u7")
        #expect(join.joinStanza.contains("to='bench@conference.localhost/u7'"))
        #expect(join.joinStanza.contains("<history maxstanzas='0'/>"))
        #expect(join.received(self.presence("u1")) == .waiting)
        #expect(join.received(self.presence("u2")) == .waiting)
        // Not from the room: a contact's presence is not part of the occupant list.
        #expect(join.received(StanzaScanner.Stanza(name: "presence", from: "load6@localhost/load")) == .waiting)
        #expect(join.received(StanzaScanner.Stanza(name: "message", type: "groupchat", from: self.room)) == .waiting)
        // The room's own presence (ejabberd: its entity caps) is no occupant's.
        #expect(join.received(StanzaScanner.Stanza(name: "presence", id: "1", from: self.room)) == .waiting)
        #expect(join.received(self.presence("u7", codes: [100, 110])) == .joined(created: false))
        #expect(join.presencesBeforeSelf == 2)
    }

    @Test func configuresARoomItCreated() {
        var join = RoomJoin(room: self.room, nick: "u0")
        guard case .send(let iq) = join.received(self.presence("u0", codes: [201, 110])) else {
            Issue.record("no instant-room request after 201")
            return
        }
        #expect(iq.contains("http://jabber.org/protocol/muc#owner") && iq.contains("type='submit'"))
        #expect(join.received(StanzaScanner.Stanza(name: "message", type: "groupchat", from: self.room)) == .waiting)
        #expect(join.received(StanzaScanner.Stanza(name: "iq", type: "result", id: RoomJoin.configurationID, from: self.room)) == .joined(created: true))

        var refused = RoomJoin(room: self.room, nick: "u0")
        _ = refused.received(self.presence("u0", codes: [110, 201]))
        #expect(
            refused.received(StanzaScanner.Stanza(name: "iq", type: "error", id: RoomJoin.configurationID, errorCondition: "forbidden"))
                == .failed("instant room configuration refused: forbidden"))
    }

    @Test func reportsARefusedJoin() {
        var join = RoomJoin(room: self.room, nick: "u3")
        #expect(join.received(self.presence("u3", type: "error", condition: "item-not-found")) == .failed("join refused: item-not-found"))
    }
}
