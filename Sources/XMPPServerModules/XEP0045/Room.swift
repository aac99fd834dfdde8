import Foundation
import XMPPCore

/// XEP-0045 namespaces and the ones rooms stamp on what they relay.
enum MUCNamespace {
    static let muc = "http://jabber.org/protocol/muc"
    static let user = "http://jabber.org/protocol/muc#user"
    static let admin = "http://jabber.org/protocol/muc#admin"
    static let owner = "http://jabber.org/protocol/muc#owner"
    static let register = "http://jabber.org/protocol/muc#register"
    static let request = "http://jabber.org/protocol/muc#request"
    static let unique = "http://jabber.org/protocol/muc#unique"
    static let selfPingOptimization = "http://jabber.org/protocol/muc#self-ping-optimization"
    static let stableID = "http://jabber.org/protocol/muc#stable_id"
    static let occupantID = "urn:xmpp:occupant-id:0"
    static let moderate = "urn:xmpp:message-moderate:1"
    static let moderateLegacy = "urn:xmpp:message-moderate:0"
    static let retract = "urn:xmpp:message-retract:1"
    static let retractLegacy = "urn:xmpp:message-retract:0"
    static let fasten = "urn:xmpp:fasten:0"
}

/// A long-lived relation to a room (XEP-0045 §5.2), ordered by what it may do.
enum MUCAffiliation: String, Codable, Sendable, CaseIterable, Comparable {
    case outcast, none, member, admin, owner

    private var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// A relation that lasts while an occupant is in the room (XEP-0045 §5.1).
enum MUCRole: String, Codable, Sendable, CaseIterable, Comparable {
    case none, visitor, participant, moderator

    private var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// What a room keeps across restarts: its configuration and who belongs to it.
struct RoomRecord: Codable, Sendable, Hashable {
    struct Affiliation: Codable, Sendable, Hashable {
        var affiliation: MUCAffiliation
        var reason: String?
        /// A nickname registered with the room (§7.10), reserved for this JID.
        var nick: String?
    }

    var configuration = RoomConfiguration()
    /// By bare JID.
    var affiliations: [String: Affiliation] = [:]
    var subject = ""
    var subjectBy: String?
    /// Salt of the XEP-0421 occupant ids: stable for the room, never shown.
    var secret: String
    /// Owners submitted the configuration (or asked for an instant room) at least once.
    var configured = false

    init(secret: String) {
        self.secret = secret
    }

    func affiliation(of jid: JID) -> MUCAffiliation {
        self.affiliations[jid.bare.description]?.affiliation ?? .none
    }

    func jids(with affiliation: MUCAffiliation) -> [JID] {
        self.affiliations.filter { $0.value.affiliation == affiliation }.keys.compactMap { try? JID($0) }.sorted()
    }
}

/// Someone in the room under a nickname; one person may be there from several clients
/// (sessions) at once under the same nickname.
struct Occupant: Sendable, Hashable {
    var nick: String
    var bareJID: JID
    /// Real full JIDs in the order they joined, with the presence each sent last (cleaned
    /// of MUC payloads).
    var sessions: [JID]
    var presences: [JID: Element]
    var role: MUCRole
    var occupantID: String

    /// The presence the room shows for the occupant: the one its latest session sent.
    var presence: Element? { self.sessions.last.flatMap { self.presences[$0] } }
}

/// A message kept for newcomers (XEP-0045 §7.2.15), as relayed.
struct HistoryEntry: Sendable, Hashable {
    var message: Element
    var stanzaID: String
    var stamp: Date
    /// Length of the message as XML, for `maxchars` requests.
    var characters: Int
}

/// What the room asks its host to do, in order.
enum RoomAction: Sendable, Hashable {
    /// Route this stanza (its `from` and `to` are set).
    case send(Element)
    /// The record changed: store it (persistent rooms).
    case save
    /// Keep this relayed groupchat message in the room's archive (XEP-0313).
    case archive(Element, stanzaID: String, stamp: Date)
    /// Replace an archived message by its tombstone (XEP-0425 moderation).
    case retractArchived(stanzaID: String, tombstone: Element)
    /// The room is gone: drop its stored record, affiliations and archive.
    case destroyed
}

/// Limits the service puts on every room.
struct RoomLimits: Sendable, Hashable {
    var maxOccupants = 10_000
    var maxHistory = 50
    /// At most this many occupants' presences are sent to someone joining; 0 for all.
    var presenceBurst = 0
}

/// One chat room (XEP-0045): a value that takes stanzas addressed to the room or its
/// occupants and returns what to send and store. No I/O, no clock, no randomness of its
/// own: the host passes the time and fresh IDs in, so every path is testable as is.
struct Room: Sendable {
    let jid: JID
    var record: RoomRecord
    let limits: RoomLimits
    /// By nickname.
    private(set) var occupants: [String: Occupant] = [:]
    /// Real full JID → nickname.
    private(set) var nickByJID: [JID: String] = [:]
    private(set) var history: [HistoryEntry] = []
    /// A new room waits for its owner's configuration; nobody else may enter (§10.1.1).
    private(set) var locked = false
    /// Created by the presence being handled: its sender hears 201 (§10.1.1).
    var isNew = false

    init(jid: JID, record: RoomRecord, limits: RoomLimits, history: [HistoryEntry] = []) {
        self.jid = jid
        self.record = record
        self.limits = limits
        self.history = history
    }

