import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServerModules

/// XEP-0045 §6 and §7 over real sockets: discovery, entering, messages, history, subject,
/// nicknames, private messages, leaving, self-ping.
@Suite("MUC: occupants")
struct MUCOccupantIntegrationTests {
    @Test("the service is listed by the host, answers disco#info as conference/text, and lists public rooms only")
    func discovery() async throws {
        try await withMUCServer { _, clients in
            let alice = clients[0]
            let items = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoItems))
            #expect(items.iqPayload?.children(named: "item").contains { $0[attribute: "jid"] == MUC.service } == true)
            let info = try await alice.iq("get", to: try JID(MUC.service), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let identity = info.iqPayload?.child(named: "identity")
            #expect(identity?[attribute: "category"] == "conference" && identity?[attribute: "type"] == "text")
            #expect(info.iqPayload?.children(named: "feature").contains { $0[attribute: "var"] == MUC.muc } == true)

            try await alice.createRoom(MUC.room("lobby"), as: "Alice", ["muc#roomconfig_roomname": ["The Lobby"], "muc#roomconfig_publicroom": ["1"]])
            try await alice.createRoom(MUC.room("hideout"), as: "Alice", ["muc#roomconfig_publicroom": ["0"]])
            let rooms = try await alice.iq("get", to: try JID(MUC.service), payload: Element(name: "query", namespace: XMPPNamespace.discoItems))
            let listed = rooms.iqPayload?.children(named: "item").map { ($0[attribute: "jid"] ?? "", $0[attribute: "name"] ?? "") }
            #expect(listed?.map(\.0) == ["lobby@conference.localhost"])
            #expect(listed?.first?.1 == "The Lobby")

            let roomInfo = try await alice.iq("get", to: MUC.room("lobby"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let features = Set(roomInfo.iqPayload?.children(named: "feature").compactMap { $0[attribute: "var"] } ?? [])
            #expect(features.isSuperset(of: [MUC.muc, "muc_public", "muc_temporary", "muc_open", "muc_unmoderated", "muc_semianonymous", "muc_unsecured",
                                             "urn:xmpp:mam:2", "urn:xmpp:occupant-id:0", "urn:xmpp:sid:0", "http://jabber.org/protocol/muc#self-ping-optimization"]))
            #expect(roomInfo.iqPayload?.child(named: "identity")?[attribute: "name"] == "The Lobby")
            let form = roomInfo.iqPayload?.child(named: "x", namespace: XMPPNamespace.dataForms)
            let occupants = form?.children(named: "field").first { $0[attribute: "var"] == "muc#roominfo_occupants" }?.child(named: "value")?.text
            #expect(occupants == "1")
            let missing = try await alice.iq("get", to: MUC.room("nowhere"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            #expect(MUC.errorCondition(missing) == "item-not-found")
        }
    }

