/// One client's way into a MUC room (XEP-0045 §7.2), fed the stanzas `StanzaScanner` reads:
/// join presence out; occupants' presence in (counted); the self-presence (status 110) ends
/// the join. A self-presence with 201 means this client created the room, which may stay locked
/// until its owner configures it (§10.1): the joiner then accepts the default configuration
/// (the instant room, §10.1.2) and is in once that IQ is answered. The same steps work with
/// every server, whether or not it locks new rooms.
struct RoomJoin {
    enum Step: Equatable {
        case waiting
        case send(String)
        case joined(created: Bool)
        case failed(String)
    }

    static let configurationID = "muc-instant"

    /// The room's bare JID, `room@service`.
    let room: String
    let nick: String
    /// Presence stanzas from the room before the self-presence: the occupant list.
    private(set) var presencesBeforeSelf = 0
    private var awaitingConfiguration = false

    init(room: String, nick: String) {
        self.room = room
        self.nick = nick
    }

    /// The join presence, asking for no history (§7.2.15) so that only presence is counted.
    var joinStanza: String {
        "<presence to='\(self.room)/\(self.nick)'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"
    }

    /// The owner's acceptance of the default configuration (§10.1.2).
    var instantRoomStanza: String {
        "<iq type='set' to='\(self.room)' id='\(Self.configurationID)'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>"
    }

    mutating func received(_ stanza: StanzaScanner.Stanza) -> Step {
        if self.awaitingConfiguration {
            guard stanza.name == "iq", stanza.id == Self.configurationID else { return .waiting }
            if stanza.type == "result" { return .joined(created: true) }
            return .failed("instant room configuration refused: \(stanza.errorCondition ?? "no condition")")
        }
        guard stanza.name == "presence", let from = stanza.from, let occupant = self.occupant(from) else { return .waiting }
        if stanza.type == "error" {
            return .failed("join refused: \(stanza.errorCondition ?? "no condition")")
        }
        // The room's own presence (ejabberd sends one with its entity caps) is no occupant.
        guard occupant else { return .waiting }
        guard stanza.isSelfPresence else {
            self.presencesBeforeSelf += 1
            return .waiting
        }
        if stanza.isRoomCreated {
            self.awaitingConfiguration = true
            return .send(self.instantRoomStanza)
        }
        return .joined(created: false)
    }

    /// For an address in the room: whether it is an occupant's (`room/nick`) rather than the
    /// room's own; nil for anyone else.
    private func occupant(_ from: String) -> Bool? {
        let parts = from.split(separator: "/", maxSplits: 1)
        guard let bare = parts.first, bare.lowercased() == self.room.lowercased() else { return nil }
        return parts.count == 2
    }
}
