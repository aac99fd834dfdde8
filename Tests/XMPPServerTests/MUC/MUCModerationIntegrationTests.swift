import Foundation
import Testing
import XMPPClient
import XMPPCore

/// XEP-0045 §8 and §9 over real sockets: kick, voice, bans with reasons, member lists,
/// members-only and password rooms, full rooms, invitations.
@Suite("MUC: moderators and admins")
struct MUCModerationIntegrationTests {
    @Test("kick: the occupant leaves with 307, the reason and the actor; admins cannot be kicked; a non-moderator is refused")
    func kick() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            let room = MUC.room("kicks")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            try await carol.enter(room, as: "Carol")

            let notModerator = try await carol.iq("set", to: room, payload: MUC.adminItem([("nick", "Bob"), ("role", "none")]))
            #expect(MUC.errorCondition(notModerator) == "forbidden")
            let unknownRole = try await alice.iq("set", to: room, payload: MUC.adminItem([("nick", "Bob"), ("role", "overlord")]))
            #expect(MUC.errorCondition(unknownRole) == "bad-request")
            let owner = try await alice.iq("set", to: room, payload: MUC.adminItem([("nick", "Alice"), ("role", "none")]))
            #expect(MUC.errorCondition(owner) == "not-allowed")

            let result = try await alice.iq("set", to: room, payload: MUC.adminItem([("nick", "Bob"), ("role", "none")], reason: "spamming"))
            #expect(result.stanzaType == "result")
            let kicked = try await bob.presence(from: MUC.occupant("kicks", "Bob"), type: "unavailable")
            #expect(MUC.codes(kicked) == [307, 110])
            #expect(MUC.item(kicked)?.child(named: "reason")?.text == "spamming")
            #expect(MUC.item(kicked)?.child(named: "actor")?[attribute: "nick"] == "Alice")
            let seen = try await carol.presence(from: MUC.occupant("kicks", "Bob"), type: "unavailable")
            #expect(MUC.codes(seen) == [307] && MUC.item(seen)?[attribute: "role"] == "none")
            // Kicked is not banned: Bob may come back.
            #expect(MUC.codes(try await bob.enter(room, as: "Bob")).contains(110))
        }
    }

    @Test("moderated room: visitors may not speak until a moderator grants voice; lists of roles for moderators")
    func voice() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("stage")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_moderatedroom": ["1"]])
            let entered = try await bob.enter(room, as: "Bob")
            #expect(MUC.item(entered)?[attribute: "role"] == "visitor")
            try await bob.sendMessage(to: room, body: "may I?", type: "groupchat", id: "v-1")
            let refused = try await bob.receive { $0.name == "message" && $0.id == "v-1" && $0.stanzaType == "error" }
            #expect(MUC.errorCondition(refused) == "forbidden")

            let visitors = try await alice.iq("get", to: room, payload: MUC.adminItem([("role", "visitor")]))
            #expect(visitors.iqPayload?.children(named: "item").map { $0[attribute: "nick"] } == ["Bob"])
            let asVisitor = try await bob.iq("get", to: room, payload: MUC.adminItem([("role", "moderator")]))
            #expect(MUC.errorCondition(asVisitor) == "forbidden")

            _ = try await alice.iq("set", to: room, payload: MUC.adminItem([("nick", "Bob"), ("role", "participant")]))
            let voiced = try await bob.presence(from: MUC.occupant("stage", "Bob"))
            #expect(MUC.item(voiced)?[attribute: "role"] == "participant" && MUC.codes(voiced).contains(110))
            try await bob.sendMessage(to: room, body: "thank you", type: "groupchat", id: "v-2")
            #expect(try await alice.groupchat(from: room).child(named: "body")?.text == "thank you")

            _ = try await alice.iq("set", to: room, payload: MUC.adminItem([("nick", "Bob"), ("role", "visitor")]))
            let silenced = try await bob.presence(from: MUC.occupant("stage", "Bob"))
            #expect(MUC.item(silenced)?[attribute: "role"] == "visitor")
        }
    }

    @Test("ban: the occupant leaves with 301, cannot come back (forbidden), and the outcast list keeps the reason")
    func ban() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            let room = MUC.room("bans")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            let result = try await alice.iq("set", to: room, payload: MUC.adminItem([("jid", "bob@localhost"), ("affiliation", "outcast")], reason: "trolling"))
            #expect(result.stanzaType == "result")
            let banned = try await bob.presence(from: MUC.occupant("bans", "Bob"), type: "unavailable")
            #expect(MUC.codes(banned) == [301, 110] && MUC.item(banned)?[attribute: "affiliation"] == "outcast")
            #expect(MUC.item(banned)?.child(named: "reason")?.text == "trolling")
            let again = try await bob.enter(room, as: "Bob")
            #expect(again.stanzaType == "error" && MUC.errorCondition(again) == "forbidden")

            // Someone not in the room can be banned too.
            _ = try await alice.iq("set", to: room, payload: MUC.adminItem([("jid", "dave@localhost"), ("affiliation", "outcast")], reason: "known spammer"))
            let outcasts = try await alice.iq("get", to: room, payload: MUC.adminItem([("affiliation", "outcast")]))
            let listed = outcasts.iqPayload?.children(named: "item").map { ($0[attribute: "jid"] ?? "", $0.child(named: "reason")?.text ?? "") }
            #expect(listed?.map(\.0) == ["bob@localhost", "dave@localhost"])
            #expect(listed?.map(\.1) == ["trolling", "known spammer"])
            let notAdmin = try await carol.iq("get", to: room, payload: MUC.adminItem([("affiliation", "outcast")]))
            #expect(MUC.errorCondition(notAdmin) == "forbidden")
        }
    }

    @Test("members-only room: non-members get registration-required; members enter; losing membership removes with 321")
    func membersOnly() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            let room = MUC.room("club")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_membersonly": ["1"]])
            let outsider = try await carol.enter(room, as: "Carol")
            #expect(outsider.stanzaType == "error" && MUC.errorCondition(outsider) == "registration-required")
            _ = try await alice.iq("set", to: room, payload: MUC.adminItem([("jid", "bob@localhost"), ("affiliation", "member")]))
            let entered = try await bob.enter(room, as: "Bob")
            #expect(MUC.item(entered)?[attribute: "affiliation"] == "member")
            let members = try await alice.iq("get", to: room, payload: MUC.adminItem([("affiliation", "member")]))
            #expect(members.iqPayload?.children(named: "item").map { $0[attribute: "jid"] } == ["bob@localhost"])
            _ = try await alice.iq("set", to: room, payload: MUC.adminItem([("jid", "bob@localhost"), ("affiliation", "none")]))
            let removed = try await bob.presence(from: MUC.occupant("club", "Bob"), type: "unavailable")
            #expect(MUC.codes(removed) == [321, 110])
        }
    }

    @Test("password-protected room: no or a wrong password is not-authorized, the right one enters")
    func password() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("vault")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_passwordprotectedroom": ["1"], "muc#roomconfig_roomsecret": ["open sesame"]])
            let none = try await bob.enter(room, as: "Bob")
            #expect(MUC.errorCondition(none) == "not-authorized")
            let wrong = try await bob.enter(room, as: "Bob", password: "guess")
            #expect(MUC.errorCondition(wrong) == "not-authorized")
            #expect(MUC.codes(try await bob.enter(room, as: "Bob", password: "open sesame")).contains(110))
            let info = try await bob.iq("get", to: room, payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            #expect(info.iqPayload?.children(named: "feature").contains { $0[attribute: "var"] == "muc_passwordprotected" } == true)
        }
    }

    @Test("a full room refuses newcomers with service-unavailable, but not its admins")
    func fullRoom() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol, dave) = (clients[0], clients[1], clients[2], clients[3])
            let room = MUC.room("tiny")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_maxusers": ["2"], "muc#roomconfig_roomadmins": ["dave@localhost"]])
            try await bob.enter(room, as: "Bob")
            let full = try await carol.enter(room, as: "Carol")
            #expect(full.stanzaType == "error" && MUC.errorCondition(full) == "service-unavailable")
            #expect(MUC.codes(try await dave.enter(room, as: "Dave")).contains(110))
        }
    }

    @Test("mediated invitation reaches the invitee from the room with the inviter; a decline goes back to the inviter; direct invitations pass")
    func invitations() async throws {
        try await withMUCServer { _, clients in
            let (alice, carol) = (clients[0], clients[2])
            let room = MUC.room("party")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_membersonly": ["1"]])
            try await alice.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", room.description)], children: [
                Element("x", namespace: MUC.user, children: [
                    Element("invite", namespace: MUC.user, attributes: [("to", "carol@localhost")], children: [Element("reason", namespace: MUC.user, text: "come along")])
                ])
            ]))
            let invitation = try await carol.receive { $0.name == "message" && $0.from == room }
            let invite = invitation.child(named: "x", namespace: MUC.user)?.child(named: "invite")
            #expect(invite?[attribute: "from"] == "alice@localhost/desk" && invite?.child(named: "reason")?.text == "come along")
            // An invitation to a members-only room makes the invitee a member.
            #expect(MUC.codes(try await carol.enter(room, as: "Carol")).contains(110))

            try await carol.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", room.description)], children: [
                Element("x", namespace: MUC.user, children: [
                    Element("decline", namespace: MUC.user, attributes: [("to", "alice@localhost/desk")], children: [Element("reason", namespace: MUC.user, text: "busy")])
                ])
            ]))
            let declined = try await alice.receive { $0.name == "message" && $0.child(named: "x", namespace: MUC.user)?.child(named: "decline") != nil }
            let decline = declined.child(named: "x", namespace: MUC.user)?.child(named: "decline")
            #expect(declined.from == room && decline?[attribute: "from"] == "carol@localhost" && decline?.child(named: "reason")?.text == "busy")

            // XEP-0249: a direct invitation is a message between accounts, delivered as sent.
            try await alice.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", "dave@localhost"), ("id", "direct")], children: [
                Element("x", namespace: "jabber:x:conference", attributes: [("jid", room.description), ("reason", "join us")])
            ]))
            let direct = try await clients[3].receive { $0.name == "message" && $0.id == "direct" }
            #expect(direct.child(named: "x", namespace: "jabber:x:conference")?[attribute: "jid"] == room.description)
        }
    }

    @Test("voice request: a visitor's request reaches moderators as a muc#request form; approving it grants voice")
    func voiceRequest() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("hall")
            try await alice.createRoom(room, as: "Alice", ["muc#roomconfig_moderatedroom": ["1"]])
            try await bob.enter(room, as: "Bob")
            var request = Element("x", namespace: XMPPNamespace.dataForms, attributes: [("type", "submit")])
            request.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", "FORM_TYPE")], children: [Element("value", namespace: XMPPNamespace.dataForms, text: "http://jabber.org/protocol/muc#request")]))
            request.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", "muc#role")], children: [Element("value", namespace: XMPPNamespace.dataForms, text: "participant")]))
            try await bob.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", room.description)], children: [request]))
            let forwarded = try await alice.receive { $0.name == "message" && $0.from == room && $0.child(named: "x", namespace: XMPPNamespace.dataForms) != nil }
            let form = try #require(forwarded.child(named: "x", namespace: XMPPNamespace.dataForms))
            let fields = Dictionary(form.children(named: "field").map { ($0[attribute: "var"] ?? "", $0.child(named: "value")?.text ?? "") }, uniquingKeysWith: { a, _ in a })
            #expect(fields["muc#roomnick"] == "Bob" && fields["muc#jid"] == "bob@localhost" && fields["FORM_TYPE"] == "http://jabber.org/protocol/muc#request")

            var answer = form
            answer[attribute: "type"] = "submit"
            answer.children = answer.children.map { node in
                guard case .element(var field) = node, field[attribute: "var"] == "muc#request_allow" else { return node }
                field.children = [.element(Element("value", namespace: XMPPNamespace.dataForms, text: "true"))]
                return .element(field)
            }
            try await alice.send(Element("message", namespace: XMPPNamespace.client, attributes: [("to", room.description)], children: [answer]))
            let voiced = try await bob.presence(from: MUC.occupant("hall", "Bob"))
            #expect(MUC.item(voiced)?[attribute: "role"] == "participant")
        }
    }
}
