import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules

enum MUC {
    static let muc = "http://jabber.org/protocol/muc"
    static let user = "http://jabber.org/protocol/muc#user"
    static let admin = "http://jabber.org/protocol/muc#admin"
    static let owner = "http://jabber.org/protocol/muc#owner"
    static let service = "conference.localhost"

    static func room(_ name: String) -> JID { try! JID("\(name)@\(service)") }
    static func occupant(_ name: String, _ nick: String) -> JID { try! JID("\(name)@\(service)/\(nick)") }

    /// Status codes of a stanza's `muc#user` payload.
    static func codes(_ stanza: Element) -> Set<Int> {
        Set(stanza.child(named: "x", namespace: user)?.children(named: "status").compactMap { $0[attribute: "code"].flatMap(Int.init) } ?? [])
    }

    static func item(_ stanza: Element) -> Element? {
        stanza.child(named: "x", namespace: user)?.child(named: "item")
    }

    static func form(_ type: String = "submit", _ fields: [String: [String]] = [:]) -> Element {
        var form = Element("x", namespace: XMPPNamespace.dataForms, attributes: [("type", type)])
        form.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", "FORM_TYPE")], children: [
            Element("value", namespace: XMPPNamespace.dataForms, text: "http://jabber.org/protocol/muc#roomconfig")
        ]))
        for (name, values) in fields.sorted(by: { $0.key < $1.key }) {
            form.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", name)], children: values.map {
                Element("value", namespace: XMPPNamespace.dataForms, text: $0)
            }))
        }
        return form
    }

    static func configure(_ fields: [String: [String]]) -> Element {
        Element("query", namespace: owner, children: [form("submit", fields)])
    }

    static func adminItem(_ attributes: [(String, String)], reason: String? = nil) -> Element {
        var item = Element("item", namespace: admin, attributes: attributes)
        if let reason { item.append(Element("reason", namespace: admin, text: reason)) }
        return Element("query", namespace: admin, children: [item])
    }

    static func errorCondition(_ stanza: Element) -> String? {
        stanza.child(named: "error")?.elements.first { $0.namespace == XMPPNamespace.stanzaErrors }?.name
    }
}

extension XMPPClient {
    /// Sends presence to `room/nick` and returns the answer for it: the self-presence (110)
    /// or the error; the occupant presences, history and subject before it are kept for later receives.
    @discardableResult
    func enter(_ room: JID, as nick: String, password: String? = nil, history: [(String, String)]? = nil, speaksMUC: Bool = true) async throws -> Element {
        let to = try room.with(resource: nick)
        var presence = Element("presence", namespace: XMPPNamespace.client, attributes: [("to", to.description), ("id", self.makeID())])
        if speaksMUC {
            var x = Element("x", namespace: MUC.muc)
            if let password { x.append(Element("password", namespace: MUC.muc, text: password)) }
            if let history { x.append(Element("history", namespace: MUC.muc, attributes: history)) }
            presence.append(x)
        }
        try await self.send(presence)
        return try await self.receive { stanza in
            stanza.name == "presence" && stanza.from?.bare == room
                && (stanza.stanzaType == "error" || MUC.codes(stanza).contains(110))
        }
    }

    /// Creates an instant room (§10.1.2) as its owner.
    func createInstantRoom(_ room: JID, as nick: String) async throws {
        let created = try await self.enter(room, as: nick)
        #expect(MUC.codes(created).isSuperset(of: [110, 201]), "creating \(room) answered \(created)")
        let result = try await self.iq("set", to: room, payload: MUC.configure([:]))
        #expect(result.stanzaType == "result", "the instant room request answered \(result)")
    }

    /// Creates a room with this configuration.
    func createRoom(_ room: JID, as nick: String, _ fields: [String: [String]]) async throws {
        let created = try await self.enter(room, as: nick)
        #expect(MUC.codes(created).contains(201), "creating \(room) answered \(created)")
        let result = try await self.iq("set", to: room, payload: MUC.configure(fields))
        #expect(result.stanzaType == "result", "configuring answered \(result)")
    }

    /// The next groupchat message from the room carrying a body.
    func groupchat(from room: JID) async throws -> Element {
        try await self.receive { $0.name == "message" && $0.stanzaType == "groupchat" && $0.from?.bare == room && $0.child(named: "body") != nil }
    }

    /// The next presence from `occupant` (room/nick).
    func presence(from occupant: JID, type: String? = nil) async throws -> Element {
        try await self.receive { $0.name == "presence" && $0.from == occupant && $0.stanzaType == type }
    }
}

/// Users alice, bob, carol and dave logged in to a fresh server, with presence sent.
func withMUCServer(
    configure: @escaping (inout ServerConfiguration) -> Void = { _ in }, _ body: (TestServer, [XMPPClient]) async throws -> Void
) async throws {
    try await withServer(configure: configure) { server in
        var clients: [XMPPClient] = []
        for name in ["alice", "bob", "carol", "dave"] {
            try await server.addUser(name, password: "\(name)-password")
            let client = try await server.login(name, password: "\(name)-password", resource: "desk")
            try await client.sendPresence()
            clients.append(client)
        }
        try await body(server, clients)
        for client in clients { await client.close() }
    }
}
