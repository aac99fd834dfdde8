import ArgumentParser
import Foundation
import Logging
import XMPPServer
import XMPPServerModules

@main
struct Starling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starling",
        abstract: "An XMPP server.",
        subcommands: [Serve.self, AddUser.self, Passwd.self, DelUser.self, RosterCommand.self, ArchiveCommand.self, TokenCommand.self, InviteCommand.self, ExportCommand.self, ImportCommand.self, SessionsCommand.self, KickCommand.self, AnnounceCommand.self, StatusCommand.self, LogLevelCommand.self, RoomsCommand.self, DestroyRoomCommand.self, ReloadCommand.self, MigrateStorageCommand.self, Check.self],
        defaultSubcommand: Serve.self
    )
}

/// Options every subcommand shares: where the configuration and the data are.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: "A YAML configuration file (see docs/configuration.md).")
    var config: String?

    @Option(name: .long, help: "Serve this domain instead of the configured hosts.")
    var domain: String?

    @Option(name: .customLong("data-dir"), help: "Directory for the database and the generated certificate (default ./starling-data).")
    var dataDir: String?

    func load() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("cannot read the configuration file \(config)")
            }
            do {
                configuration = try ConfigurationLoader.load(yaml: text)
            } catch {
                throw ValidationError("\(config): \(error)")
            }
        }
        if let domain { configuration.hosts = [domain] }
        if let dataDir { configuration.dataDirectory = dataDir }
        return configuration
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server (the default command).")

    @OptionGroup var options: ConfigurationOptions

    @Option(name: .customLong("c2s-port"), help: "Port of the STARTTLS client listener (default 5222).")
    var c2sPort: Int?

    @Option(name: .customLong("tls-port"), help: "Port of the direct TLS client listener, XEP-0368 (default 5223).")
    var tlsPort: Int?

    @Option(name: .customLong("http-port"), help: "Port of the plain HTTP listener, WebSocket and BOSH (default 5280).")
    var httpPort: Int?

    @Option(name: .customLong("https-port"), help: "Port of the HTTPS listener (default 5281).")
    var httpsPort: Int?

    @Option(name: .customLong("admin-port"), help: "Serve the admin HTTP API on 127.0.0.1 and ::1 at this port (plain HTTP; see docs/admin-api.md).")
    var adminPort: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    /// The configuration file with the command-line options over it; read again by reloads.
    func makeConfiguration() throws -> ServerConfiguration {
        var configuration = try self.options.load()
        for index in configuration.listeners.indices {
            switch (configuration.listeners[index].kind, configuration.listeners[index].tls) {
            case (.http, .direct): if let httpsPort { configuration.listeners[index].port = httpsPort }
            case (.http, _): if let httpPort { configuration.listeners[index].port = httpPort }
            case (.admin, _): break
            case (.metrics, _): break
            case (_, .starttls): if let c2sPort { configuration.listeners[index].port = c2sPort }
            case (_, .direct): if let tlsPort { configuration.listeners[index].port = tlsPort }
            case (_, .none): break
            }
        }
        if let adminPort {
            guard (0...65535).contains(adminPort) else { throw ValidationError("--admin-port must be from 0 to 65535") }
            configuration.listeners.removeAll { $0.kind == .admin }
            configuration.listeners.append(.init(kind: .admin, addresses: ["127.0.0.1", "::1"], port: adminPort, tls: .none))
        }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
            configuration.logLevel = level
        }
        return configuration
    }

    func run() async throws {
        let configuration = try self.makeConfiguration()
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // Until the server exists, a SIGHUP (logrotate, a service manager's reload) is ignored
        // rather than ending a start that may be waiting for its database.
        signal(SIGHUP, SIG_IGN)
        let server: XMPPServer
        do {
            let command = self
            server = try XMPPServer(
                configuration: configuration, modules: DefaultModules.modules(for: configuration), reloadConfiguration: { try command.makeConfiguration() })
            try await server.start()
        } catch {
            throw CLIError("cannot start: \(error)")
        }
        // SIGHUP reads the configuration and the certificate again; the server logs what it
        // applied, or why it refused. Set before the server says it serves, so that nobody
        // who waits for that line can send a SIGHUP that would still end the process.
        SignalWaiter.onHangUp { _ = try? server.admin.reload() }
        let listening = server.boundListeners.map { bound in
            let kind: String
            switch bound.listener.kind {
            case .c2s: kind = bound.listener.tls.rawValue
            case .s2s: kind = "s2s \(bound.listener.tls.rawValue)"
            case .component: kind = "component"
            case .http: kind = bound.listener.tls == .direct ? "https" : "http"
            case .admin: kind = bound.listener.tls == .direct ? "admin https" : "admin"
            case .metrics: kind = "metrics"
            }
            return "\(bound.address.ipAddress ?? "?") port \(bound.address.port ?? 0) (\(kind))"
        }
        for line in self.firstStartLines(server) { print(line) }
        print("Starling serving \(configuration.hosts.joined(separator: ", ")) on \(listening.joined(separator: ", "))")
        fflush(stdout)
        // A signal or an administrator's shutdown command (XEP-0133), whichever comes first.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            Task {
                await SignalWaiter.waitForTermination()
                if once.set() { continuation.resume() }
            }
            Task {
                await server.waitForShutdownRequest()
                if once.set() { continuation.resume() }
            }
        }
        await server.shutdown()
    }
}

