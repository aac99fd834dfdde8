import Foundation
import Logging
import XMPPCore
import struct XMPPStream.BOSHSessionMachine
import struct XMPPStoragePostgres.PostgresSettings

/// Everything an operator can set; every field has the default docs/configuration.md lists.
public struct ServerConfiguration: Sendable, Hashable {
    public var hosts: [String] = ["localhost"]
    public var dataDirectory: String = "./starling-data"
    public var logLevel: Logger.Level = .info
    public var listeners: [Listener] = [
        Listener(kind: .c2s, addresses: ["127.0.0.1", "::1"], port: 5222, tls: .starttls),
        Listener(kind: .c2s, addresses: ["127.0.0.1", "::1"], port: 5223, tls: .direct),
        Listener(kind: .http, addresses: ["127.0.0.1", "::1"], port: 5280, tls: .none),
        Listener(kind: .http, addresses: ["127.0.0.1", "::1"], port: 5281, tls: .direct),
    ]
    public var http = HTTPSettings()
    /// The admin HTTP API (`admin_api`), served on `kind: admin` listeners.
    public var adminAPI = AdminAPISettings()
    public var tls = TLSSettings()
    public var storage = StorageSettings()
    public var limits = Limits()
    public var c2s = C2SSettings()
    public var modules = ModuleSettings()
    public var s2s = S2SSettings()
    /// Accounts allowed to administer the server (room creation policy, ad-hoc commands, the
    /// admin API), as bare JIDs.
    public var admins: [String] = []
    /// External components (XEP-0114) by domain.
    public var components: [String: Component] = [:]
    /// XEP-0157 contact addresses by kind (`admin`, `abuse` …), as URIs.
    public var contactInfo: [ContactKind: [String]] = [:]
    /// XEP-0215 STUN and TURN servers offered to clients.
    public var externalServices: [ExternalService] = []
    /// Invitations (XEP-0401, XEP-0379, XEP-0445): how new people get on.
    public var invites = InviteSettings()

    public init() {}

    /// An external component (XEP-0114) the server accepts on a `component` listener.
    public struct Component: Sendable, Hashable {
        /// The shared secret of the handshake; XEP-0114 needs it in clear on both sides.
        public var secret: String

        public init(secret: String) {
            self.secret = secret
        }
    }

    /// Federation (RFC 6120 server-to-server, XEP-0220 dialback, XEP-0368 direct TLS).
    public struct S2SSettings: Sendable, Hashable {
        /// Allow Server Dialback when a peer's certificate cannot be verified.
        public var dialback = true
        /// Refuse unencrypted server-to-server streams.
        public var requireEncryption = true
        /// Refuse peers whose certificates do not verify, even with dialback.
        public var requireValidCertificates = false
        /// PEM bundle of trusted CAs; nil means the system bundle.
        public var caFile: String?
        /// Per-domain certificate pins (domain → PEM file): that certificate proves that domain.
        public var pinned: [String: String] = [:]
        /// Static routes (domain → "host:port") used instead of DNS.
        public var routes: [String: String] = [:]
        /// Look up SRV and address records for domains without a static route.
        public var resolveDNS = true
        public var maxStanzaBytes = 524_288
        public var maxInboundStreams = 1000
        public var connectTimeoutSeconds = 10
        public var negotiationTimeoutSeconds = 30
        /// Outbound streams unused this long are closed.
        public var idleTimeoutSeconds = 600
        /// Stanzas held per remote domain while its stream is being set up.
        public var queueLimit = 1000
    }

    /// Switches and options of individual modules.
    public struct ModuleSettings: Sendable, Hashable {
        /// Answer XEP-0092 software version queries.
        public var version = true
        /// Let clients create accounts in-band (XEP-0077).
        public var registration = false
        /// In-band registrations allowed per IP address per hour.
        public var registrationsPerIPPerHour = 5
        /// Archive messages (XEP-0313).
        public var archive = true
        /// Archived messages (XEP-0313) older than this are deleted; 0 keeps them forever.
        public var archiveRetentionDays = 0
        /// Sections of modules with options of their own (`muc: {...}`), by module, read by
        /// each module with `ModuleRegistrar.options(_:)`.
        public var sections: [String: [String: ConfigValue]] = [:]
    }

    public struct Listener: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable, CaseIterable {
            case c2s
            /// Server-to-server (federation), usually port 5269.
            case s2s
            /// External components (XEP-0114), usually port 5347 on loopback.
            case component
            /// HTTP: WebSocket (RFC 7395) and connection discovery (XEP-0156); 5280, or 5281 for HTTPS.
            case http
            /// The admin HTTP API (docs/admin-api.md), and nothing else; none by default, 5285
            /// when listed. Keep it on loopback or a private network.
            case admin
            /// Prometheus metrics at `/metrics` (docs/metrics.md); 5290, none by default.
            case metrics
        }

        public enum TLSMode: String, Sendable, Hashable, CaseIterable {
            /// Plaintext first, upgraded with STARTTLS (RFC 6120 §5).
            case starttls
            /// TLS from the first byte (XEP-0368; HTTPS).
            case direct
            /// No TLS: HTTP and metrics listeners only, on loopback or behind a TLS-terminating proxy.
            case none
        }

