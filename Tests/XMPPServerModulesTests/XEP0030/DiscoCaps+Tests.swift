import Testing
import XMPPCore
import XMPPServer
@testable import XMPPServerModules

@Suite("XEP-0115 verification strings")
struct DiscoCapsTests {
    @Test("the complex example of XEP-0115 §5.3: identities with languages, features and a form")
    func complexExample() {
        let form = DataForm(
            type: "result", formType: "urn:xmpp:dataforms:softwareinfo",
            fields: [
                DataForm.Field("ip_version", type: "text-multi", values: ["ipv4", "ipv6"]), DataForm.Field("os", values: ["Mac"]),
                DataForm.Field("os_version", values: ["10.5.1"]), DataForm.Field("software", values: ["Psi"]),
                DataForm.Field("software_version", values: ["0.11"]),
            ])
        let version = DiscoModule.capsVersion(
            identities: [
                (DiscoIdentity(category: "client", type: "pc", name: "Psi 0.11"), language: "en"),
                (DiscoIdentity(category: "client", type: "pc", name: "Ψ 0.11"), language: "el"),
            ],
            features: ["http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"],
            forms: [form.element])
        #expect(version == "q07IKJEyjvHSyhy//CH0CxmKi8w=")
    }

    @Test("the simple example of XEP-0115 §5.2")
    func simpleExample() {
        let version = DiscoModule.capsVersion(
            identities: [(DiscoIdentity(category: "client", type: "pc", name: "Exodus 0.9.1"), language: nil)],
            features: ["http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"])
        #expect(version == "QgayPKawpkPSDYmwT/WM94uAlu0=")
    }
}