    @Test("a new room is locked until its owner asks for an instant room; others meet item-not-found meanwhile")
    func lockedUntilConfigured() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let created = try await alice.enter(MUC.room("fresh"), as: "Alice")
            #expect(MUC.codes(created) == [110, 201, 170])
            #expect(MUC.item(created)?[attribute: "affiliation"] == "owner" && MUC.item(created)?[attribute: "role"] == "moderator")
            let refused = try await bob.enter(MUC.room("fresh"), as: "Bob")
            #expect(refused.stanzaType == "error" && MUC.errorCondition(refused) == "item-not-found")
            let result = try await alice.iq("set", to: MUC.room("fresh"), payload: MUC.configure([:]))
            #expect(result.stanzaType == "result")
            let entered = try await bob.enter(MUC.room("fresh"), as: "Bob")
            #expect(MUC.codes(entered) == [110, 170])
            #expect(MUC.item(entered)?[attribute: "affiliation"] == "none" && MUC.item(entered)?[attribute: "role"] == "participant")
        }
    }

    @Test("entering: existing occupants first, then one's own presence with 110; others see the newcomer; subject last")
    func entering() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("talk")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_whois": ["anyone"]])
            let subjectResult = try await alice.receive { $0.name == "message" && $0.child(named: "subject") != nil }
            #expect(subjectResult.child(named: "subject")?.text == "")

            try await bob.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", "talk@conference.localhost/Bob"), ("id", "join-1")], children: [
                Element("x", namespace: MUC.muc), Element("status", namespace: XMPPNamespace.client, text: "hello"),
            ]))
            let first = try await bob.receive { $0.name == "presence" && $0.from?.bare == room }
            #expect(first.from == MUC.occupant("talk", "Alice"))
            #expect(MUC.item(first)?[attribute: "jid"] == "alice@localhost/desk", "a non-anonymous room shows real JIDs")
            #expect(first.child(named: "occupant-id", namespace: "urn:xmpp:occupant-id:0") != nil)
            let own = try await bob.receive { $0.name == "presence" && $0.from?.bare == room }
            #expect(own.from == MUC.occupant("talk", "Bob") && own.id == "join-1")
            #expect(MUC.codes(own) == [110, 100, 170])
            #expect(own.child(named: "status")?.text == "hello")
            let subject = try await bob.receive { $0.name == "message" && $0.from?.bare == room }
            #expect(subject.child(named: "subject") != nil && subject.stanzaType == "groupchat")

            let seen = try await alice.presence(from: MUC.occupant("talk", "Bob"))
            #expect(MUC.item(seen)?[attribute: "role"] == "participant" && MUC.codes(seen).isEmpty)
            #expect(seen.child(named: "status")?.text == "hello")
        }
    }

    @Test("messages are reflected to everyone with the room's stanza-id and the sender's occupant id; the client's id is kept")
    func groupchatMessages() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("chat")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            var message = Element("message", namespace: XMPPNamespace.client, attributes: [("to", room.description), ("type", "groupchat"), ("id", "m-1")], children: [
                Element("body", namespace: XMPPNamespace.client, text: "hi all"),
                // A forged occupant id and stanza-id are dropped.
                Element("occupant-id", namespace: "urn:xmpp:occupant-id:0", attributes: [("id", "forged")]),
                Element("stanza-id", namespace: "urn:xmpp:sid:0", attributes: [("id", "forged"), ("by", room.description)]),
            ])
            try await bob.send(message)
            let reflected = try await bob.groupchat(from: room)
            let received = try await alice.groupchat(from: room)
            for copy in [reflected, received] {
                #expect(copy.from == MUC.occupant("chat", "Bob") && copy.id == "m-1" && copy.child(named: "body")?.text == "hi all")
                let ids = copy.children(named: "stanza-id", namespace: "urn:xmpp:sid:0")
                #expect(ids.count == 1 && ids.first?[attribute: "by"] == room.description && ids.first?[attribute: "id"] != "forged")
                let occupantIDs = copy.children(named: "occupant-id", namespace: "urn:xmpp:occupant-id:0")
                #expect(occupantIDs.count == 1 && occupantIDs.first?[attribute: "id"] != "forged")
            }
            #expect(reflected.to?.description == "bob@localhost/desk" && received.to?.description == "alice@localhost/desk")
            #expect(reflected.child(named: "stanza-id")?[attribute: "id"] == received.child(named: "stanza-id")?[attribute: "id"])

            // The same person keeps one occupant id under another nickname.
            let firstID = reflected.child(named: "occupant-id", namespace: "urn:xmpp:occupant-id:0")?[attribute: "id"]
            try await bob.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", "chat@conference.localhost/Robert")]))
            let renamed = try await bob.presence(from: MUC.occupant("chat", "Robert"))
            #expect(renamed.child(named: "occupant-id", namespace: "urn:xmpp:occupant-id:0")?[attribute: "id"] == firstID)

            // Outsiders may not speak.
            message[attribute: "id"] = "m-2"
            try await clients[2].send(message)
            let refused = try await clients[2].receive { $0.name == "message" && $0.id == "m-2" }
            #expect(refused.stanzaType == "error" && MUC.errorCondition(refused) == "not-acceptable")
        }
    }

    @Test("history on entering honours maxstanzas, maxchars, seconds and since, with delay stamps from the room")
    func history() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("past")
            try await alice.createInstantRoom(room, as: "Alice")
            for index in 1...5 {
                try await alice.sendMessage(to: room, body: "line \(index)", type: "groupchat")
                _ = try await alice.groupchat(from: room)
            }
            func bodies(_ client: XMPPClient, _ history: [(String, String)]?, nick: String) async throws -> [String] {
                try await client.enter(room, as: nick, history: history)
                var result: [String] = []
                while true {
                    let next = try await client.receive { $0.name == "message" && $0.from?.bare == room }
                    if next.child(named: "subject") != nil { break }
                    #expect(next.child(named: "delay", namespace: XMPPNamespace.delay)?[attribute: "from"] == room.description)
                    result.append(next.child(named: "body")?.text ?? "")
                }
                try await client.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", "\(room)/\(nick)"), ("type", "unavailable")]))
                _ = try await client.presence(from: try room.with(resource: nick), type: "unavailable")
                return result
            }
            #expect(try await bodies(bob, nil, nick: "b1") == (1...5).map { "line \($0)" })
            #expect(try await bodies(bob, [("maxstanzas", "2")], nick: "b2") == ["line 4", "line 5"])
            #expect(try await bodies(bob, [("maxstanzas", "0")], nick: "b3") == [])
            #expect(try await bodies(bob, [("seconds", "0")], nick: "b4") == [])
            #expect(try await bodies(bob, [("since", "2000-01-01T00:00:00Z")], nick: "b5").count == 5)
            #expect(try await bodies(bob, [("since", XMPPDateTime.string(Date().addingTimeInterval(60)))], nick: "b6") == [])
            // One relayed line is a few hundred characters of XML: 1 char fits none.
            #expect(try await bodies(bob, [("maxchars", "1")], nick: "b7") == [])
        }
    }

    @Test("nickname change: 303 with the new nick from the old, then presence from the new; conflicts are refused")
    func nicknameChange() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("names")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            _ = try await alice.presence(from: MUC.occupant("names", "Bob"))

            try await bob.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", "names@conference.localhost/Alice"), ("id", "taken")]))
            let conflict = try await bob.receive { $0.name == "presence" && $0.id == "taken" }
            #expect(conflict.stanzaType == "error" && MUC.errorCondition(conflict) == "conflict")

            try await bob.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", "names@conference.localhost/Bobby")]))
            let old = try await alice.presence(from: MUC.occupant("names", "Bob"), type: "unavailable")
            #expect(MUC.codes(old) == [303] && MUC.item(old)?[attribute: "nick"] == "Bobby")
            let ownOld = try await bob.presence(from: MUC.occupant("names", "Bob"), type: "unavailable")
            #expect(MUC.codes(ownOld) == [303, 110])
            let new = try await alice.presence(from: MUC.occupant("names", "Bobby"))
            #expect(MUC.item(new)?[attribute: "role"] == "participant")
            let ownNew = try await bob.presence(from: MUC.occupant("names", "Bobby"))
            #expect(MUC.codes(ownNew).contains(110))

            // Entering under a nickname in use by someone else.
            let carol = try await clients[2].enter(room, as: "Alice")
            #expect(carol.stanzaType == "error" && MUC.errorCondition(carol) == "conflict")
        }
    }

    @Test("private messages go to the occupant's real JID from the sender's occupant JID, marked muc#user")
    func privateMessages() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("whisper")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            try await alice.sendMessage(to: MUC.occupant("whisper", "Bob"), body: "psst", type: "chat", id: "pm-1")
            let pm = try await bob.receive { $0.name == "message" && $0.id == "pm-1" }
            #expect(pm.from == MUC.occupant("whisper", "Alice") && pm.to?.description == "bob@localhost/desk")
            #expect(pm.child(named: "x", namespace: MUC.user) != nil && pm.child(named: "body")?.text == "psst")

            try await alice.sendMessage(to: MUC.occupant("whisper", "Nobody"), body: "?", type: "chat", id: "pm-2")
            let missing = try await alice.receive { $0.name == "message" && $0.id == "pm-2" }
            #expect(MUC.errorCondition(missing) == "item-not-found")
            try await alice.sendMessage(to: MUC.occupant("whisper", "Bob"), body: "?", type: "groupchat", id: "pm-3")
            let wrongType = try await alice.receive { $0.name == "message" && $0.id == "pm-3" }
            #expect(MUC.errorCondition(wrongType) == "bad-request")
            try await clients[2].sendMessage(to: MUC.occupant("whisper", "Bob"), body: "?", type: "chat", id: "pm-4")
            let outsider = try await clients[2].receive { $0.name == "message" && $0.id == "pm-4" }
            #expect(MUC.errorCondition(outsider) == "not-acceptable")
        }
    }

    @Test("leaving: everyone sees unavailable with role none; a temporary room goes with its last occupant")
    func leaving() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("brief")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            try await bob.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", "brief@conference.localhost/Bob"), ("type", "unavailable")], children: [
                Element("status", namespace: XMPPNamespace.client, text: "bye")
            ]))
            let gone = try await alice.presence(from: MUC.occupant("brief", "Bob"), type: "unavailable")
            #expect(MUC.item(gone)?[attribute: "role"] == "none" && gone.child(named: "status")?.text == "bye")
            let own = try await bob.presence(from: MUC.occupant("brief", "Bob"), type: "unavailable")
            #expect(MUC.codes(own) == [110])

            // A session that ends leaves the rooms it was in (its directed presence is withdrawn).
            try await bob.enter(room, as: "Bob")
            await bob.close()
            let dropped = try await alice.presence(from: MUC.occupant("brief", "Bob"), type: "unavailable")
            #expect(MUC.item(dropped)?[attribute: "role"] == "none")

            try await alice.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", "brief@conference.localhost/Alice"), ("type", "unavailable")]))
            _ = try await alice.presence(from: MUC.occupant("brief", "Alice"), type: "unavailable")
            let info = try await alice.iq("get", to: room, payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            #expect(MUC.errorCondition(info) == "item-not-found", "an empty temporary room is destroyed")
        }
    }

    @Test("XEP-0410 self-ping: the joined client gets a result, others not-acceptable; the subject is set by occupants allowed to")
    func selfPingAndSubject() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            let room = MUC.room("pingable")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            let ping = Element(name: "ping", namespace: XMPPNamespace.ping)
            #expect(try await bob.iq("get", to: MUC.occupant("pingable", "Bob"), payload: ping).stanzaType == "result")
            let stranger = try await carol.iq("get", to: MUC.occupant("pingable", "Bob"), payload: ping)
            #expect(MUC.errorCondition(stranger) == "not-acceptable")

            // By default only moderators change the subject (§8.1).
            try await bob.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", room.description), ("type", "groupchat"), ("id", "s-1")], children: [
                Element("subject", namespace: XMPPNamespace.client, text: "Bob's topic")
            ]))
            let refused = try await bob.receive { $0.name == "message" && $0.id == "s-1" && $0.stanzaType == "error" }
            #expect(MUC.errorCondition(refused) == "forbidden")
            try await alice.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", room.description), ("type", "groupchat")], children: [
                Element("subject", namespace: XMPPNamespace.client, text: "Alice's topic")
            ]))
            let subject = try await bob.receive { $0.name == "message" && $0.child(named: "subject")?.text == "Alice's topic" }
            #expect(subject.from == MUC.occupant("pingable", "Alice"))
            // A newcomer gets the subject as set.
            try await carol.enter(room, as: "Carol")
            let told = try await carol.receive { $0.name == "message" && $0.child(named: "subject") != nil }
            #expect(told.child(named: "subject")?.text == "Alice's topic")
        }
    }
}
