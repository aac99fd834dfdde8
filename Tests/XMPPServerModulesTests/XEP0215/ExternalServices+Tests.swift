import Foundation
import Testing
import XMPPCore
import XMPPServer
@testable import XMPPServerModules

@Suite("XEP-0215 external services and XEP-0157 contact addresses: values")
struct ExternalServicesTests {
    @Test("TURN REST credentials: the username carries the expiry and the account, the password is HMAC-SHA1 under the secret")
    func credentials() throws {
        // Computed independently: base64(hmac.new(b"coturn-secret", b"1700000000:alice@localhost", sha1)).
        let credentials = ExternalServicesModule.credentials(secret: "coturn-secret", account: try JID("alice@localhost/phone"), expires: 1_700_000_000)
        #expect(credentials.username == "1700000000:alice@localhost")
        #expect(credentials.password == "U+pxaCvX1Edc50OtfCrXJJFy2kw=")
    }

    @Test("a STUN entry carries no credentials; a TURN entry with a secret carries them, restricted and expiring")
    func elements() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let stun = ExternalServicesModule.element(.init(type: .stun, transport: .udp, host: "stun.example.org", port: 3478), for: try JID("a@localhost"), now: now)
        #expect(stun[attribute: "username"] == nil && stun[attribute: "host"] == "stun.example.org" && stun[attribute: "port"] == "3478")
        var turn = ServerConfiguration.ExternalService(type: .turn, transport: .tcp, host: "turn.example.org", port: 3478, secret: "s")
        turn.credentialLifetimeSeconds = 600
        let element = ExternalServicesModule.element(turn, for: try JID("a@localhost"), now: now)
        #expect(element[attribute: "username"] == "1700000600:a@localhost")
        #expect(element[attribute: "expires"] == "2023-11-14T22:23:20Z")
        #expect(element[attribute: "restricted"] == "1" && element[attribute: "transport"] == "tcp")
    }

    @Test("the configuration: contact addresses must be URIs; services need a type and a host, and only TURN takes a secret")
    func configuration() throws {
        let good = try ConfigurationLoader.load(yaml: """
            contact_info:
              admin: ["mailto:admin@example.org", "xmpp:admin@example.org"]
              abuse: ["https://example.org/abuse"]
            external_services:
              - {type: stun, transport: udp, host: turn.example.org, port: 3478}
              - {type: turn, host: turn.example.org, secret: "shared", credential_lifetime: 3600}
            """)
        #expect(good.contactInfo[.admin] == ["mailto:admin@example.org", "xmpp:admin@example.org"])
        #expect(good.externalServices.count == 2 && good.externalServices[1].port == 3478 && good.externalServices[1].credentialLifetimeSeconds == 3600)
        let cases: [(String, String)] = [
            ("contact_info: {admin: [admin@example.org]}", "contact_info.admin[0]"),
            ("contact_info: {boss: [\"mailto:a@b\"]}", "contact_info.boss"),
            ("external_services: [{host: turn.example.org}]", "external_services[0].type"),
            ("external_services: [{type: turn}]", "external_services[0].host"),
            ("external_services: [{type: stun, host: h, secret: x}]", "external_services[0].secret"),
            ("external_services: [{type: turn, host: h, port: 70000}]", "external_services[0].port"),
        ]
        for (yaml, path) in cases {
            #expect(throws: ConfigurationError.self, "\(yaml)") {
                do { _ = try ConfigurationLoader.load(yaml: yaml) } catch let error as ConfigurationError {
                    #expect(error.path == path, "\(yaml): \(error)")
                    throw error
                }
            }
        }
    }
}