        public var kind: Kind
        public var addresses: [String]
        public var port: Int
        public var tls: TLSMode

        public init(kind: Kind, addresses: [String], port: Int, tls: TLSMode) {
            self.kind = kind
            self.addresses = addresses
            self.port = port
            self.tls = tls
        }
    }

    /// The HTTP listeners' behaviour (`http:`).
    public struct AdminAPISettings: Sendable, Hashable {
        /// Browsers' `Origin`s whose pages may call the API; none by default (calls that name
        /// no origin, from scripts and command lines, are not affected).
        public var allowedOrigins: [String] = []
        /// Calls per second per client address, and the burst allowed above that.
        public var requestsPerSecond = 20
        public var burst = 40
        /// Calls with a wrong token from one address within 5 minutes before it is refused.
        public var lockoutFailures = 10

        public init() {}
    }

    public struct HTTPSettings: Sendable, Hashable {
        /// Browsers' `Origin`s allowed to open WebSocket streams; empty allows any.
        public var allowedOrigins: [String] = []
        /// Plain-HTTP listeners sit behind a proxy that terminates TLS: authentication is
        /// allowed over them as over TLS. Off by default.
        public var behindTLSProxy = false
        /// Where WebSocket clients should go instead (RFC 7395 §3.6.1 `see-other-uri`); nil
        /// serves them here.
        public var seeOtherURI: String?
        /// What BOSH sessions may ask for (`http.bosh`: `max_wait`, `max_hold`, `inactivity`,
        /// `polling`, `max_pause`, in seconds but `max_hold`).
        public var bosh = BOSHSessionMachine.Limits()

        public init() {}
    }

    public struct TLSSettings: Sendable, Hashable {
        /// PEM certificate chain; nil means `<data_dir>/tls/certificate.pem`.
        public var certificate: String?
        /// PEM private key; nil means `<data_dir>/tls/private-key.pem`.
        public var privateKey: String?
        /// Make a self-signed certificate for the hosts when none exists at the default path.
        public var generateSelfSigned = true
        /// Require STARTTLS before authentication on STARTTLS listeners.
        public var required = true
    }

    public struct StorageSettings: Sendable, Hashable {
        public enum Backend: String, Sendable, Hashable, CaseIterable {
            case sqlite, memory, postgresql
        }

        public var backend: Backend = .sqlite
        /// nil means `<data_dir>/starling.sqlite`.
        public var sqlitePath: String?
        public var sqliteSynchronous = "full"
        /// `storage.postgresql.url`: where the PostgreSQL backend connects; required with that backend.
        public var postgresqlURL: String?
        public var postgresqlTLS = PostgresSettings.TLSMode.prefer
        public var postgresqlCAFile: String?
        /// nil: the database's default schema.
        public var postgresqlSchema: String?
        /// `storage.postgresql.max_connections`: the pool's size, per server process.
        public var postgresqlMaxConnections = 20
        /// `storage.postgresql.password_file`: the role's password, read from this file (mode
        /// 0600 or stricter) instead of the URL, so the configuration holds no secret.
        public var postgresqlPasswordFile: String?

        /// What `storage.postgresql` says, checked (the loader has checked it already).
        public func postgresSettings() throws -> PostgresSettings {
            guard let url = self.postgresqlURL else {
                throw ConfigurationError(path: "storage.postgresql.url", message: "missing; expected postgresql://user@host:5432/database")
            }
            var settings: PostgresSettings
            do {
                settings = try PostgresSettings(url: url, tls: self.postgresqlTLS, caFile: self.postgresqlCAFile, schema: self.postgresqlSchema)
                settings.maximumConnections = self.postgresqlMaxConnections
            } catch {
                throw ConfigurationError(path: "storage.postgresql.url", message: "\(error)")
            }
            if let file = self.postgresqlPasswordFile {
                guard settings.password == nil else {
                    throw ConfigurationError(path: "storage.postgresql.password_file", message: "the URL has a password too; keep one of the two")
                }
                settings.password = try Self.password(fromFile: file)
            }
            return settings
        }

        /// The file's first line; refused when others may read it, as libpq refuses such a .pgpass.
        /// A symlink (how Kubernetes mounts secrets) is judged by the file it points to.
        static func password(fromFile path: String) throws -> String {
            let key = "storage.postgresql.password_file"
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: target),
                let data = FileManager.default.contents(atPath: target)
            else {
                throw ConfigurationError(path: key, message: "cannot read \(path)")
            }
            if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
                throw ConfigurationError(path: key, message: "\(path) may be read by others (mode \(String(mode & 0o777, radix: 8))); chmod 600 it")
            }
            // Any line end ends the password: "\r\n" is one Character to Swift, so split on isNewline.
            let text = String(decoding: data, as: UTF8.self)
            let password = text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first.map(String.init) ?? ""
            guard !password.isEmpty else { throw ConfigurationError(path: key, message: "\(path) is empty") }
            return password
        }
    }

    public struct Limits: Sendable, Hashable {
        public var maxStanzaBytes = 262_144
        public var maxStanzaBytesBeforeAuthentication = 10_240
        public var maxDepth = 48
        public var maxAttributesPerElement = 64
        public var maxAttributeValueBytes = 65_536
        public var maxAuthenticationFailures = 3
        public var negotiationTimeoutSeconds = 60
        public var maxSessionsPerAccount = 10
        public var maxRosterItems = 1000
        /// Messages kept per account while it is offline (XEP-0160).
        public var maxOfflineMessages = 1000
        public var maxVCardBytes = 131_072
        public var maxPrivateXMLBytes = 65_536
        public var maxPrivacyListItems = 500
        public var maxBlockedItems = 1000
        /// An element (or the header) left unfinished this long closes the stream (slow senders).
        public var stanzaTimeoutSeconds = 30
        /// Connections that have not authenticated, per client address and in total.
        public var maxUnauthenticatedPerAddress = 20
        public var maxUnauthenticatedConnections = 2000
        /// Failed logins (per address or per account, within 15 minutes) before logins are
        /// refused with `<temporary-auth-failure/>` for the rest of that window.
        public var authenticationLockoutFailures = 10
        /// Read rate per client connection in bytes per second (0 = unlimited), and the burst.
        public var readRateBytesPerSecond = 65_536
        public var readBurstBytes = 262_144
    }

    public struct C2SSettings: Sendable, Hashable {
        public enum ResourceConflict: String, Sendable, Hashable, CaseIterable {
            /// The new session takes the resource; the old one gets `<conflict/>`.
            case kickOld = "kick_old"
            /// The new session gets a different, server-generated resource.
            case newResource = "new_resource"
        }

        public var resourceConflict: ResourceConflict = .kickOld
        /// Offer the legacy `<session/>` feature (marked optional) for old clients.
        public var legacySession = true
        /// Offer XEP-0388 SASL2 with XEP-0386 Bind 2 beside RFC 6120 SASL and binding.
        public var sasl2 = true
        /// Offer XEP-0480 SCRAM upgrade tasks inside SASL2, and derive missing hashes after a
        /// PLAIN login (`c2s.sasl2.scram_upgrades`).
        public var scramUpgrades = true
        /// Ping a client (XEP-0199) after this long without hearing from it; 0 turns pings off.
        public var pingIntervalSeconds = 300
        /// Close the stream with `<connection-timeout/>` when a ping stays unanswered this long.
        public var pingTimeoutSeconds = 60
        /// How long a dropped session can be resumed (XEP-0198) before it ends.
        public var resumeTimeoutSeconds = 300
        /// XEP-0484 FAST tokens, offered inside SASL2.
        public var fast = FASTSettings()
    }

    public struct FASTSettings: Sendable, Hashable {
        /// Offer FAST (needs `sasl2`).
        public var enabled = true
        /// How long an issued token logs in for: 21 days.
        public var tokenLifetimeSeconds = 1_814_400
        /// A token login this close to the token's expiry gets a new token in `<success/>`: 7 days.
        public var rotateBeforeSeconds = 604_800

        public init() {}
    }
}

