import Foundation
import Testing
import XMPPClient
import XMPPCore
@testable import XMPPServer

/// Chat rooms through the admin API: real clients make and fill the rooms over XMPP, the API
/// lists, inspects and destroys them over HTTP.
@Suite("Admin HTTP API: chat rooms")
struct AdminAPIRoomsIntegrationTests {
    typealias Fixture = AdminAPIIntegrationTests.Fixture

    /// alice and bob logged in with presence sent.
    static func clients(_ fixture: Fixture) async throws -> (XMPPClient, XMPPClient) {
        var clients: [XMPPClient] = []
        for name in ["alice", "bob"] {
            try await fixture.server.addUser(name, password: "\(name)-password")
            let client = try await fixture.server.login(name, password: "\(name)-password", resource: "desk")
            try await client.sendPresence()
            clients.append(client)
        }
        return (clients[0], clients[1])
    }

    static func array(_ object: [String: Any], _ key: String) -> [[String: Any]] {
        object[key] as? [[String: Any]] ?? []
    }

    @Test("rooms are listed with occupants and flags, inspected with occupants and affiliations, and paged; the status counts them")
    func listAndInspect() async throws {
        try await AdminAPIIntegrationTests.withFixture { fixture in
            let (alice, bob) = try await Self.clients(fixture)
            try await alice.createRoom(MUC.room("lobby"), as: "Alice", ["muc#roomconfig_roomname": ["The lobby"], "muc#roomconfig_persistentroom": ["1"]])
            try await bob.enter(MUC.room("lobby"), as: "Bob")
            try await alice.createRoom(
                MUC.room("secret"), as: "Alice",
                ["muc#roomconfig_membersonly": ["1"], "muc#roomconfig_publicroom": ["0"], "muc#roomconfig_passwordprotectedroom": ["1"], "muc#roomconfig_roomsecret": ["pw"]])

            let page = try await fixture.object("GET", "/rooms")
            #expect(page["total"] as? Int == 2)
            let rooms = Self.array(page, "rooms")
            #expect(rooms.compactMap { $0["jid"] as? String } == ["lobby@conference.localhost", "secret@conference.localhost"])
            let lobby = try #require(rooms.first)
            #expect(lobby["name"] as? String == "The lobby")
            #expect(lobby["occupants"] as? Int == 2)
            #expect(lobby["persistent"] as? Bool == true && lobby["public"] as? Bool == true)
            #expect(lobby["passwordProtected"] as? Bool == false && lobby["membersOnly"] as? Bool == false)
            let secret = try #require(rooms.last)
            #expect(secret["occupants"] as? Int == 1 && secret["persistent"] as? Bool == false)
            #expect(secret["public"] as? Bool == false && secret["passwordProtected"] as? Bool == true && secret["membersOnly"] as? Bool == true)

            let first = try await fixture.object("GET", "/rooms?service=conference.localhost&limit=1")
            #expect(Self.array(first, "rooms").compactMap { $0["jid"] as? String } == ["lobby@conference.localhost"])
            #expect(first["next"] as? String == "lobby@conference.localhost")
            let rest = try await fixture.object("GET", "/rooms?after=lobby@conference.localhost")
            #expect(Self.array(rest, "rooms").compactMap { $0["jid"] as? String } == ["secret@conference.localhost"] && rest["next"] == nil)
            #expect(try await fixture.call("GET", "/rooms?service=localhost", token: fixture.read).status == 400)

            let details = try await fixture.object("GET", "/rooms/lobby@conference.localhost")
            #expect((details["configuration"] as? [String: Any])?["name"] as? String == "The lobby")
            #expect(details["locked"] as? Bool == false)
            let occupants = Self.array(details, "occupants")
            #expect(occupants.compactMap { $0["nick"] as? String } == ["Alice", "Bob"])
            #expect(occupants.first?["role"] as? String == "moderator" && occupants.first?["affiliation"] as? String == "owner")
            #expect(occupants.last?["role"] as? String == "participant" && occupants.last?["affiliation"] as? String == "none")
            #expect(occupants.last?["jid"] as? String == "bob@localhost" && occupants.last?["sessions"] as? [String] == ["bob@localhost/desk"])
            let affiliations = Self.array(details, "affiliations")
            #expect(affiliations.map { "\($0["jid"] ?? "") \($0["affiliation"] ?? "")" } == ["alice@localhost owner"])
            #expect(!details.description.contains("pw"), "the room's password is never shown")

            let status = try await fixture.object("GET", "/status")
            #expect(status["activeRooms"] as? Int == 2 && status["roomOccupants"] as? Int == 3)

            #expect(try await fixture.call("GET", "/rooms/nothing@conference.localhost", token: fixture.read).status == 404)
            #expect(try await fixture.call("GET", "/rooms/lobby@localhost", token: fixture.read).status == 400)
            #expect(try await fixture.call("GET", "/rooms/conference.localhost", token: fixture.read).status == 400)
            await alice.close()
            await bob.close()
        }
    }

