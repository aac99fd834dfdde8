import Foundation
import Testing
import XMPPServer

@Suite("ConfigurationLoader")
struct ConfigurationLoaderTests {
    @Test("HTTP listeners take tls: none or direct and default to 5280 and 5281; other kinds need TLS")
    func httpListeners() throws {
        let loaded = try ConfigurationLoader.load(yaml: "listeners: [{kind: http, tls: none}, {kind: http, tls: direct}]")
        #expect(loaded.listeners.map(\.port) == [5280, 5281])
        for (yaml, path) in [("listeners: [{kind: http, tls: starttls}]", "listeners[0].tls"), ("listeners: [{kind: c2s, tls: none}]", "listeners[0].tls")] {
            #expect {
                _ = try ConfigurationLoader.load(yaml: yaml)
            } throws: { error in
                "\(error)".contains(path)
            }
        }
    }

    @Test("c2s.sasl2 is a flag or a mapping with enabled and scram_upgrades")
    func sasl2Mapping() throws {
        #expect(try ConfigurationLoader.load(yaml: "c2s: {sasl2: false}").c2s.sasl2 == false)
        let mapped = try ConfigurationLoader.load(yaml: "c2s:\n  sasl2:\n    scram_upgrades: false")
        #expect(mapped.c2s.sasl2 && !mapped.c2s.scramUpgrades)
        #expect(try ConfigurationLoader.load(yaml: "c2s: {sasl2: {enabled: false}}").c2s.sasl2 == false)
        #expect(throws: (any Error).self) { try ConfigurationLoader.load(yaml: "c2s: {sasl2: {upgrades: false}}") }
    }

    @Test("an empty file gives the defaults")
    func defaults() throws {
        let configuration = try ConfigurationLoader.load(yaml: "")
        #expect(configuration == ServerConfiguration())
        #expect(configuration.hosts == ["localhost"])
        #expect(configuration.listeners.map(\.port) == [5222, 5223, 5280, 5281])
        #expect(configuration.limits.maxStanzaBytes == 262_144)
    }

    /// Every key of docs/configuration.md with a value that is not its default, and where that
    /// value must land. Listener keys sit in list items, so one row covers the list.
    private static let documentedKeys: [(key: String, yaml: String, apply: @Sendable (inout ServerConfiguration) -> Void)] = [
        ("hosts", "[example.com, chat.example.com]", { $0.hosts = ["example.com", "chat.example.com"] }),
        ("data_dir", "/var/lib/starling", { $0.dataDirectory = "/var/lib/starling" }),
        ("log_level", "debug", { $0.logLevel = .debug }),
        ("admins", "[admin@example.org]", { $0.admins = ["admin@example.org"] }),
        ("listeners", """
            \n  - kind: c2s
                addresses: [0.0.0.0]
                port: 5999
                tls: starttls
              - kind: s2s
                addresses: ["::"]
                tls: direct
            """, {
                $0.listeners = [
                    .init(kind: .c2s, addresses: ["0.0.0.0"], port: 5999, tls: .starttls),
                    .init(kind: .s2s, addresses: ["::"], port: 5270, tls: .direct),
                ]
            }),
        ("tls.certificate", "/etc/starling/cert.pem", { $0.tls.certificate = "/etc/starling/cert.pem" }),
        ("tls.private_key", "/etc/starling/key.pem", { $0.tls.privateKey = "/etc/starling/key.pem" }),
        ("tls.generate_self_signed", "false", { $0.tls.generateSelfSigned = false }),
        ("tls.required", "false", { $0.tls.required = false }),
        ("storage.backend", "memory", { $0.storage.backend = .memory }),
        ("storage.sqlite.path", "/var/lib/starling/db.sqlite", { $0.storage.sqlitePath = "/var/lib/starling/db.sqlite" }),
        ("storage.sqlite.synchronous", "normal", { $0.storage.sqliteSynchronous = "normal" }),
        ("storage.postgresql.url", "postgresql://starling@db.example.com:5432/starling", {
            $0.storage.postgresqlURL = "postgresql://starling@db.example.com:5432/starling"
        }),
        ("storage.postgresql.tls", "require", { $0.storage.postgresqlTLS = .require }),
        ("storage.postgresql.ca_file", "/etc/starling/db-ca.pem", { $0.storage.postgresqlCAFile = "/etc/starling/db-ca.pem" }),
        ("storage.postgresql.schema", "xmpp", { $0.storage.postgresqlSchema = "xmpp" }),
        ("storage.postgresql.max_connections", "50", { $0.storage.postgresqlMaxConnections = 50 }),
        ("storage.postgresql.password_file", "/etc/starling/db-password", { $0.storage.postgresqlPasswordFile = "/etc/starling/db-password" }),
        ("limits.max_stanza_bytes", "524288", { $0.limits.maxStanzaBytes = 524_288 }),
        ("limits.max_stanza_bytes_before_auth", "8192", { $0.limits.maxStanzaBytesBeforeAuthentication = 8192 }),
        ("limits.max_depth", "32", { $0.limits.maxDepth = 32 }),
        ("limits.max_attributes_per_element", "33", { $0.limits.maxAttributesPerElement = 33 }),
        ("limits.max_attribute_value_bytes", "4096", { $0.limits.maxAttributeValueBytes = 4096 }),
        ("limits.max_auth_failures", "5", { $0.limits.maxAuthenticationFailures = 5 }),
        ("limits.negotiation_timeout_seconds", "31", { $0.limits.negotiationTimeoutSeconds = 31 }),
        ("limits.max_sessions_per_account", "4", { $0.limits.maxSessionsPerAccount = 4 }),
        ("limits.max_roster_items", "1001", { $0.limits.maxRosterItems = 1001 }),
        ("limits.max_offline_messages", "1002", { $0.limits.maxOfflineMessages = 1002 }),
        ("limits.max_vcard_bytes", "131073", { $0.limits.maxVCardBytes = 131_073 }),
        ("limits.max_private_xml_bytes", "65537", { $0.limits.maxPrivateXMLBytes = 65_537 }),
        ("limits.max_privacy_list_items", "501", { $0.limits.maxPrivacyListItems = 501 }),
        ("limits.max_blocked_items", "1003", { $0.limits.maxBlockedItems = 1003 }),
        ("limits.stanza_timeout_seconds", "29", { $0.limits.stanzaTimeoutSeconds = 29 }),
        ("limits.max_unauthenticated_per_address", "21", { $0.limits.maxUnauthenticatedPerAddress = 21 }),
        ("limits.max_unauthenticated_connections", "2001", { $0.limits.maxUnauthenticatedConnections = 2001 }),
        ("limits.auth_lockout_failures", "11", { $0.limits.authenticationLockoutFailures = 11 }),
        ("limits.read_rate_bytes_per_second", "65537", { $0.limits.readRateBytesPerSecond = 65_537 }),
        ("limits.read_burst_bytes", "262145", { $0.limits.readBurstBytes = 262_145 }),
        ("c2s.resource_conflict", "new_resource", { $0.c2s.resourceConflict = .newResource }),
        ("c2s.legacy_session", "false", { $0.c2s.legacySession = false }),
        ("c2s.sasl2", "false", { $0.c2s.sasl2 = false }),
        ("c2s.ping_interval_seconds", "301", { $0.c2s.pingIntervalSeconds = 301 }),
        ("c2s.ping_timeout_seconds", "61", { $0.c2s.pingTimeoutSeconds = 61 }),
        ("c2s.resume_timeout_seconds", "302", { $0.c2s.resumeTimeoutSeconds = 302 }),
        ("c2s.fast.enabled", "false", { $0.c2s.fast.enabled = false }),
        ("c2s.fast.token_lifetime_seconds", "86400", { $0.c2s.fast.tokenLifetimeSeconds = 86_400 }),
        ("c2s.fast.rotate_before_seconds", "3600", { $0.c2s.fast.rotateBeforeSeconds = 3600 }),
        ("modules.version", "false", { $0.modules.version = false }),
        ("modules.registration", "true", { $0.modules.registration = true }),
        ("modules.registrations_per_ip_per_hour", "6", { $0.modules.registrationsPerIPPerHour = 6 }),
        ("modules.archive", "false", { $0.modules.archive = false }),
        ("modules.archive_retention_days", "7", { $0.modules.archiveRetentionDays = 7 }),
        ("s2s.dialback", "false", { $0.s2s.dialback = false }),
        ("s2s.require_encryption", "false", { $0.s2s.requireEncryption = false }),
        ("s2s.require_valid_certificates", "true", { $0.s2s.requireValidCertificates = true }),
        ("s2s.ca_file", "/etc/ssl/ca.pem", { $0.s2s.caFile = "/etc/ssl/ca.pem" }),
        ("s2s.pinned", "{peer.example: /etc/starling/peer.pem}", { $0.s2s.pinned = ["peer.example": "/etc/starling/peer.pem"] }),
        ("s2s.routes", "{peer.example: \"10.0.0.2:5269\"}", { $0.s2s.routes = ["peer.example": "10.0.0.2:5269"] }),
        ("s2s.resolve_dns", "false", { $0.s2s.resolveDNS = false }),
        ("s2s.max_stanza_bytes", "524289", { $0.s2s.maxStanzaBytes = 524_289 }),
        ("s2s.max_inbound_streams", "1001", { $0.s2s.maxInboundStreams = 1001 }),
        ("s2s.connect_timeout_seconds", "11", { $0.s2s.connectTimeoutSeconds = 11 }),
        ("s2s.negotiation_timeout_seconds", "32", { $0.s2s.negotiationTimeoutSeconds = 32 }),
        ("s2s.idle_timeout_seconds", "601", { $0.s2s.idleTimeoutSeconds = 601 }),
        ("s2s.queue_limit", "1004", { $0.s2s.queueLimit = 1004 }),
        ("http.allowed_origins", "[\"https://chat.example\"]", { $0.http.allowedOrigins = ["https://chat.example"] }),
        ("http.behind_tls_proxy", "true", { $0.http.behindTLSProxy = true }),
        ("http.see_other_uri", "wss://other.example/xmpp-websocket", { $0.http.seeOtherURI = "wss://other.example/xmpp-websocket" }),
        ("http.bosh.max_wait", "30", { $0.http.bosh.maxWait = .seconds(30) }),
        ("http.bosh.max_hold", "2", { $0.http.bosh.maxHold = 2 }),
        ("http.bosh.inactivity", "90", { $0.http.bosh.inactivity = .seconds(90) }),
        ("http.bosh.polling", "5", { $0.http.bosh.polling = .seconds(5) }),
        ("http.bosh.max_pause", "300", { $0.http.bosh.maxPause = .seconds(300) }),
        ("admin_api.allowed_origins", "[\"https://admin.example\"]", { $0.adminAPI.allowedOrigins = ["https://admin.example"] }),
        ("admin_api.requests_per_second", "5", { $0.adminAPI.requestsPerSecond = 5 }),
        ("admin_api.burst", "10", { $0.adminAPI.burst = 10 }),
        ("admin_api.lockout_failures", "3", { $0.adminAPI.lockoutFailures = 3 }),
        ("invites.enabled", "false", { $0.invites.enabled = false }),
        ("invites.lifetime_days", "30", { $0.invites.lifetimeDays = 30 }),
        ("invites.user_invites", "accounts", { $0.invites.userInvites = .accounts }),
        ("invites.public_url", "\"https://chat.example.org/\"", { $0.invites.publicURL = "https://chat.example.org" }),
        ("contact_info.admin", "[\"xmpp:admin@example.org\"]", { $0.contactInfo[.admin] = ["xmpp:admin@example.org"] }),
        ("contact_info.abuse", "[\"mailto:abuse@example.org\"]", { $0.contactInfo[.abuse] = ["mailto:abuse@example.org"] }),
        ("external_services", "[{type: turn, host: turn.example.org, port: 3478, secret: s}]", {
            $0.externalServices = [.init(type: .turn, transport: .udp, host: "turn.example.org", port: 3478, secret: "s")]
        }),
    ]

    /// The rows as one YAML file: `a.b.c` becomes nested mappings.
    private static func yaml(_ rows: [(key: String, yaml: String)]) -> String {
        var text = ""
        var open: [Substring] = []
        for row in rows {
            let path = row.key.split(separator: ".")
            var shared = 0
            while shared < min(open.count, path.count - 1) && open[shared] == path[shared] { shared += 1 }
            open = Array(open.prefix(shared))
            for (depth, section) in path.dropLast().enumerated().dropFirst(shared) {
                text += String(repeating: "  ", count: depth) + section + ":\n"
                open.append(section)
            }
            text += String(repeating: "  ", count: path.count - 1) + path.last! + ": " + row.yaml + "\n"
        }
        return text
    }

    /// The key paths in the YAML examples of docs/configuration.md (list items count as their
    /// list: `listeners`).
    private static func documentedKeyPaths() throws -> Set<String> {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        var keys: Set<String> = []
        var inYAML = false
        var stack: [(indent: Int, key: String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inYAML = line == "```yaml"
                stack = []
                continue
            }
            guard inYAML else { continue }
            let indent = line.prefix { $0 == " " }.count
            let rest = line.dropFirst(indent)
            guard !rest.hasPrefix("-"), !rest.hasPrefix("#"), let colon = rest.firstIndex(of: ":") else { continue }
            let key = String(rest[..<colon])
            guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
            while let last = stack.last, last.indent >= indent { stack.removeLast() }
            stack.append((indent, key))
            if stack.first?.key == "listeners" && stack.count > 1 { continue }
            let path = stack.map(\.key).joined(separator: ".")
            // Mappings that hold more keys (tls:, storage.sqlite: …) are not keys themselves.
            if !rest[rest.index(after: colon)...].trimmingCharacters(in: .whitespaces).isEmpty || key == "listeners" {
                keys.insert(path)
            }
        }
        return keys
    }

    @Test("storage.postgresql.password_file: its first line is the password; a file others may read, an empty or missing one is refused")
    func postgresPasswordFile() throws {
        let file = NSTemporaryDirectory() + "starling-db-password-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let yaml = "storage:\n  postgresql: {url: 'postgresql://u@db/starling', password_file: '\(file)'}"
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(yaml: yaml).storage.postgresSettings() }
        try "s3cret:with@odd/chars\r\nignored".write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        #expect { try ConfigurationLoader.load(yaml: yaml).storage.postgresSettings() } throws: { "\($0)".contains("chmod 600") }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        #expect(try ConfigurationLoader.load(yaml: yaml).storage.postgresSettings().password == "s3cret:with@odd/chars")
        // Through a symlink (a mounted secret): the file it points to is what counts.
        let link = file + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)
        defer { try? FileManager.default.removeItem(atPath: link) }
        let linked = "storage:\n  postgresql: {url: 'postgresql://u@db/starling', password_file: '\(link)'}"
        #expect(try ConfigurationLoader.load(yaml: linked).storage.postgresSettings().password == "s3cret:with@odd/chars")
        // A password in the URL as well is one too many.
        let both = "storage:\n  postgresql: {url: 'postgresql://u:in-url@db/starling', password_file: '\(file)'}"
        #expect { try ConfigurationLoader.load(yaml: both).storage.postgresSettings() } throws: { "\($0)".contains("keep one of the two") }
        try "\n".write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        #expect { try ConfigurationLoader.load(yaml: yaml).storage.postgresSettings() } throws: { "\($0)".contains("is empty") }
    }

    @Test("storage.postgresql.max_connections sizes the connection pool")
    func postgresPoolSize() throws {
        let configuration = try ConfigurationLoader.load(yaml: "storage:\n  postgresql: {url: 'postgresql://u@db/starling', max_connections: 7}")
        #expect(try configuration.storage.postgresSettings().maximumConnections == 7)
        #expect(try ConfigurationLoader.load(yaml: "storage:\n  postgresql: {url: 'postgresql://u@db/starling'}").storage.postgresSettings().maximumConnections == 20)
    }

    @Test("every documented key is read and its value applied")
    func fullFile() throws {
        // Every key the documentation shows has a row here, and no row is for an undocumented key.
        let documented = try Self.documentedKeyPaths()
        let tested = Set(Self.documentedKeys.map(\.key))
        #expect(documented.count > 40, "docs/configuration.md lists \(documented.count) keys; was it found?")
        #expect(documented.subtracting(tested).sorted() == [], "documented keys without a row")
        #expect(tested.subtracting(documented).sorted() == [], "rows for keys the documentation does not show")
        // Each row's value differs from the default, so applying it shows.
        for row in Self.documentedKeys {
            var changed = ServerConfiguration()
            row.apply(&changed)
            #expect(changed != ServerConfiguration(), "\(row.key): the test value is the default")
        }
        // All at once: the file loads to exactly the defaults with every row applied, so a key
        // that is read but not applied (or applied to the wrong field) shows as a difference.
        let configuration = try ConfigurationLoader.load(yaml: Self.yaml(Self.documentedKeys.map { ($0.key, $0.yaml) }))
        var expected = ServerConfiguration()
        for row in Self.documentedKeys { row.apply(&expected) }
        #expect(configuration == expected)
        // One at a time: each key alone changes exactly its own field.
        for row in Self.documentedKeys {
            var alone = ServerConfiguration()
            row.apply(&alone)
            #expect(try ConfigurationLoader.load(yaml: Self.yaml([(row.key, row.yaml)])) == alone, "\(row.key)")
        }
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
        ("storage:\n  backend: postgresql", "storage.postgresql.url: the postgresql backend needs it"),
        ("storage:\n  postgresql: {url: 'mysql://db/starling'}", "storage.postgresql.url: mysql://db/starling does not start with postgresql://"),
        ("storage:\n  postgresql: {url: 'postgresql://db.example.com/starling'}", "storage.postgresql.url: postgresql://db.example.com/starling names no user"),
        ("storage:\n  postgresql: {url: 'postgresql://u@db/starling?sslmode=require'}", "the URL's parameter sslmode is not supported"),
        ("storage:\n  postgresql: {url: 'postgresql://u@db/starling', tls: sometimes}", "storage.postgresql.tls: expected one of disable, prefer, require"),
        ("storage:\n  postgresql: {url: 'postgresql://u@db/starling', max_connections: 0}", "storage.postgresql.max_connections: expected a whole number from 1 to 1000"),
        ("storage:\n  postgresql: {url: 'postgresql://u@db/starling', schema: 'x; DROP'}", "storage.postgresql.schema: the schema x; DROP must be"),
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
