import Foundation
import NIOSSL
import PostgresNIO

/// Where the PostgreSQL backend connects and how: read from a `postgresql://` URL (libpq's
/// form) plus the TLS mode, which the configuration names beside the URL.
public struct PostgresSettings: Sendable, Hashable {
    /// `disable`: plain TCP. `prefer`: TLS when the server offers it, without checking its
    /// certificate (protects against eavesdropping, not against an active attacker). `require`:
    /// TLS or no connection, the certificate checked against the system's roots (or `caFile`)
    /// and the host name.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    /// The directory of the server's Unix socket (`?host=/run/postgresql`), used instead of TCP.
    public var socketDirectory: String?
    public var username: String
    public var password: String?
    public var database: String?
    public var tls: TLSMode
    /// PEM file of the certificate authorities to trust instead of the system's, for `require`.
    public var caFile: String?
    /// The schema Starling's tables live in (the connection's `search_path`); nil: the
    /// database's default (`public`). Made at open when missing.
    public var schema: String?
    public var maximumConnections = 20
    /// How long connecting and migrating at open may take before the storage gives up.
    public var openingTimeoutSeconds: Double = 30

    public init(
        host: String, port: Int = 5432, socketDirectory: String? = nil, username: String, password: String? = nil, database: String? = nil,
        tls: TLSMode = .prefer, caFile: String? = nil, schema: String? = nil
    ) {
        self.host = host
        self.port = port
        self.socketDirectory = socketDirectory
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.caFile = caFile
        self.schema = schema
    }

    /// Reads `postgresql://user[:password]@host[:port]/database[?host=/socket/dir]`
    /// (`postgres://` too). Throws `PostgresSettingsError` naming what is wrong.
    public init(url text: String, tls: TLSMode = .prefer, caFile: String? = nil, schema: String? = nil) throws {
        guard let components = URLComponents(string: text) else {
            throw PostgresSettingsError("\(Self.redacted(text)) is not a URL; expected postgresql://user@host:5432/database")
        }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgresql" || scheme == "postgres" else {
            throw PostgresSettingsError("\(Self.redacted(text)) does not start with postgresql://")
        }
        guard let user = components.user?.removingPercentEncoding, !user.isEmpty else {
            throw PostgresSettingsError("\(Self.redacted(text)) names no user; expected postgresql://user@host/database")
        }
        var socketDirectory: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "host":
                guard let value = item.value, value.hasPrefix("/") else {
                    throw PostgresSettingsError("the URL's host parameter must be the absolute path of a socket directory")
                }
                socketDirectory = value
            default:
                throw PostgresSettingsError("the URL's parameter \(item.name) is not supported (only host=/socket/directory; TLS is the tls setting)")
            }
        }
        let host = components.host.flatMap { $0.removingPercentEncoding } ?? ""
        guard !host.isEmpty || socketDirectory != nil else {
            throw PostgresSettingsError("\(Self.redacted(text)) names no host")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw PostgresSettingsError("the URL's port \(port) is out of range")
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/") else {
            throw PostgresSettingsError("the URL's path must be just the database name, not \(path)")
        }
        if let schema { try Self.checkSchemaName(schema) }
        self.init(
            host: host.isEmpty ? "localhost" : host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: components.port ?? 5432,
            socketDirectory: socketDirectory, username: user, password: components.password?.removingPercentEncoding,
            database: path.isEmpty ? nil : path.removingPercentEncoding, tls: tls, caFile: caFile, schema: schema)
    }

    /// A schema name goes into the connection's `search_path` and a `CREATE SCHEMA`: only plain
    /// identifiers, so it never needs quoting rules.
    public static func checkSchemaName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_")
        guard let first = name.first, first.isLetter || first == "_", name.count <= 63, name.allSatisfy({ allowed.contains($0) }) else {
            throw PostgresSettingsError("the schema \(name) must be a lower-case identifier: letters, digits and _, at most 63")
        }
    }

    /// The URL without its password, for messages.
    /// The URL without its password. Text that does not parse as a URL is not echoed at all:
    /// a password with an unescaped `@` or `/` is what makes it unparseable.
    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text) else { return "the URL" }
        guard components.password != nil else { return text }
        components.password = "…"
        return components.string ?? "the URL"
    }

    /// Where it connects, for logs and messages; never the password.
    public var summary: String {
        let place = self.socketDirectory.map { "socket \($0)" } ?? "\(self.host):\(self.port)"
        return "\(self.username)@\(place)/\(self.database ?? self.username)" + (self.schema.map { " schema \($0)" } ?? "")
    }

    /// One connection outside the pool, for opening: connecting and migrating on it reports
    /// the real reason (refused, authentication, TLS) at once, where a pool keeps retrying.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let directory = self.socketDirectory {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: "\(directory)/.s.PGSQL.\(self.port)", username: self.username, password: self.password, database: self.database)
        } else {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            let tls: PostgresConnection.Configuration.TLS
            switch self.tls {
            case .disable:
                tls = .disable
            case .prefer:
                tlsConfiguration.certificateVerification = .none
                tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            case .require:
                if let caFile = self.caFile { tlsConfiguration.trustRoots = .file(caFile) }
                tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
            configuration = PostgresConnection.Configuration(
                host: self.host, port: self.port, username: self.username, password: self.password, database: self.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(10)
        if let schema = self.schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        return configuration
    }

    func clientConfiguration() -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let directory = self.socketDirectory {
            configuration = PostgresClient.Configuration(
                unixSocketPath: "\(directory)/.s.PGSQL.\(self.port)", username: self.username, password: self.password, database: self.database)
        } else {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            let tls: PostgresClient.Configuration.TLS
            switch self.tls {
            case .disable:
                tls = .disable
            case .prefer:
                tlsConfiguration.certificateVerification = .none
                tls = .prefer(tlsConfiguration)
            case .require:
                if let caFile = self.caFile { tlsConfiguration.trustRoots = .file(caFile) }
                tls = .require(tlsConfiguration)
            }
            configuration = PostgresClient.Configuration(
                host: self.host, port: self.port, username: self.username, password: self.password, database: self.database, tls: tls)
        }
        configuration.options.maximumConnections = self.maximumConnections
        configuration.options.connectTimeout = .seconds(10)
        if let schema = self.schema {
            // A run-time parameter in the startup message: every pooled connection has it from the first query on.
            configuration.options.additionalStartupParameters = [("search_path", schema)]
        }
        return configuration
    }
}

public struct PostgresSettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
