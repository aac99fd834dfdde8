import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules

/// XEP-0157 contact addresses and XEP-0215 external services, asked for by a real client.
@Suite("Contact addresses (XEP-0157) and external services (XEP-0215) over real sockets")
struct ServiceDiscoveryIntegrationTests {
    static func configure(_ configuration: inout ServerConfiguration) {
        configuration.contactInfo = [.admin: ["mailto:admin@localhost", "xmpp:admin@localhost"], .abuse: ["https://localhost/abuse"]]
        configuration.externalServices = [
            .init(type: .stun, transport: .udp, host: "127.0.0.1", port: 3478),
            .init(type: .turn, transport: .udp, host: "127.0.0.1", port: 3478, secret: "shared-secret"),
        ]
    }

    @Test("the server's disco#info carries the serverinfo form, and the caps hash in the stream features covers it")
    func contactAddresses() async throws {
        try await withServer(configure: Self.configure) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let info = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let query = try #require(info.child(named: "query", namespace: XMPPNamespace.discoInfo))
            let form = try #require(query.children(named: "x").compactMap { DataForm(element: $0) }.first)
            #expect(form.fields.first { $0.name == "FORM_TYPE" }?.values == ["http://jabber.org/network/serverinfo"])
            #expect(form.fields.first { $0.name == "admin-addresses" }?.values == ["mailto:admin@localhost", "xmpp:admin@localhost"])
            #expect(form.fields.first { $0.name == "abuse-addresses" }?.values == ["https://localhost/abuse"])
            #expect(query.children(named: "feature").contains { $0[attribute: "var"] == "urn:xmpp:extdisco:2" })
            // What a client computes from the answer must be the hash the server advertised.
            let identities = query.children(named: "identity").map {
                (DiscoIdentity(category: $0[attribute: "category"] ?? "", type: $0[attribute: "type"] ?? "", name: $0[attribute: "name"]), language: String?.none)
            }
            let computed = DiscoModule.capsVersion(
                identities: identities, features: query.children(named: "feature").compactMap { $0[attribute: "var"] }, forms: query.children(named: "x"))
            #expect(alice.streamFeatures.child(named: "c", namespace: XMPPNamespace.caps)?[attribute: "ver"] == computed)
            await alice.close()
        }
    }

    @Test("services: STUN as configured, TURN with REST credentials; a type filter; credentials for one service; unknown ones item-not-found")
    func externalServices() async throws {
        try await withServer(configure: Self.configure) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let domain = try JID("localhost")
            let all = try await alice.iq("get", to: domain, payload: Element("services", namespace: ExternalServicesModule.namespace))
            let services = all.child(named: "services")?.children(named: "service") ?? []
            #expect(services.map { $0[attribute: "type"] } == ["stun", "turn"])
            let turn = try #require(services.last)
            let username = try #require(turn[attribute: "username"])
            let expiry = try #require(Int(username.split(separator: ":").first ?? ""))
            #expect(username.hasSuffix(":alice@localhost"))
            #expect(abs(expiry - Int(Date().timeIntervalSince1970) - 86_400) < 60)
            #expect(turn[attribute: "password"] == ExternalServicesModule.credentials(secret: "shared-secret", account: alice.jid, expires: expiry).password)
            #expect(services.first?[attribute: "password"] == nil)

            let onlyTURN = try await alice.iq("get", to: domain, payload: Element("services", namespace: ExternalServicesModule.namespace, attributes: [("type", "turn")]))
            #expect(onlyTURN.child(named: "services")?.children(named: "service").count == 1)

            let asked = Element(
                "credentials", namespace: ExternalServicesModule.namespace,
                children: [Element("service", namespace: ExternalServicesModule.namespace, attributes: [("host", "127.0.0.1"), ("type", "turn")])])
            let credentials = try await alice.iq("get", to: domain, payload: asked)
            #expect(credentials.child(named: "credentials")?.child(named: "service")?[attribute: "username"]?.hasSuffix(":alice@localhost") == true)

            let unknown = Element(
                "credentials", namespace: ExternalServicesModule.namespace,
                children: [Element("service", namespace: ExternalServicesModule.namespace, attributes: [("host", "elsewhere.example")])])
            let refused = try await alice.iq("get", to: domain, payload: unknown)
            #expect(refused[attribute: "type"] == "error" && refused.child(named: "error")?.child(named: "item-not-found") != nil)
            await alice.close()
        }
    }

    @Test("without configuration there is no form, no feature and no answer")
    func nothingConfigured() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let info = try await alice.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let query = info.child(named: "query", namespace: XMPPNamespace.discoInfo)
            #expect(query?.children(named: "x").isEmpty == true)
            #expect(query?.children(named: "feature").contains { $0[attribute: "var"] == ExternalServicesModule.namespace } == false)
            let answer = try await alice.iq("get", to: try JID("localhost"), payload: Element("services", namespace: ExternalServicesModule.namespace))
            #expect(answer[attribute: "type"] == "error")
            await alice.close()
        }
    }
}
