import Foundation
import Testing
import XMPPCore
@testable import XMPPServerModules

/// Addresses of the XEP-0045 examples: the coven room on chat.shakespeare.lit.
enum Coven {
    static let room = "coven@chat.shakespeare.lit"
    static let crone = "crone1@shakespeare.lit/desktop"
    static let wicca = "wiccarocks@shakespeare.lit/laptop"
    static let hag = "hag66@shakespeare.lit/pda"
    static let hagPhone = "hag66@shakespeare.lit/phone"
    static let hecate = "hecate@shakespeare.lit/broom"
    static let secret = "room-secret"
    static let epoch = Date(timeIntervalSince1970: 1_700_000_000)

    static func occupant(_ nick: String) -> String { "\(room)/\(nick)" }
}

func address(_ text: String) -> JID { try! JID(text) }

/// Element from XML text; the default namespace is jabber:client.
func xml(_ text: String) -> Element {
    guard let element = Element.parse(text) else { fatalError("bad XML in a test: \(text)") }
    return element
}

/// Hands out "id-1", "id-2", … for stanza ids.
final class IDCounter: @unchecked Sendable {
    private(set) var count = 0
    func next() -> String {
        self.count += 1
        return "id-\(self.count)"
    }
}

/// A room and a deterministic clock: fixed date (moved by hand), counted ids.
struct RoomHarness {
    var room: Room
    let ids = IDCounter()
    var now = Coven.epoch

    var clock: Room.Clock { Room.Clock(now: self.now, newID: { [ids] in ids.next() }) }

    init(room: Room) {
        self.room = room
    }

    /// A room made by `owner` (not yet entered; the owner's first presence enters it).
    static func created(
        by owner: String = Coven.crone, speaksMUC: Bool, defaults: RoomConfiguration = RoomConfiguration(), limits: RoomLimits = RoomLimits()
    ) -> RoomHarness {
        RoomHarness(room: Room.created(jid: address(Coven.room), by: address(owner), secret: Coven.secret, defaults: defaults, limits: limits, speaksMUC: speaksMUC))
    }

    /// A configured (unlocked) room with crone1 as owner, entered as firstwitch, and the
    /// given extra affiliations; `configure` adjusts the configuration first.
    static func open(
        affiliations: [String: MUCAffiliation] = [:], limits: RoomLimits = RoomLimits(), ownerNick: String? = "firstwitch",
        configure: (inout RoomConfiguration) -> Void = { _ in }
    ) -> RoomHarness {
        var record = RoomRecord(secret: Coven.secret)
        configure(&record.configuration)
        record.configured = true
        record.affiliations[address(Coven.crone).bare.description] = .init(affiliation: .owner)
        for (bare, affiliation) in affiliations { record.affiliations[address(bare).bare.description] = .init(affiliation: affiliation) }
        var harness = RoomHarness(room: Room(jid: address(Coven.room), record: record, limits: limits))
        if let ownerNick { _ = harness.join(Coven.crone, as: ownerNick) }
        return harness
    }

    @discardableResult
    mutating func receive(_ stanza: Element) -> [RoomAction] {
        self.room.receive(stanza, clock: self.clock)
    }

    @discardableResult
    mutating func receive(_ text: String) -> [RoomAction] {
        self.receive(xml(text))
    }

    /// Enters with `<x xmlns='…muc'>` holding `payload` (password, history).
    @discardableResult
    mutating func join(_ full: String, as nick: String, payload: String = "", id: String = "join") -> [RoomAction] {
        self.receive("<presence from='\(full)' to='\(Coven.occupant(nick))' id='\(id)'><x xmlns='http://jabber.org/protocol/muc'>\(payload)</x></presence>")
    }

    @discardableResult
    mutating func leave(_ full: String, nick: String, status: String? = nil) -> [RoomAction] {
        let statusElement = status.map { "<status>\($0)</status>" } ?? ""
        return self.receive("<presence from='\(full)' to='\(Coven.occupant(nick))' type='unavailable'>\(statusElement)</presence>")
    }

    @discardableResult
    mutating func groupchat(_ full: String, _ body: String, id: String = "msg", extra: String = "") -> [RoomAction] {
        self.receive("<message from='\(full)' to='\(Coven.room)' type='groupchat' id='\(id)'><body>\(body)</body>\(extra)</message>")
    }

    /// An IQ to the room with one payload.
    @discardableResult
    mutating func iq(_ full: String, _ type: String, _ payload: String, id: String = "iq1", to: String = Coven.room) -> [RoomAction] {
        self.receive("<iq from='\(full)' to='\(to)' type='\(type)' id='\(id)'>\(payload)</iq>")
    }

    /// A muc#admin set with the given items.
    @discardableResult
    mutating func admin(_ full: String, _ items: String, id: String = "admin1") -> [RoomAction] {
        self.iq(full, "set", "<query xmlns='http://jabber.org/protocol/muc#admin'>\(items)</query>", id: id)
    }

    /// A muc#owner set with a submitted muc#roomconfig form of these fields.
    @discardableResult
    mutating func configure(_ full: String, _ fields: [(String, [String])], id: String = "config1") -> [RoomAction] {
        let fieldXML = fields.map { name, values in
            "<field var='\(name)'>" + values.map { "<value>\($0)</value>" }.joined() + "</field>"
        }.joined()
        return self.iq(full, "set", """
            <query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>\(fieldXML)</x></query>
            """, id: id)
    }
}

// MARK: - Reading what the room sends

/// Every `.send` stanza, in order.
func sent(_ actions: [RoomAction]) -> [Element] {
    actions.compactMap {
        if case .send(let element) = $0 { return element }
        return nil
    }
}

/// The `.send` stanzas addressed to `recipient` (a full JID as text), in order.
func sent(_ actions: [RoomAction], to recipient: String) -> [Element] {
    sent(actions).filter { $0[attribute: "to"] == recipient }
}

/// The only stanza sent to `recipient`; records a failure when there are none or several.
func only(_ actions: [RoomAction], to recipient: String, sourceLocation: SourceLocation = #_sourceLocation) -> Element? {
    let stanzas = sent(actions, to: recipient)
    #expect(stanzas.count == 1, "expected one stanza to \(recipient), got \(stanzas.map(\.storedText))", sourceLocation: sourceLocation)
    return stanzas.count == 1 ? stanzas[0] : nil
}

extension Element {
    /// The `<x xmlns='…muc#user'/>` of a stanza.
    var mucUser: Element? { self.child(named: "x", namespace: MUCNamespace.user) }
    /// Its `<item/>`.
    var mucItem: Element? { self.mucUser?.child(named: "item", namespace: MUCNamespace.user) }
    /// Its status codes, in order.
    var statusCodes: [Int] { self.mucUser?.children(named: "status", namespace: MUCNamespace.user).compactMap { $0[attribute: "code"].flatMap(Int.init) } ?? [] }
    /// The defined condition of a stanza of type error.
    var errorCondition: StanzaErrorCondition? {
        guard self.stanzaType == "error" else { return nil }
        return StanzaError(stanza: self)?.condition
    }
    var isPresence: Bool { self.name == "presence" }
    var occupantIDValue: String? { self.child(named: "occupant-id", namespace: MUCNamespace.occupantID)?[attribute: "id"] }
}

/// Whether an action list has `.destroyed`.
func destroys(_ actions: [RoomAction]) -> Bool {
    actions.contains { if case .destroyed = $0 { return true } else { return false } }
}

func saves(_ actions: [RoomAction]) -> Bool {
    actions.contains { if case .save = $0 { return true } else { return false } }
}