extension ServerConfiguration {
    /// The hosts, prepared as JID domainparts.
    public func preparedHosts() throws -> [String] {
        try self.hosts.map { host in
            do {
                return try JID.prepareDomainpart(host)
            } catch {
                throw ConfigurationError(path: "hosts", message: "'\(host)' is not a valid domain: \(error)")
            }
        }
    }

    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : self.dataDirectory + "/" + path
    }

    /// Component domains, prepared, with their secrets.
    public func preparedComponents() throws -> [String: String] {
        var result: [String: String] = [:]
        for (domain, component) in self.components {
            let prepared: String
            do {
                prepared = try JID.prepareDomainpart(domain)
            } catch {
                throw ConfigurationError(path: "components", message: "'\(domain)' is not a valid domain: \(error)")
            }
            result[prepared] = component.secret
        }
        return result
    }

    /// Administrators as bare JIDs.
    public func preparedAdmins() throws -> Set<JID> {
        var result: Set<JID> = []
        for (index, admin) in self.admins.enumerated() {
            guard let jid = Self.adminJID(admin) else {
                throw ConfigurationError(path: "admins[\(index)]", message: "'\(admin)' is not a bare JID like admin@example.org")
            }
            result.insert(jid)
        }
        return result
    }

    /// An administrator is an account: a bare JID with a localpart.
    static func adminJID(_ text: String) -> JID? {
        guard let jid = try? JID(text), jid.localpart != nil, jid.resourcepart == nil else { return nil }
        return jid
    }

    public var certificatePath: String { self.tls.certificate ?? self.resolve("tls/certificate.pem") }
    public var privateKeyPath: String { self.tls.privateKey ?? self.resolve("tls/private-key.pem") }
    public var sqlitePath: String { self.storage.sqlitePath ?? self.resolve("starling.sqlite") }
}

/// A configuration problem, with the key it concerns.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}
