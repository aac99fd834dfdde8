import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer

/// XEP-0045 §10 over real sockets, and what lasts: configuration, owner lists, destruction,
/// persistence across a restart, the room archive (XEP-0313) and moderation (XEP-0425).
@Suite("MUC: owners, persistence, archive")
struct MUCOwnerIntegrationTests {
    @Test("the configuration form has the muc#roomconfig fields; non-owners are forbidden; changes are announced with status codes")
    func configuration() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("settings")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            let form = try await alice.iq("get", to: room, payload: Element(name: "query", namespace: MUC.owner))
            let fields = Set(form.iqPayload?.child(named: "x", namespace: XMPPNamespace.dataForms)?.children(named: "field").compactMap { $0[attribute: "var"] } ?? [])
            #expect(fields.isSuperset(of: [
                "FORM_TYPE", "muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_persistentroom", "muc#roomconfig_publicroom",
                "muc#roomconfig_membersonly", "muc#roomconfig_passwordprotectedroom", "muc#roomconfig_roomsecret", "muc#roomconfig_moderatedroom",
                "muc#roomconfig_maxusers", "muc#roomconfig_whois", "muc#maxhistoryfetch", "muc#roomconfig_allowinvites", "muc#roomconfig_changesubject",
                "muc#roomconfig_enablelogging", "muc#roomconfig_roomowners", "muc#roomconfig_roomadmins",
            ]))
            let notOwner = try await bob.iq("get", to: room, payload: Element(name: "query", namespace: MUC.owner))
            #expect(MUC.errorCondition(notOwner) == "forbidden")
            let notOwnerSet = try await bob.iq("set", to: room, payload: MUC.configure(["muc#roomconfig_roomname": ["Mine"]]))
            #expect(MUC.errorCondition(notOwnerSet) == "forbidden")
            let bad = try await alice.iq("set", to: room, payload: MUC.configure(["muc#roomconfig_whois": ["everybody"]]))
            #expect(MUC.errorCondition(bad) == "bad-request")

            _ = try await alice.iq("set", to: room, payload: MUC.configure(["muc#roomconfig_whois": ["anyone"], "muc#roomconfig_enablelogging": ["0"]]))
            let notice = try await bob.receive { $0.name == "message" && $0.from == room && $0.child(named: "x", namespace: MUC.user) != nil }
            #expect(MUC.codes(notice) == [171, 172])
        }
    }

    @Test("owner and admin lists: a room keeps one owner (conflict); admins cannot touch owners")
    func ownerLists() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("owned")
            try await alice.createInstantRoom(room, as: "Alice")
            let lastOwner = try await alice.iq("set", to: room, payload: MUC.adminItem([("jid", "alice@localhost"), ("affiliation", "member")]))
            #expect(MUC.errorCondition(lastOwner) == "conflict")
            _ = try await alice.iq("set", to: room, payload: MUC.adminItem([("jid", "bob@localhost"), ("affiliation", "admin")]))
            let byAdmin = try await bob.iq("set", to: room, payload: MUC.adminItem([("jid", "alice@localhost"), ("affiliation", "none")]))
            #expect(MUC.errorCondition(byAdmin) == "not-allowed")
            let admins = try await alice.iq("get", to: room, payload: MUC.adminItem([("affiliation", "admin")]))
            #expect(admins.iqPayload?.children(named: "item").map { $0[attribute: "jid"] } == ["bob@localhost"])
            let owners = try await alice.iq("get", to: room, payload: MUC.adminItem([("affiliation", "owner")]))
            #expect(owners.iqPayload?.children(named: "item").map { $0[attribute: "jid"] } == ["alice@localhost"])
            // Bob, an admin who is not in the room, hears of it by message (101).
            let told = try await bob.receive { $0.name == "message" && $0.from == room }
            #expect(MUC.codes(told) == [101] && MUC.item(told)?[attribute: "affiliation"] == "admin")
        }
    }

    @Test("destroy: occupants leave with the destroy element, its reason and alternate venue; the room is gone")
    func destroy() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("doomed")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_persistentroom": ["1"]])
            try await bob.enter(room, as: "Bob")
            let notOwner = try await bob.iq("set", to: room, payload: Element("query", namespace: MUC.owner, children: [Element("destroy", namespace: MUC.owner)]))
            #expect(MUC.errorCondition(notOwner) == "forbidden")
            let result = try await alice.iq("set", to: room, payload: Element("query", namespace: MUC.owner, children: [
                Element("destroy", namespace: MUC.owner, attributes: [("jid", "elsewhere@conference.localhost")], children: [Element("reason", namespace: MUC.owner, text: "moving")])
            ]))
            #expect(result.stanzaType == "result")
            let gone = try await bob.presence(from: MUC.occupant("doomed", "Bob"), type: "unavailable")
            let destroy = gone.child(named: "x", namespace: MUC.user)?.child(named: "destroy")
            #expect(destroy?[attribute: "jid"] == "elsewhere@conference.localhost" && destroy?.child(named: "reason")?.text == "moving")
            let info = try await bob.iq("get", to: room, payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            #expect(MUC.errorCondition(info) == "item-not-found")
        }
    }

    @Test("a persistent room survives a restart: configuration, affiliations, subject and history from its archive")
    func persistence() async throws {
        let first = try await TestServer()
        try await first.addUser("alice", password: "alice-password")
        try await first.addUser("bob", password: "bob-password")
        let alice = try await first.login("alice", password: "alice-password", resource: "desk")
        try await alice.sendPresence()
        let room = MUC.room("lasting")
        try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_persistentroom": ["1"], "muc#roomconfig_roomname": ["Lasting"], "muc#roomconfig_membersonly": ["1"]])
        _ = try await alice.iq("set", to: room, payload: MUC.adminItem([("jid", "bob@localhost"), ("affiliation", "member")]))
        try await alice.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", room.description), ("type", "groupchat")], children: [
            Element("subject", namespace: XMPPNamespace.client, text: "Still here")
        ]))
        for index in 1...3 {
            try await alice.sendMessage(to: room, body: "kept \(index)", type: "groupchat")
            _ = try await alice.groupchat(from: room)
        }
        await alice.close()
        let dataDirectory = first.dataDirectory
        await first.server.shutdown()

        try await withServer(configure: { $0.dataDirectory = dataDirectory }) { server in
            let bob = try await server.login("bob", password: "bob-password", resource: "desk")
            try await bob.sendPresence()
            let info = try await bob.iq("get", to: room, payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let features = Set(info.iqPayload?.children(named: "feature").compactMap { $0[attribute: "var"] } ?? [])
            #expect(features.isSuperset(of: ["muc_persistent", "muc_membersonly"]))
            #expect(info.iqPayload?.child(named: "identity")?[attribute: "name"] == "Lasting")
            let entered = try await bob.enter(room, as: "Bob")
            #expect(MUC.item(entered)?[attribute: "affiliation"] == "member")
            var bodies: [String] = []
            while true {
                let next = try await bob.receive { $0.name == "message" && $0.from?.bare == room }
                if let subject = next.child(named: "subject") {
                    #expect(subject.text == "Still here")
                    break
                }
                bodies.append(next.child(named: "body")?.text ?? "")
            }
            #expect(bodies == ["kept 1", "kept 2", "kept 3"])
            let listed = try await bob.iq("get", to: try JID(MUC.service), payload: Element(name: "query", namespace: XMPPNamespace.discoItems))
            #expect(listed.iqPayload?.children(named: "item").map { $0[attribute: "jid"] } == ["lasting@conference.localhost"])
            await bob.close()
        }
    }

    @Test("room archive: occupants page through it with RSM; members-only archives are for members; stanza-ids match the live ones")
    func archive() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            let room = MUC.room("records")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_membersonly": ["1"]])
            var liveIDs: [String] = []
            for index in 1...5 {
                try await alice.sendMessage(to: room, body: "entry \(index)", type: "groupchat")
                liveIDs.append(try await alice.groupchat(from: room).child(named: "stanza-id")?[attribute: "id"] ?? "")
            }
            func query(_ client: XMPPClient, max: Int, after: String? = nil) async throws -> (ids: [String], bodies: [String], fin: Element) {
                var set = Element("set", namespace: "http://jabber.org/protocol/rsm", children: [Element("max", namespace: "http://jabber.org/protocol/rsm", text: "\(max)")])
                if let after { set.append(Element("after", namespace: "http://jabber.org/protocol/rsm", text: after)) }
                let result = try await client.iq("set", to: room, payload: Element("query", namespace: "urn:xmpp:mam:2", attributes: [("queryid", "q")], children: [set]))
                var ids: [String] = []
                var bodies: [String] = []
                while let message = client.takeHeld(where: { $0.name == "message" && $0.from == room && $0.child(named: "result", namespace: "urn:xmpp:mam:2") != nil }) {
                    let item = message.child(named: "result", namespace: "urn:xmpp:mam:2")
                    ids.append(item?[attribute: "id"] ?? "")
                    bodies.append(item?.child(named: "forwarded", namespace: "urn:xmpp:forward:0")?.child(named: "message")?.child(named: "body")?.text ?? "")
                }
                return (ids, bodies, result)
            }
            let page1 = try await query(alice, max: 3)
            #expect(page1.ids == Array(liveIDs.prefix(3)) && page1.bodies == ["entry 1", "entry 2", "entry 3"])
            #expect(page1.fin.iqPayload?[attribute: "complete"] == nil)
            let page2 = try await query(alice, max: 3, after: page1.ids.last)
            #expect(page2.ids == Array(liveIDs.suffix(2)) && page2.fin.iqPayload?[attribute: "complete"] == "true")

            let outsider = try await carol.iq("set", to: room, payload: Element("query", namespace: "urn:xmpp:mam:2"))
            #expect(MUC.errorCondition(outsider) == "forbidden")
            _ = try await alice.iq("set", to: room, payload: MUC.adminItem([("jid", "bob@localhost"), ("affiliation", "member")]))
            #expect(try await query(bob, max: 10).ids == liveIDs)
        }
    }

    @Test("moderation (XEP-0425): a moderator retracts a message; everyone gets the retraction; the archive keeps a tombstone, not the body")
    func moderation() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("modded")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            try await bob.sendMessage(to: room, body: "something regrettable", type: "groupchat")
            let relayed = try await alice.groupchat(from: room)
            let id = try #require(relayed.child(named: "stanza-id")?[attribute: "id"])
            _ = try await bob.groupchat(from: room)

            let denied = try await bob.iq("set", to: room, payload: Element("moderate", namespace: "urn:xmpp:message-moderate:1", attributes: [("id", id)], children: [
                Element("retract", namespace: "urn:xmpp:message-retract:1")
            ]))
            #expect(MUC.errorCondition(denied) == "forbidden")
            let unknown = try await alice.iq("set", to: room, payload: Element("moderate", namespace: "urn:xmpp:message-moderate:1", attributes: [("id", "no-such-id")], children: [
                Element("retract", namespace: "urn:xmpp:message-retract:1")
            ]))
            #expect(MUC.errorCondition(unknown) == "item-not-found")
            let result = try await alice.iq("set", to: room, payload: Element("moderate", namespace: "urn:xmpp:message-moderate:1", attributes: [("id", id)], children: [
                Element("retract", namespace: "urn:xmpp:message-retract:1"), Element("reason", namespace: "urn:xmpp:message-moderate:1", text: "off topic"),
            ]))
            #expect(result.stanzaType == "result")
            let retraction = try await bob.receive { $0.name == "message" && $0.from == room && $0.child(named: "retract", namespace: "urn:xmpp:message-retract:1") != nil }
            let retract = retraction.child(named: "retract", namespace: "urn:xmpp:message-retract:1")
            #expect(retract?[attribute: "id"] == id)
            #expect(retract?.child(named: "moderated", namespace: "urn:xmpp:message-moderate:1")?[attribute: "by"] == "modded@conference.localhost/Alice")
            #expect(retract?.child(named: "reason")?.text == "off topic")

            _ = try await alice.iq("set", to: room, payload: Element("query", namespace: "urn:xmpp:mam:2"))
            let archived = try #require(alice.takeHeld { $0.name == "message" && $0.child(named: "result", namespace: "urn:xmpp:mam:2") != nil })
            let original = archived.child(named: "result")?.child(named: "forwarded")?.child(named: "message")
            #expect(original?.child(named: "body") == nil)
            #expect(original?.child(named: "retracted", namespace: "urn:xmpp:message-retract:1")?[attribute: "id"] == id)

            // Someone entering later sees the tombstone in the history, not the body.
            try await clients[2].enter(room, as: "Carol")
            let history = try await clients[2].receive { $0.name == "message" && $0.from?.bare == room && $0.child(named: "delay", namespace: XMPPNamespace.delay) != nil }
            #expect(history.child(named: "body") == nil && history.child(named: "retracted", namespace: "urn:xmpp:message-retract:1") != nil)
        }
    }

    @Test("a server that shuts down tells occupants they are out of the room (332) before it closes their streams")
    func shutdown() async throws {
        let server = try await TestServer()
        try await server.addUser("alice", password: "alice-password")
        let alice = try await server.login("alice", password: "alice-password", resource: "desk")
        try await alice.sendPresence()
        try await alice.createInstantRoom(MUC.room("closing"), as: "Alice")
        let dataDirectory = server.dataDirectory
        await server.server.shutdown()
        let out = try await alice.presence(from: MUC.occupant("closing", "Alice"), type: "unavailable")
        #expect(MUC.codes(out) == [332, 110])
        await alice.close()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}
