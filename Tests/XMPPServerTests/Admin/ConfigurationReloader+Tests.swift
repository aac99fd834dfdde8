import Foundation
import Testing
@testable import XMPPServer

@Suite("ConfigurationReloader: what needs a restart, which names a certificate covers")
struct ConfigurationReloaderTests {
    @Test("settings are named as in the file; a module's own section by its name; what a reload applies is never named")
    func differences() {
        let running = ServerConfiguration()
        #expect(ConfigurationReloader.differences(running, running).isEmpty)
        var new = running
        new.listeners.removeLast()
        new.modules.sections["muc"] = ["max_occupants": .scalar("10")]
        new.modules.archive = false
        new.tls.required = false
        new.s2s.dialback = false
        new.contactInfo = [.admin: ["mailto:admin@example.org"]]
        new.externalServices = [.init(type: .stun, transport: .udp, host: "stun.example.org", port: 3478)]
        #expect(
            ConfigurationReloader.differences(running, new) == ["listeners", "tls.required", "s2s", "contact_info", "external_services", "modules", "modules.muc"])
        // Certificate paths are a difference only while the running server has none to replace
        // (the reload carries them over otherwise).
        var certificate = running
        certificate.tls.certificate = "/etc/starling/chain.pem"
        #expect(ConfigurationReloader.differences(running, certificate) == ["tls.certificate"])
        var applied = running
        applied.logLevel = .debug
        applied.admins = ["admin@localhost"]
        #expect(ConfigurationReloader.differences(running, applied).isEmpty)
    }

    @Test("a certificate's name covers a host exactly (ignoring case) or as a wildcard over one label")
    func names() {
        #expect(TLSMaterial.name("*.example.org", covers: "chat.example.org"))
        #expect(!TLSMaterial.name("*.example.org", covers: "a.chat.example.org"))
        #expect(!TLSMaterial.name("*.example.org", covers: "example.org"))
        #expect(TLSMaterial.name("Example.ORG", covers: "example.org"))
    }
}
