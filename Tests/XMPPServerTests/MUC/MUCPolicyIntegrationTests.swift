import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules

/// The service's policy (`modules: {muc: {...}}`), registration with rooms (§7.10) and IQs
/// between occupants (§7.7).
@Suite("MUC: policy, registration, occupant IQs")
struct MUCPolicyIntegrationTests {
    @Test("registering a nickname makes a member, reserves the nick against others, and is discoverable (x-roomuser-item)")
    func registration() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            let room = MUC.room("regs")
            try await alice.createInstantRoom(room, as: "Alice")
            let form = try await bob.iq("get", to: room, payload: Element(name: "query", namespace: "jabber:iq:register"))
            #expect(form.iqPayload?.child(named: "x", namespace: XMPPNamespace.dataForms)?.children(named: "field").contains { $0[attribute: "var"] == "muc#register_roomnick" } == true)
            var submit = Element("x", namespace: XMPPNamespace.dataForms, attributes: [("type", "submit")])
            submit.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", "FORM_TYPE")], children: [Element("value", namespace: XMPPNamespace.dataForms, text: "http://jabber.org/protocol/muc#register")]))
            submit.append(Element("field", namespace: XMPPNamespace.dataForms, attributes: [("var", "muc#register_roomnick")], children: [Element("value", namespace: XMPPNamespace.dataForms, text: "Bobby")]))
            let registered = try await bob.iq("set", to: room, payload: Element("query", namespace: "jabber:iq:register", children: [submit]))
            #expect(registered.stanzaType == "result")
            let taken = try await carol.iq("set", to: room, payload: Element("query", namespace: "jabber:iq:register", children: [submit]))
            #expect(MUC.errorCondition(taken) == "conflict")

            let members = try await alice.iq("get", to: room, payload: MUC.adminItem([("affiliation", "member")]))
            #expect(members.iqPayload?.children(named: "item").map { $0[attribute: "nick"] } == ["Bobby"])
            let reserved = try await bob.iq("get", to: room, payload: Element("query", namespace: XMPPNamespace.discoInfo, attributes: [("node", "x-roomuser-item")]))
            #expect(reserved.iqPayload?.child(named: "identity")?[attribute: "name"] == "Bobby")
            let again = try await bob.iq("get", to: room, payload: Element(name: "query", namespace: "jabber:iq:register"))
            #expect(again.iqPayload?.child(named: "registered") != nil && again.iqPayload?.child(named: "username")?.text == "Bobby")

            let impostor = try await carol.enter(room, as: "Bobby")
            #expect(MUC.errorCondition(impostor) == "conflict")
            let owner = try await bob.enter(room, as: "Bobby")
            #expect(MUC.item(owner)?[attribute: "affiliation"] == "member")
        }
    }

    @Test("IQs between occupants are relayed under occupant JIDs and the answer finds its way back")
    func occupantIQs() async throws {
        try await withMUCServer { _, clients in
            let (alice, bob) = (clients[0], clients[1])
            let room = MUC.room("relay")
            try await alice.createInstantRoom(room, as: "Alice")
            try await bob.enter(room, as: "Bob")
            let id = alice.makeID()
            try await alice.send(Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "get"), ("to", "relay@conference.localhost/Bob"), ("id", id)], children: [
                Element(name: "query", namespace: "jabber:iq:version")
            ]))
            let asked = try await bob.receive { $0.name == "iq" && $0.stanzaType == "get" }
            #expect(asked.from == MUC.occupant("relay", "Alice") && asked.id != id)
            try await bob.send(asked.iqResult(payload: Element("query", namespace: "jabber:iq:version", children: [Element("name", namespace: "jabber:iq:version", text: "BobClient")])))
            let answer = try await alice.receive { $0.name == "iq" && $0.id == id }
            #expect(answer.stanzaType == "result" && answer.from == MUC.occupant("relay", "Bob"))
            #expect(answer.iqPayload?.child(named: "name")?.text == "BobClient")
        }
    }

    @Test("create: admins — others get not-allowed; max_occupants and max_rooms_per_user apply")
    func policy() async throws {
        let settings = try ConfigurationLoader.load(yaml: """
            admins: [alice@localhost]
            modules: {muc: {create: admins, max_occupants: 2, max_rooms_per_user: 1}}
            """)
        try await withMUCServer(configure: { $0.modules.sections = settings.modules.sections; $0.admins = settings.admins }) { _, clients in
            let (alice, bob, carol) = (clients[0], clients[1], clients[2])
            let refused = try await bob.enter(MUC.room("bobs"), as: "Bob")
            #expect(refused.stanzaType == "error" && MUC.errorCondition(refused) == "not-allowed")
            try await alice.createRoom(MUC.room("first"), as: "Alice", ["muc#roomconfig_persistentroom": ["1"]])
            let second = try await alice.enter(MUC.room("second"), as: "Alice")
            #expect(MUC.errorCondition(second) == "resource-constraint")
            try await bob.enter(MUC.room("first"), as: "Bob")
            let full = try await carol.enter(MUC.room("first"), as: "Carol")
            #expect(MUC.errorCondition(full) == "service-unavailable")
            // Destroying the room gives the owner's allowance back.
            let destroyed = try await alice.iq("set", to: MUC.room("first"), payload: Element("query", namespace: MUC.owner, children: [Element(name: "destroy", namespace: MUC.owner)]))
            #expect(destroyed.stanzaType == "result")
            #expect(MUC.codes(try await alice.enter(MUC.room("second"), as: "Alice")).contains(201))
        }
    }

    @Test("a mistyped option stops the start and names the key")
    func badOptions() async throws {
        let settings = try ConfigurationLoader.load(yaml: "modules: {muc: {create: everyone, max_ocupants: 3}}")
        await #expect(throws: (any Error).self) {
            let server = try await TestServer(configure: { $0.modules.sections = settings.modules.sections })
            await server.stop()
        }
        let problems = XMPPServer.moduleProblems(configuration: { var c = ServerConfiguration(); c.modules.sections = settings.modules.sections; return c }(), modules: DefaultModules.all)
        let paths = problems.map(\.path)
        #expect(paths.contains("modules.muc.create") && paths.contains("modules.muc.max_ocupants"))
    }

    @Test("the service can be switched off: no conference domain is listed or routed")
    func disabled() async throws {
        let settings = try ConfigurationLoader.load(yaml: "modules: {muc: {enabled: false}}")
        try await withMUCServer(configure: { $0.modules.sections = settings.modules.sections }) { _, clients in
            let items = try await clients[0].iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoItems))
            #expect(items.iqPayload?.children(named: "item").contains { $0[attribute: "jid"] == MUC.service } == false)
        }
    }
}
