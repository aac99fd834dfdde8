import Testing
import XMPPServer

/// The configuration shape of the kernel: administrators, components and their listener.
@Suite("Configuration: admins and components")
struct ConfigurationKernelTests {
    @Test("the shape operators rely on loads as written")
    func documentedShape() throws {
        let configuration = try ConfigurationLoader.load(
            yaml: """
                admins: [admin@example.org]
                listeners:
                  - {kind: c2s, addresses: [127.0.0.1], port: 5222, tls: starttls}
                  - {kind: component, addresses: [127.0.0.1], port: 5347}
                components:
                  bot.example.org: {secret: "a long shared secret"}
                """)
        #expect(configuration.admins == ["admin@example.org"])
        #expect(configuration.listeners.map(\.kind) == [.c2s, .component])
        #expect(configuration.listeners.last?.port == 5347)
        #expect(configuration.components["bot.example.org"]?.secret == "a long shared secret")
        #expect(try configuration.preparedComponents() == ["bot.example.org": "a long shared secret"])
        #expect(try configuration.preparedAdmins().map(\.description) == ["admin@example.org"])
    }

    @Test("listeners without a port get their kind's port")
    func defaultPorts() throws {
        let configuration = try ConfigurationLoader.load(
            yaml: """
                listeners:
                  - {kind: component}
                  - {kind: s2s}
                  - {kind: s2s, tls: direct}
                  - {kind: c2s, tls: direct}
                """)
        #expect(configuration.listeners.map(\.port) == [5347, 5269, 5270, 5223])
        #expect(configuration.listeners.first?.addresses == ["127.0.0.1", "::1"])
    }

    @Test("mistakes name their key", arguments: [
        ("admins: [admin@example.org/phone]", "admins[0]"),
        ("admins: [example.org]", "admins[0]"),
        ("components: {bot.example.org: {secret: short}}", "components.bot.example.org.secret"),
        ("components: {bot.example.org: {}}", "components.bot.example.org"),
        ("components: {bot.example.org: {secret: a long shared secret, port: 1}}", "components.bot.example.org.port"),
        ("listeners: [{kind: component, tls: direct}]", "listeners[0].tls"),
        ("modules: {muc: true}", "modules.muc"),
    ])
    func mistakes(_ yaml: String, _ path: String) {
        #expect {
            try ConfigurationLoader.load(yaml: yaml)
        } throws: { error in
            (error as? ConfigurationError)?.path == path
        }
    }
}