    @Test("destroying a room sends every occupant the destroy presence with the reason; the room is gone from listing and storage")
    func destroyWithOccupants() async throws {
        try await AdminAPIIntegrationTests.withFixture { fixture in
            let (alice, bob) = try await Self.clients(fixture)
            try await alice.createRoom(MUC.room("lobby"), as: "Alice", ["muc#roomconfig_persistentroom": ["1"]])
            try await bob.enter(MUC.room("lobby"), as: "Bob")
            #expect(try await fixture.call("DELETE", "/rooms/lobby@conference.localhost", token: fixture.read, json: #"{"reason":"x"}"#).status == 403)

            let destroyed = try await fixture.call("DELETE", "/rooms/lobby@conference.localhost", token: fixture.write, json: #"{"reason":"Closing time"}"#)
            #expect(destroyed.status == 204, "\(destroyed.body)")
            for (client, nick) in [(bob, "Bob"), (alice, "Alice")] {
                let presence = try await client.presence(from: MUC.occupant("lobby", nick), type: "unavailable")
                let destroy = presence.child(named: "x", namespace: MUC.user)?.child(named: "destroy")
                #expect(destroy?.child(named: "reason")?.text == "Closing time", "\(nick) got \(presence)")
                #expect(MUC.item(presence)?[attribute: "role"] == "none")
            }
            #expect(try await fixture.call("GET", "/rooms/lobby@conference.localhost", token: fixture.read).status == 404)
            #expect(Self.array(try await fixture.object("GET", "/rooms"), "rooms").isEmpty)
            #expect(try await fixture.call("DELETE", "/rooms/lobby@conference.localhost", token: fixture.write).status == 404)
            // A message to the room now finds no room: it was not kept anywhere.
            let reply = try await bob.iq("get", to: MUC.room("lobby"), payload: Element("query", namespace: XMPPNamespace.discoInfo))
            #expect(reply.stanzaType == "error" && MUC.errorCondition(reply) == "item-not-found")
            await alice.close()
            await bob.close()
        }
    }

    @Test("a stored room nobody is in is listed and destroyed from storage; the reason may come in the query")
    func destroyStoredRoom() async throws {
        try await AdminAPIIntegrationTests.withFixture { fixture in
            let (alice, bob) = try await Self.clients(fixture)
            try await alice.createRoom(MUC.room("archive"), as: "Alice", ["muc#roomconfig_persistentroom": ["1"], "muc#roomconfig_roomname": ["Old"]])
            try await alice.send(Element("presence", namespace: XMPPNamespace.client, attributes: [("to", MUC.occupant("archive", "Alice").description), ("type", "unavailable")]))
            _ = try await alice.presence(from: MUC.occupant("archive", "Alice"), type: "unavailable")
            try await waitUntil("the room left memory") { fixture.server.server.admin.roomActivity.rooms == 0 }

            let listed = Self.array(try await fixture.object("GET", "/rooms"), "rooms")
            #expect(listed.count == 1 && listed.first?["occupants"] as? Int == 0 && listed.first?["name"] as? String == "Old")
            let details = try await fixture.object("GET", "/rooms/archive@conference.localhost")
            #expect(Self.array(details, "occupants").isEmpty && Self.array(details, "affiliations").count == 1)

            #expect(try await fixture.call("DELETE", "/rooms/archive@conference.localhost?reason=Unused", token: fixture.write).status == 204)
            #expect(try await fixture.call("GET", "/rooms/archive@conference.localhost", token: fixture.read).status == 404)
            // Someone entering now makes a new room rather than finding the old one.
            let entered = try await bob.enter(MUC.room("archive"), as: "Bob")
            #expect(MUC.codes(entered).contains(201))
            await alice.close()
            await bob.close()
        }
    }
}
