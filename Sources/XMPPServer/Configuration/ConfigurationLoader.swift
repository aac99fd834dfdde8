import Logging
import struct XMPPCore.JID
import struct XMPPStream.BOSHSessionMachine
import struct XMPPStoragePostgres.PostgresSettings
import Yams

/// Reads the YAML configuration file. Every key is checked: an unknown key, a value of the
/// wrong type or out of range is reported with its path and what would be accepted, so
/// `starling check` can tell an operator exactly what to fix.
public enum ConfigurationLoader {
    public static func load(yaml: String) throws -> ServerConfiguration {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(path: "", message: "the file is not valid YAML: \(error)")
        }
        var configuration = ServerConfiguration()
        guard let node else { return configuration }
        var reader = Reader()
        reader.readRoot(node, into: &configuration)
        if let first = reader.errors.first {
            if reader.errors.count == 1 { throw first }
            throw ConfigurationErrors(errors: reader.errors)
        }
        return configuration
    }

    /// Reads one file's tree; sections of their own live in extensions (ConfigurationLoader+…).
    struct Reader {
        var errors: [ConfigurationError] = []

        mutating func fail(_ path: String, _ message: String) {
            self.errors.append(ConfigurationError(path: path, message: message))
        }

        mutating func mapping(_ node: Node, _ path: String, known: [String]) -> [(String, Node)]? {
            guard let mapping = node.mapping else {
                self.fail(path, "expected a mapping of keys (\(known.joined(separator: ", ")))")
                return nil
            }
            var result: [(String, Node)] = []
            for (key, value) in mapping {
                guard let name = key.string else {
                    self.fail(path, "keys must be strings")
                    continue
                }
                guard known.contains(name) else {
                    self.fail(path.isEmpty ? name : "\(path).\(name)", "unknown key; known keys here are \(known.joined(separator: ", "))")
                    continue
                }
                result.append((name, value))
            }
            return result
        }

        mutating func string(_ node: Node, _ path: String) -> String? {
            // A YAML null is not the text "null": unquoted, it would become a file named null.
            guard case .scalar(let scalar) = node, node.null == nil else {
                self.fail(path, "expected a string")
                return nil
            }
            return scalar.string
        }

        /// A path whose default is computed (docs/configuration.md writes it as `null`):
        /// `null` or `~` keeps that default.
        mutating func optionalString(_ node: Node, _ path: String) -> String? {
            node.null != nil ? nil : self.string(node, path)
        }

        mutating func int(_ node: Node, _ path: String, range: ClosedRange<Int>) -> Int? {
            guard let value = node.int, range.contains(value) else {
                self.fail(path, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
                return nil
            }
            return value
        }

        mutating func bool(_ node: Node, _ path: String) -> Bool? {
            guard let value = node.bool else {
                self.fail(path, "expected true or false")
                return nil
            }
            return value
        }

        mutating func strings(_ node: Node, _ path: String) -> [String]? {
            guard let sequence = node.sequence else {
                self.fail(path, "expected a list")
                return nil
            }
            var result: [String] = []
            for (index, item) in sequence.enumerated() {
                if let value = self.string(item, "\(path)[\(index)]") { result.append(value) }
            }
            return result
        }

        mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ path: String, _: T.Type) -> T? where T.RawValue == String {
            guard let raw = node.string, let value = T(rawValue: raw) else {
                self.fail(path, "expected one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
                return nil
            }
            return value
        }

        mutating func readRoot(_ node: Node, into configuration: inout ServerConfiguration) {
            let known = ["hosts", "data_dir", "log_level", "listeners", "tls", "storage", "limits", "c2s", "modules", "s2s", "admins", "components", "http", "admin_api", "contact_info", "external_services", "invites"]
            guard let entries = self.mapping(node, "", known: known) else { return }
            for (key, value) in entries {
                switch key {
                case "hosts":
                    if let hosts = self.strings(value, key) {
                        if hosts.isEmpty { self.fail(key, "list at least one domain to serve") } else { configuration.hosts = hosts }
                    }
                case "data_dir":
                    if let path = self.string(value, key) { configuration.dataDirectory = path }
                case "log_level":
                    let levels = Logger.Level.allCases.map(\.rawValue)
                    if let raw = value.string, let level = Logger.Level(rawValue: raw) {
                        configuration.logLevel = level
                    } else {
                        self.fail(key, "expected one of \(levels.joined(separator: ", "))")
                    }
                case "listeners":
                    self.readListeners(value, into: &configuration)
                case "tls":
                    self.readTLS(value, into: &configuration.tls)
                case "storage":
                    self.readStorage(value, into: &configuration.storage)
                case "limits":
                    self.readLimits(value, into: &configuration.limits)
                case "modules":
                    self.readModules(value, into: &configuration.modules)
                case "s2s":
                    self.readS2S(value, into: &configuration.s2s)
                case "admins":
                    self.readAdmins(value, into: &configuration)
                case "components":
                    self.readComponents(value, into: &configuration)
                case "http":
                    self.readHTTP(value, into: &configuration.http)
                case "admin_api":
                    self.readAdminAPI(value, into: &configuration.adminAPI)
                case "contact_info":
                    self.readContactInfo(value, into: &configuration.contactInfo)
                case "external_services":
                    self.readExternalServices(value, into: &configuration.externalServices)
                case "invites":
                    self.readInvites(value, into: &configuration.invites)
                default:
                    self.readC2S(value, into: &configuration.c2s)
                }
            }
        }

        mutating func readListeners(_ node: Node, into configuration: inout ServerConfiguration) {
            guard let sequence = node.sequence else {
                self.fail("listeners", "expected a list of listeners")
                return
            }
            var listeners: [ServerConfiguration.Listener] = []
            for (index, item) in sequence.enumerated() {
                let path = "listeners[\(index)]"
                guard let entries = self.mapping(item, path, known: ["kind", "addresses", "port", "tls"]) else { continue }
                var listener = ServerConfiguration.Listener(kind: .c2s, addresses: ["127.0.0.1", "::1"], port: 5222, tls: .starttls)
                var sawPort = false
                var sawTLS = false
                for (key, value) in entries {
                    switch key {
                    case "kind": if let kind = self.choice(value, "\(path).kind", ServerConfiguration.Listener.Kind.self) { listener.kind = kind }
                    case "addresses": if let addresses = self.strings(value, "\(path).addresses") { listener.addresses = addresses }
                    case "port":
                        if let port = self.int(value, "\(path).port", range: 0...65535) {
                            listener.port = port
                            sawPort = true
                        }
                    default:
                        sawTLS = true
                        if let mode = self.choice(value, "\(path).tls", ServerConfiguration.Listener.TLSMode.self) { listener.tls = mode }
                    }
                }
                // Metrics are plain HTTP unless asked otherwise: a scraper on loopback needs no TLS.
                if listener.kind == .metrics && !sawTLS { listener.tls = .none }
                if !sawPort {
                    switch (listener.kind, listener.tls) {
                    case (.component, _): listener.port = 5347
                    case (.http, .direct): listener.port = 5281
                    case (.http, _): listener.port = 5280
                    case (.admin, _): listener.port = 5285
                    case (.metrics, _): listener.port = 5290
                    case (_, .none): break
                    case (.s2s, .direct): listener.port = 5270
                    case (.s2s, .starttls): listener.port = 5269
                    case (.c2s, .direct): listener.port = 5223
                    case (.c2s, .starttls): listener.port = 5222
                    }
                }
                let isHTTP = listener.kind == .http || listener.kind == .metrics || listener.kind == .admin
                if listener.tls == .none && !isHTTP {
                    self.fail("\(path).tls", "only http, admin and metrics listeners may go without TLS (tls: none)")
                }
                if isHTTP && listener.tls == .starttls {
                    self.fail("\(path).tls", "HTTP has no STARTTLS: use tls: none (plain HTTP) or tls: direct (HTTPS)")
                }
                if listener.kind == .component && listener.tls == .direct {
                    self.fail("\(path).tls", "component streams (XEP-0114) are plaintext; keep them on loopback or a private network")
                }
                listeners.append(listener)
            }
            configuration.listeners = listeners
        }

        mutating func readAdminAPI(_ node: Node, into settings: inout ServerConfiguration.AdminAPISettings) {
            guard let entries = self.mapping(node, "admin_api", known: ["allowed_origins", "requests_per_second", "burst", "lockout_failures"]) else { return }
            for (key, value) in entries {
                switch key {
                case "allowed_origins": if let origins = self.strings(value, "admin_api.\(key)") { settings.allowedOrigins = origins }
                case "requests_per_second": if let rate = self.int(value, "admin_api.\(key)", range: 1...10_000) { settings.requestsPerSecond = rate }
                case "lockout_failures": if let count = self.int(value, "admin_api.\(key)", range: 1...10_000) { settings.lockoutFailures = count }
                default: if let burst = self.int(value, "admin_api.\(key)", range: 1...10_000) { settings.burst = burst }
                }
            }
        }

        mutating func readHTTP(_ node: Node, into http: inout ServerConfiguration.HTTPSettings) {
            guard let entries = self.mapping(node, "http", known: ["allowed_origins", "behind_tls_proxy", "see_other_uri", "bosh"]) else { return }
            for (key, value) in entries {
                switch key {
                case "allowed_origins": if let origins = self.strings(value, "http.allowed_origins") { http.allowedOrigins = origins }
                case "behind_tls_proxy": if let flag = self.bool(value, "http.behind_tls_proxy") { http.behindTLSProxy = flag }
                case "bosh": self.readBOSH(value, into: &http.bosh)
                default: http.seeOtherURI = self.optionalString(value, "http.see_other_uri")
                }
            }
        }

        mutating func readBOSH(_ node: Node, into limits: inout BOSHSessionMachine.Limits) {
            guard let entries = self.mapping(node, "http.bosh", known: ["max_wait", "max_hold", "inactivity", "polling", "max_pause"]) else { return }
            for (key, value) in entries {
                let path = "http.bosh.\(key)"
                switch key {
                case "max_hold": if let hold = self.int(value, path, range: 0...4) { limits.maxHold = hold }
                default:
                    guard let seconds = self.int(value, path, range: key == "polling" ? 0...600 : 1...3600) else { continue }
                    switch key {
                    case "max_wait": limits.maxWait = .seconds(Int64(seconds))
                    case "inactivity": limits.inactivity = .seconds(Int64(seconds))
                    case "polling": limits.polling = .seconds(Int64(seconds))
                    default: limits.maxPause = .seconds(Int64(seconds))
                    }
                }
            }
        }

        mutating func readTLS(_ node: Node, into tls: inout ServerConfiguration.TLSSettings) {
            guard let entries = self.mapping(node, "tls", known: ["certificate", "private_key", "generate_self_signed", "required"]) else { return }
            for (key, value) in entries {
                switch key {
                case "certificate": tls.certificate = self.optionalString(value, "tls.certificate")
                case "private_key": tls.privateKey = self.optionalString(value, "tls.private_key")
                case "generate_self_signed": if let flag = self.bool(value, "tls.generate_self_signed") { tls.generateSelfSigned = flag }
                default: if let flag = self.bool(value, "tls.required") { tls.required = flag }
                }
            }
        }

        mutating func readStorage(_ node: Node, into storage: inout ServerConfiguration.StorageSettings) {
            guard let entries = self.mapping(node, "storage", known: ["backend", "sqlite", "postgresql"]) else { return }
            for (key, value) in entries {
                if key == "backend" {
                    if let backend = self.choice(value, "storage.backend", ServerConfiguration.StorageSettings.Backend.self) { storage.backend = backend }
                    continue
                }
                if key == "postgresql" {
                    self.readPostgreSQL(value, into: &storage)
                    continue
                }
                guard let sqlite = self.mapping(value, "storage.sqlite", known: ["path", "synchronous"]) else { continue }
                for (sqliteKey, sqliteValue) in sqlite {
                    if sqliteKey == "path" {
                        storage.sqlitePath = self.optionalString(sqliteValue, "storage.sqlite.path")
                    } else if let mode = sqliteValue.string, ["off", "normal", "full", "extra"].contains(mode.lowercased()) {
                        storage.sqliteSynchronous = mode.lowercased()
                    } else {
                        self.fail("storage.sqlite.synchronous", "expected one of off, normal, full, extra")
                    }
                }
            }
            if storage.backend == .postgresql, storage.postgresqlURL == nil, !self.errors.contains(where: { $0.path == "storage.postgresql.url" }) {
                self.fail("storage.postgresql.url", "the postgresql backend needs it: postgresql://user@host:5432/database")
            }
        }

        /// `storage.postgresql`: the URL is checked here, so that a mistake is named before anything starts.
        mutating func readPostgreSQL(_ node: Node, into storage: inout ServerConfiguration.StorageSettings) {
            guard let entries = self.mapping(node, "storage.postgresql", known: ["url", "tls", "ca_file", "schema", "max_connections", "password_file"]) else { return }
            for (key, value) in entries {
                switch key {
                case "url":
                    guard let url = self.optionalString(value, "storage.postgresql.url") else { continue }
                    do {
                        _ = try PostgresSettings(url: url)
                        storage.postgresqlURL = url
                    } catch {
                        self.fail("storage.postgresql.url", "\(error)")
                    }
                case "tls":
                    if let mode = self.choice(value, "storage.postgresql.tls", PostgresSettings.TLSMode.self) { storage.postgresqlTLS = mode }
                case "ca_file":
                    storage.postgresqlCAFile = self.optionalString(value, "storage.postgresql.ca_file")
                case "password_file":
                    storage.postgresqlPasswordFile = self.optionalString(value, "storage.postgresql.password_file")
                case "max_connections":
                    if let count = self.int(value, "storage.postgresql.max_connections", range: 1...1000) { storage.postgresqlMaxConnections = count }
                default:
                    guard let schema = self.optionalString(value, "storage.postgresql.schema") else { continue }
                    do {
                        try PostgresSettings.checkSchemaName(schema)
                        storage.postgresqlSchema = schema
                    } catch {
                        self.fail("storage.postgresql.schema", "\(error)")
                    }
                }
            }
        }

        mutating func readLimits(_ node: Node, into limits: inout ServerConfiguration.Limits) {
            let keys: [(String, WritableKeyPath<ServerConfiguration.Limits, Int>, ClosedRange<Int>)] = [
                ("max_stanza_bytes", \.maxStanzaBytes, 1024...67_108_864),
                ("max_stanza_bytes_before_auth", \.maxStanzaBytesBeforeAuthentication, 512...1_048_576),
                ("max_depth", \.maxDepth, 4...1000),
                ("max_attributes_per_element", \.maxAttributesPerElement, 4...10_000),
                ("max_attribute_value_bytes", \.maxAttributeValueBytes, 64...67_108_864),
                ("max_auth_failures", \.maxAuthenticationFailures, 1...100),
                ("negotiation_timeout_seconds", \.negotiationTimeoutSeconds, 1...3600),
                ("max_sessions_per_account", \.maxSessionsPerAccount, 1...10_000),
                ("max_roster_items", \.maxRosterItems, 1...1_000_000),
                ("max_offline_messages", \.maxOfflineMessages, 0...1_000_000),
                ("max_vcard_bytes", \.maxVCardBytes, 256...16_777_216),
                ("max_private_xml_bytes", \.maxPrivateXMLBytes, 256...16_777_216),
                ("max_privacy_list_items", \.maxPrivacyListItems, 1...100_000),
                ("max_blocked_items", \.maxBlockedItems, 1...100_000),
                ("stanza_timeout_seconds", \.stanzaTimeoutSeconds, 1...3600),
                ("max_unauthenticated_per_address", \.maxUnauthenticatedPerAddress, 1...1_000_000),
                ("max_unauthenticated_connections", \.maxUnauthenticatedConnections, 1...10_000_000),
                ("auth_lockout_failures", \.authenticationLockoutFailures, 1...10_000),
                ("read_rate_bytes_per_second", \.readRateBytesPerSecond, 0...1_073_741_824),
                ("read_burst_bytes", \.readBurstBytes, 1024...1_073_741_824),
            ]
            guard let entries = self.mapping(node, "limits", known: keys.map(\.0)) else { return }
            for (key, value) in entries {
                guard let (_, keyPath, range) = keys.first(where: { $0.0 == key }) else { continue }
                if let number = self.int(value, "limits.\(key)", range: range) { limits[keyPath: keyPath] = number }
            }
        }

        mutating func readS2S(_ node: Node, into s2s: inout ServerConfiguration.S2SSettings) {
            let numbers: [(String, WritableKeyPath<ServerConfiguration.S2SSettings, Int>, ClosedRange<Int>)] = [
                ("max_stanza_bytes", \.maxStanzaBytes, 1024...67_108_864),
                ("max_inbound_streams", \.maxInboundStreams, 1...1_000_000),
                ("connect_timeout_seconds", \.connectTimeoutSeconds, 1...600),
                ("negotiation_timeout_seconds", \.negotiationTimeoutSeconds, 1...3600),
                ("idle_timeout_seconds", \.idleTimeoutSeconds, 1...86_400),
                ("queue_limit", \.queueLimit, 1...1_000_000),
            ]
            let flags: [(String, WritableKeyPath<ServerConfiguration.S2SSettings, Bool>)] = [
                ("dialback", \.dialback), ("require_encryption", \.requireEncryption),
                ("require_valid_certificates", \.requireValidCertificates), ("resolve_dns", \.resolveDNS),
            ]
            let known = numbers.map(\.0) + flags.map(\.0) + ["ca_file", "pinned", "routes"]
            guard let entries = self.mapping(node, "s2s", known: known) else { return }
            for (key, value) in entries {
                if let (_, keyPath, range) = numbers.first(where: { $0.0 == key }) {
                    if let number = self.int(value, "s2s.\(key)", range: range) { s2s[keyPath: keyPath] = number }
                } else if let (_, keyPath) = flags.first(where: { $0.0 == key }) {
                    if let flag = self.bool(value, "s2s.\(key)") { s2s[keyPath: keyPath] = flag }
                } else if key == "ca_file" {
                    s2s.caFile = self.optionalString(value, "s2s.ca_file")
                } else if let mapping = value.mapping {
                    var result: [String: String] = [:]
                    for (domainNode, targetNode) in mapping {
                        guard let domain = domainNode.string, let target = targetNode.string else {
                            self.fail("s2s.\(key)", "expected domain: value pairs")
                            continue
                        }
                        if key == "routes" && target.split(separator: ":").count < 2 {
                            self.fail("s2s.routes.\(domain)", "expected host:port")
                        }
                        result[domain] = target
                    }
                    if key == "pinned" { s2s.pinned = result } else { s2s.routes = result }
                } else {
                    self.fail("s2s.\(key)", "expected a mapping of domain to value")
                }
            }
        }

        mutating func readModules(_ node: Node, into modules: inout ServerConfiguration.ModuleSettings) {
            guard let mapping = node.mapping else {
                self.fail("modules", "expected a mapping of module switches and sections")
                return
            }
            let switches = ["version", "registration", "registrations_per_ip_per_hour", "archive", "archive_retention_days"]
            for (keyNode, value) in mapping {
                guard let key = keyNode.string else {
                    self.fail("modules", "keys must be strings")
                    continue
                }
                switch key {
                case "version": if let flag = self.bool(value, "modules.version") { modules.version = flag }
                case "registration": if let flag = self.bool(value, "modules.registration") { modules.registration = flag }
                case "archive": if let flag = self.bool(value, "modules.archive") { modules.archive = flag }
                case "archive_retention_days":
                    if let days = self.int(value, "modules.archive_retention_days", range: 0...36_500) { modules.archiveRetentionDays = days }
                case "registrations_per_ip_per_hour":
                    if let number = self.int(value, "modules.registrations_per_ip_per_hour", range: 1...100_000) {
                        modules.registrationsPerIPPerHour = number
                    }
                default:
                    // A module's own section; the module reads it and reports unknown keys.
                    guard case .map(let section) = Self.value(value) else {
                        self.fail("modules.\(key)", "unknown switch; known switches are \(switches.joined(separator: ", ")), and a module's options are a mapping")
                        continue
                    }
                    modules.sections[key] = section
                }
            }
        }

        /// A YAML node as written, for a module to read later.
        static func value(_ node: Node) -> ConfigValue {
            switch node {
            case .scalar(let scalar):
                if node.null != nil { return .null }
                return .scalar(scalar.string)
            case .sequence(let sequence):
                return .list(sequence.map { Self.value($0) })
            case .mapping(let mapping):
                var result: [String: ConfigValue] = [:]
                for (key, value) in mapping {
                    if let key = key.string { result[key] = Self.value(value) }
                }
                return .map(result)
            case .alias:
                return .null
            }
        }

        mutating func readAdmins(_ node: Node, into configuration: inout ServerConfiguration) {
            guard let admins = self.strings(node, "admins") else { return }
            for (index, admin) in admins.enumerated() {
                if ServerConfiguration.adminJID(admin) == nil {
                    self.fail("admins[\(index)]", "expected a bare JID like admin@example.org")
                }
            }
            configuration.admins = admins
        }

        mutating func readComponents(_ node: Node, into configuration: inout ServerConfiguration) {
            guard let mapping = node.mapping else {
                self.fail("components", "expected a mapping of component domain to {secret: ...}")
                return
            }
            for (domainNode, value) in mapping {
                guard let domain = domainNode.string, (try? JID.prepareDomainpart(domain)) != nil else {
                    self.fail("components", "'\(domainNode.string ?? "?")' is not a valid domain")
                    continue
                }
                let path = "components.\(domain)"
                guard let entries = self.mapping(value, path, known: ["secret"]) else { continue }
                guard let secretNode = entries.first(where: { $0.0 == "secret" })?.1 else {
                    self.fail(path, "a component needs a secret")
                    continue
                }
                guard let secret = self.string(secretNode, "\(path).secret"), secret.count >= 8 else {
                    self.fail("\(path).secret", "expected a shared secret of at least 8 characters")
                    continue
                }
                configuration.components[domain] = ServerConfiguration.Component(secret: secret)
            }
        }

        /// `c2s.sasl2`: a flag (SASL2 on or off), or a mapping for its parts.
        mutating func readSASL2(_ node: Node, into c2s: inout ServerConfiguration.C2SSettings) {
            if node.mapping == nil {
                if let flag = self.bool(node, "c2s.sasl2") { c2s.sasl2 = flag }
                return
            }
            guard let entries = self.mapping(node, "c2s.sasl2", known: ["enabled", "scram_upgrades"]) else { return }
            for (key, value) in entries {
                guard let flag = self.bool(value, "c2s.sasl2.\(key)") else { continue }
                if key == "enabled" { c2s.sasl2 = flag } else { c2s.scramUpgrades = flag }
            }
        }

        mutating func readC2S(_ node: Node, into c2s: inout ServerConfiguration.C2SSettings) {
            guard let entries = self.mapping(node, "c2s", known: ["resource_conflict", "legacy_session", "sasl2", "ping_interval_seconds", "ping_timeout_seconds", "resume_timeout_seconds", "fast"]) else {
                return
            }
            for (key, value) in entries {
                if key == "resume_timeout_seconds" {
                    if let seconds = self.int(value, "c2s.resume_timeout_seconds", range: 1...86_400) { c2s.resumeTimeoutSeconds = seconds }
                } else if key == "ping_interval_seconds" {
                    if let seconds = self.int(value, "c2s.ping_interval_seconds", range: 0...86_400) { c2s.pingIntervalSeconds = seconds }
                } else if key == "ping_timeout_seconds" {
                    if let seconds = self.int(value, "c2s.ping_timeout_seconds", range: 1...3600) { c2s.pingTimeoutSeconds = seconds }
                } else if key == "resource_conflict" {
                    if let policy = self.choice(value, "c2s.resource_conflict", ServerConfiguration.C2SSettings.ResourceConflict.self) {
                        c2s.resourceConflict = policy
                    }
                } else if key == "sasl2" {
                    self.readSASL2(value, into: &c2s)
                } else if key == "fast" {
                    self.readFAST(value, into: &c2s.fast)
                } else if let flag = self.bool(value, "c2s.legacy_session") {
                    c2s.legacySession = flag
                }
            }
        }

        mutating func readFAST(_ node: Node, into fast: inout ServerConfiguration.FASTSettings) {
            guard let entries = self.mapping(node, "c2s.fast", known: ["enabled", "token_lifetime_seconds", "rotate_before_seconds"]) else { return }
            for (key, value) in entries {
                switch key {
                case "enabled":
                    if let flag = self.bool(value, "c2s.fast.enabled") { fast.enabled = flag }
                case "token_lifetime_seconds":
                    if let seconds = self.int(value, "c2s.fast.token_lifetime_seconds", range: 1...31_536_000) { fast.tokenLifetimeSeconds = seconds }
                default:
                    if let seconds = self.int(value, "c2s.fast.rotate_before_seconds", range: 0...31_536_000) { fast.rotateBeforeSeconds = seconds }
                }
            }
        }
    }
}

/// Several configuration problems at once.
public struct ConfigurationErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigurationError]
    public var description: String { self.errors.map(\.description).joined(separator: "\n") }
}