extension Serve {
    /// What a new user needs from the first start: where the data and the certificate went,
    /// the fingerprint their client will ask them to trust, and how to make an account. Later
    /// starts only repeat the fingerprint.
    func firstStartLines(_ server: XMPPServer) -> [String] {
        let configuration = server.configuration
        var lines: [String] = []
        if server.createdDataDirectory {
            lines.append("Created the data directory \(absolutePath(configuration.dataDirectory)) (database, certificate).")
        }
        if server.generatedCertificate {
            lines.append(
                "Made a self-signed certificate for \(configuration.hosts.joined(separator: ", ")): \(absolutePath(configuration.certificatePath))")
        }
        if let fingerprint = server.certificateFingerprint {
            lines.append("Certificate SHA-256 fingerprint: \(fingerprint)")
        }
        if server.generatedCertificate, let sha1 = server.certificateSHA1Fingerprint {
            lines.append("Certificate SHA-1 fingerprint:   \(sha1)")
            lines.append("Clients ask whether to trust this certificate the first time; the fingerprint they show must be one of these.")
        }
        if server.createdDataDirectory || server.generatedCertificate, let host = configuration.hosts.first {
            var command = "starling adduser alice@\(host)"
            if let config = self.options.config { command += " --config \(config)" }
            if let dataDir = self.options.dataDir { command += " --data-dir \(dataDir)" }
            lines.append("Create accounts with `\(command)`; it works while the server runs.")
        }
        return lines
    }
}

/// A path as the user can paste it anywhere: relative paths are resolved against the current
/// directory.
func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}

struct AddUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "adduser", abstract: "Create an account.")

    @Argument(help: "The account address, for example alice@localhost.")
    var jid: String

    @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of standard input.")
    var passwordStdin = false

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        try await AccountCommand.run(self.options) { manager in
            let password = try PasswordInput.read(fromStdin: self.passwordStdin, confirm: true)
            let account = try await manager.create(self.jid, password: password)
            print("created \(account)")
        }
    }
}

struct Passwd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "passwd", abstract: "Change an account's password.")

    @Argument(help: "The account address.")
    var jid: String

    @Flag(name: .customLong("password-stdin"), help: "Read the new password from the first line of standard input.")
    var passwordStdin = false

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        try await AccountCommand.run(self.options) { manager in
            let password = try PasswordInput.read(fromStdin: self.passwordStdin, confirm: true)
            let account = try await manager.changePassword(self.jid, password: password)
            print("changed the password of \(account)")
        }
    }
}

struct DelUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deluser", abstract: "Delete an account and its data.")

    @Argument(help: "The account address.")
    var jid: String

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        try await AccountCommand.run(self.options) { manager in
            let account = try await manager.delete(self.jid)
            print("deleted \(account)")
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate the configuration and the certificate, and say what is wrong.")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try self.options.load()
        var problems: [String] = []
        var notes: [String] = []
        var facts: [String] = []
        var hosts: [String] = []
        do {
            hosts = try configuration.preparedHosts()
        } catch {
            problems.append("\(error)")
        }
        var ports = Set<Int>()
        for (index, listener) in configuration.listeners.enumerated() {
            if listener.port != 0 && !ports.insert(listener.port).inserted {
                problems.append("listeners[\(index)].port: port \(listener.port) is used by two listeners")
            }
            if listener.addresses.isEmpty { problems.append("listeners[\(index)].addresses: list at least one address") }
        }
        let certificateMissing = !FileManager.default.fileExists(atPath: configuration.certificatePath)
        if certificateMissing && configuration.tls.certificate == nil && configuration.tls.generateSelfSigned {
            notes.append("no certificate yet: a self-signed one for \(hosts.joined(separator: ", ")) will be made at \(configuration.certificatePath) on first start")
        } else {
            do {
                let material = try CertificateStore.load(configuration, hosts: hosts, generateIfMissing: false)
                problems += material.warnings(for: hosts).map { "\(configuration.certificatePath): \($0)" }
                facts.append("certificate \(absolutePath(configuration.certificatePath)), SHA-256 fingerprint \(material.sha256Fingerprint)")
            } catch {
                problems.append("\(error)")
            }
        }
        // Module options are read by their modules: register them, without storage or listeners.
        problems += XMPPServer.moduleProblems(configuration: configuration, modules: DefaultModules.modules(for: configuration)).map { "\($0)" }
        for note in notes { print("note: \(note)") }
        for fact in facts { print(fact) }
        if problems.isEmpty {
            print("configuration OK: serving \(hosts.joined(separator: ", ")), data in \(configuration.dataDirectory)")
        } else {
            for problem in problems { print("error: \(problem)") }
            throw ExitCode(1)
        }
    }
}

enum AccountCommand {
    static func run(_ options: ConfigurationOptions, _ body: (AccountManager) async throws -> Void) async throws {
        try await StorageCommand.run(options) { storage, hosts in
            do {
                try await body(AccountManager(backend: storage, hosts: Set(hosts)))
            } catch let failure as AccountManager.Failure {
                throw CLIError(failure.description)
            }
        }
    }
}

/// Opens the configured storage for one command and closes it whatever the command does.
enum StorageCommand {
    static func run(_ options: ConfigurationOptions, _ body: (any XMPPStorageBackendAlias, [String]) async throws -> Void) async throws {
        let configuration = try options.load()
        let hosts: [String]
        let storage: any XMPPStorageBackendAlias
        do {
            hosts = try configuration.preparedHosts()
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            storage = try XMPPServer.openStorage(configuration)
        } catch {
            throw CLIError("\(error)")
        }
        do {
            try await XMPPServer.waitUntilOpened(storage)
        } catch {
            await storage.close()
            throw CLIError("\(error)")
        }
        do {
            try await body(storage, hosts)
        } catch {
            await storage.close()
            throw error
        }
        await storage.close()
    }

    static func run(_ options: ConfigurationOptions, _ body: (any XMPPStorageBackendAlias) async throws -> Void) async throws {
        try await self.run(options) { storage, _ in try await body(storage) }
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