    /// A room made by someone entering it (§10.1): its creator owns it. A client that spoke
    /// the MUC protocol gets it locked until it configures it or asks for an instant room;
    /// an old client that did not (groupchat 1.0) gets an instant room at once.
    static func created(jid: JID, by creator: JID, secret: String, defaults: RoomConfiguration, limits: RoomLimits, speaksMUC: Bool) -> Room {
        var record = RoomRecord(secret: secret)
        record.configuration = defaults
        record.affiliations[creator.bare.description] = RoomRecord.Affiliation(affiliation: .owner)
        record.configured = !speaksMUC
        var room = Room(jid: jid, record: record, limits: limits)
        room.locked = speaksMUC
        room.isNew = true
        return room
    }

    var configuration: RoomConfiguration { self.record.configuration }
    var isEmpty: Bool { self.occupants.isEmpty }
    var occupantCount: Int { self.occupants.count }

    /// Fresh IDs for stanza-ids and the time, from the host.
    struct Clock {
        var now: Date
        var newID: () -> String
    }

    /// Takes one stanza addressed to the room or one of its occupants; `from` is stamped.
    mutating func receive(_ stanza: Element, clock: Clock) -> [RoomAction] {
        guard let from = stanza.from, let to = stanza.to else { return [] }
        switch stanza.stanzaKind {
        case .presence: return self.receivePresence(stanza, from: from, nick: to.resourcepart, clock: clock)
        case .message: return self.receiveMessage(stanza, from: from, nick: to.resourcepart, clock: clock)
        case .iq: return self.receiveIQ(stanza, from: from, nick: to.resourcepart, clock: clock)
        case nil: return []
        }
    }

    // MARK: - Shared helpers

    func occupantJID(_ nick: String) -> JID {
        JID(uncheckedRoom: self.jid, nick: nick)
    }

    func occupant(for realJID: JID) -> Occupant? {
        self.nickByJID[realJID].flatMap { self.occupants[$0] }
    }

    /// The role someone gets on entering (§5.1.2), from their affiliation.
    func defaultRole(for affiliation: MUCAffiliation) -> MUCRole {
        switch affiliation {
        case .owner, .admin: return .moderator
        case .member: return .participant
        case .none: return self.configuration.moderated ? .visitor : .participant
        case .outcast: return .none
        }
    }

    /// XEP-0421: stable per room and real bare JID, and reveals neither.
    func occupantID(for bareJID: JID) -> String {
        OccupantID.make(secret: self.record.secret, room: self.jid, bareJID: bareJID)
    }

    func error(_ stanza: Element, _ error: StanzaError) -> [RoomAction] {
        guard !stanza.isErrorStanza, stanza.stanzaType != "result" else { return [] }
        return [.send(stanza.errorReply(error))]
    }

    mutating func insert(_ occupant: Occupant) {
        self.occupants[occupant.nick] = occupant
        for session in occupant.sessions { self.nickByJID[session] = occupant.nick }
    }

    mutating func removeOccupant(_ nick: String) {
        guard let occupant = self.occupants.removeValue(forKey: nick) else { return }
        for session in occupant.sessions { self.nickByJID[session] = nil }
    }

    mutating func removeSession(_ session: JID, of nick: String) {
        self.nickByJID[session] = nil
        guard var occupant = self.occupants[nick] else { return }
        occupant.sessions.removeAll { $0 == session }
        occupant.presences[session] = nil
        if occupant.sessions.isEmpty {
            self.occupants[nick] = nil
        } else {
            self.occupants[nick] = occupant
        }
    }

    mutating func unlock() { self.locked = false }

    mutating func remember(_ entry: HistoryEntry) {
        let keep = min(self.limits.maxHistory, self.configuration.historyLength)
        guard keep > 0 else {
            self.history.removeAll()
            return
        }
        self.history.append(entry)
        if self.history.count > keep { self.history.removeFirst(self.history.count - keep) }
    }

    mutating func replaceHistory(stanzaID: String, with message: Element) {
        guard let index = self.history.firstIndex(where: { $0.stanzaID == stanzaID }) else { return }
        self.history[index].message = message
    }

    /// Every real session in the room, with the occupant it belongs to.
    var allSessions: [(session: JID, occupant: Occupant)] {
        self.occupants.values.sorted { $0.nick < $1.nick }.flatMap { occupant in occupant.sessions.map { ($0, occupant) } }
    }

    /// The occupant's presence may be shown to others (`muc#roomconfig_presencebroadcast`).
    func broadcastsPresence(of occupant: Occupant) -> Bool {
        self.configuration.presenceBroadcast.contains(occupant.role)
    }

    /// Whether `viewer` sees real JIDs (§7.2.3/§7.2.4: non-anonymous rooms, or moderators).
    func revealsJIDs(to viewer: Occupant?) -> Bool {
        self.configuration.whois == .anyone || viewer?.role == .moderator
    }
}

extension JID {
    /// `room/nick` for a nickname already prepared as a resourcepart.
    init(uncheckedRoom room: JID, nick: String) {
        self = (try? room.with(resource: nick)) ?? room
    }
}

extension Element {
    static func muc(_ name: String, _ namespace: String = MUCNamespace.user, attributes: [(String, String)] = [], children: [Element] = [], text: String? = nil) -> Element {
        Element(name, namespace: namespace, attributes: attributes, children: children, text: text)
    }

    static func status(_ code: Int) -> Element {
        Element("status", namespace: MUCNamespace.user, attributes: [("code", "\(code)")])
    }
}
