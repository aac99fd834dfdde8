import Foundation
import Testing
import XMPPServer

@Suite("ConfigurationLoader")
struct ConfigurationLoaderTests {
    @Test("an empty file gives the defaults")
    func defaults() throws {
        let configuration = try ConfigurationLoader.load(yaml: "")
        #expect(configuration == ServerConfiguration())
        #expect(configuration.hosts == ["localhost"])
        #expect(configuration.listeners.map(\.port) == [5222, 5223])
        #expect(configuration.limits.maxStanzaBytes == 262_144)
    }

    @Test("every documented key is read")
    func fullFile() throws {
        let yaml = """
            hosts: [example.com, chat.example.com]
            data_dir: /var/lib/starling
            log_level: debug
            listeners:
              - kind: c2s
                addresses: [0.0.0.0]
                port: 5222
                tls: starttls
              - kind: c2s
                addresses: ["::"]
                tls: direct
            tls:
              certificate: /etc/starling/cert.pem
              private_key: /etc/starling/key.pem
              generate_self_signed: false
              required: true
            storage:
              backend: sqlite
              sqlite:
                path: /var/lib/starling/db.sqlite
                synchronous: normal
            limits:
              max_stanza_bytes: 524288
              max_stanza_bytes_before_auth: 8192
              max_depth: 32
              max_attributes_per_element: 32
              max_attribute_value_bytes: 4096
              max_auth_failures: 5
              negotiation_timeout_seconds: 30
              max_sessions_per_account: 4
            c2s:
              resource_conflict: new_resource
              legacy_session: false
            """
        let configuration = try ConfigurationLoader.load(yaml: yaml)
        #expect(configuration.hosts == ["example.com", "chat.example.com"])
        #expect(configuration.logLevel == .debug)
        #expect(configuration.listeners.count == 2)
        #expect(configuration.listeners[1].port == 5223)
        #expect(configuration.tls.generateSelfSigned == false)
        #expect(configuration.storage.sqliteSynchronous == "normal")
        #expect(configuration.limits.maxSessionsPerAccount == 4)
        #expect(configuration.c2s.resourceConflict == .newResource)
        #expect(configuration.c2s.legacySession == false)
    }

    /// Every ```yaml block of docs/configuration.md, in order.
    static func documentedBlocks() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```yaml" {
                current = []
            } else if let lines = current, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(lines.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("every example in docs/configuration.md loads, and its documented defaults are the defaults")
    func documentedExamples() throws {
        let blocks = try Self.documentedBlocks()
        try #require(blocks.count >= 2, "expected the full example and the federation example")
        var loaded: [ServerConfiguration] = []
        for (index, block) in blocks.enumerated() {
            do {
                loaded.append(try ConfigurationLoader.load(yaml: block))
            } catch {
                Issue.record("yaml block \(index + 1) of docs/configuration.md: \(error)")
            }
        }
        try #require(loaded.count == blocks.count)
        // The first block writes out every key with its default, null included.
        #expect(loaded[0] == ServerConfiguration())
        #expect(loaded[0].tls.certificate == nil)
        #expect(loaded[0].storage.sqlitePath == nil)
        // The federation block writes out the s2s defaults.
        #expect(loaded[1].s2s == ServerConfiguration().s2s)
        #expect(loaded[1].s2s.caFile == nil)
    }

    @Test("mistakes are reported with their key and what would be accepted", arguments: [
        ("hostz: [a]", "hostz: unknown key"),
        ("limits:\n  max_stanza_bytes: ten", "limits.max_stanza_bytes: expected a whole number"),
        ("listeners:\n  - port: 70000", "listeners[0].port: expected a whole number from 0 to 65535"),
        ("listeners:\n  - tls: maybe", "listeners[0].tls: expected one of starttls, direct"),
        ("log_level: loud", "log_level: expected one of"),
        ("c2s:\n  resource_conflict: fight", "c2s.resource_conflict: expected one of kick_old, new_resource"),
        ("hosts: [", "not valid YAML"),
    ])
    func errors(_ yaml: String, _ message: String) {
        do {
            _ = try ConfigurationLoader.load(yaml: yaml)
            Issue.record("accepted \(yaml)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
