import Foundation
import NIOConcurrencyHelpers
import XMPPCore
import XMPPStorage

/// Where a reload reads the configuration from: `starling serve` reads its file again and
/// applies its command-line options over it, as at the start.
public typealias ConfigurationSource = @Sendable () throws -> ServerConfiguration

/// Reads the configuration again and applies what can change while the server runs: the
/// certificate and key for new connections, the log level and the administrators. Everything
/// else is compared with what the server runs with and reported as needing a restart. A
/// configuration that does not load, or a certificate that does not, changes nothing.
final class ConfigurationReloader: @unchecked Sendable {
    private let source: ConfigurationSource
    private let certificate: ServerCertificate?
    private let administrators: LockedBox<Set<JID>>
    private let logLevel: RuntimeLogLevel
    private let s2s: S2SManager?
    /// The hosts the server runs with, prepared.
    private let hosts: [String]
    /// One reload at a time (a signal and an API call may come together); guards `running`.
    private let lock = NIOLock()
    /// The configuration the server runs with: the one it started with, with what reloads applied.
    private var running: ServerConfiguration

    init(
        source: @escaping ConfigurationSource, running: ServerConfiguration, hosts: [String], certificate: ServerCertificate?, administrators: LockedBox<Set<JID>>,
        logLevel: RuntimeLogLevel, s2s: S2SManager?
    ) {
        self.source = source
        self.running = running
        self.hosts = hosts
        self.certificate = certificate
        self.administrators = administrators
        self.logLevel = logLevel
        self.s2s = s2s
    }

    func reload() throws(AdminError) -> AdminReloadReport {
        self.lock.lock()
        defer { self.lock.unlock() }
        return try self.reloadLocked()
    }

    private func reloadLocked() throws(AdminError) -> AdminReloadReport {
        let new: ServerConfiguration
        let admins: Set<JID>
        let hosts: [String]
        do {
            new = try self.source()
            hosts = try new.preparedHosts()
            admins = try new.preparedAdmins()
        } catch {
            throw .badConfiguration("\(error)")
        }
        var running = self.running
        var report = AdminReloadReport()

        // Everything that can fail is done before anything changes.
        var replacement: (material: TLSMaterial, s2s: S2SManager.TLSContexts?)?
        if let certificate = self.certificate {
            // Relative paths resolve against the data directory the server runs with.
            var paths = running
            paths.tls.certificate = new.tls.certificate
            paths.tls.privateKey = new.tls.privateKey
            let material: TLSMaterial
            do {
                material = try CertificateStore.load(paths, hosts: hosts, generateIfMissing: false)
            } catch {
                throw .badConfiguration("\(error)")
            }
            if material.certificatePEM != certificate.material.certificatePEM {
                do {
                    replacement = (material, try self.s2s.map { _ in try S2SManager.contexts(for: material) })
                } catch {
                    throw .badConfiguration("the certificate cannot be used for federation: \(error)")
                }
            }
            let current = replacement?.material ?? certificate.material
            report.certificateFingerprint = current.sha256Fingerprint
            report.warnings += current.warnings(for: self.hosts)
        }

        if let replacement, let certificate = self.certificate {
            let old = certificate.material.sha256Fingerprint
            certificate.replace(with: replacement.material)
            if let contexts = replacement.s2s { self.s2s?.use(contexts) }
            report.applied.append(AdminReloadChange(setting: "tls", detail: "new connections get the certificate \(replacement.material.sha256Fingerprint) (was \(old))"))
        }
        // A server that started without a certificate has no listener to hand a new one to:
        // new paths then stay a difference, which the report names as needing a restart.
        if self.certificate != nil {
            running.tls.certificate = new.tls.certificate
            running.tls.privateKey = new.tls.privateKey
        }

        if self.logLevel.value != new.logLevel {
            report.applied.append(AdminReloadChange(setting: "log_level", detail: "\(self.logLevel.value.rawValue) → \(new.logLevel.rawValue)"))
            self.logLevel.value = new.logLevel
        }
        running.logLevel = new.logLevel

        let before = self.administrators.withLock { $0 }
        if before != admins {
            let added = admins.subtracting(before).map { "+\($0)" }.sorted()
            let removed = before.subtracting(admins).map { "-\($0)" }.sorted()
            self.administrators.withLock { $0 = admins }
            report.applied.append(AdminReloadChange(setting: "admins", detail: (added + removed).joined(separator: " ")))
        }
        running.admins = new.admins

        report.restartRequired = Self.differences(running, new)
        self.running = running
        return report
    }

    /// The settings, by their names in the configuration file, that differ between what runs
    /// and what was read; a module's own section is named `modules.<name>`. What a reload
    /// applies (log level, administrators, certificate paths when there is a certificate to
    /// replace) is equal by then.
    static func differences(_ running: ServerConfiguration, _ new: ServerConfiguration) -> [String] {
        var names: [String] = []
        func compare<Value: Equatable>(_ name: String, _ value: (ServerConfiguration) -> Value) {
            if value(running) != value(new) { names.append(name) }
        }
        compare("hosts") { $0.hosts }
        compare("data_dir") { $0.dataDirectory }
        compare("listeners") { $0.listeners }
        compare("http") { $0.http }
        compare("admin_api") { $0.adminAPI }
        compare("tls.required") { $0.tls.required }
        compare("tls.generate_self_signed") { $0.tls.generateSelfSigned }
        compare("tls.certificate") { $0.tls.certificate }
        compare("tls.private_key") { $0.tls.privateKey }
        compare("storage") { $0.storage }
        compare("limits") { $0.limits }
        compare("c2s") { $0.c2s }
        compare("s2s") { $0.s2s }
        compare("components") { $0.components }
        compare("contact_info") { $0.contactInfo }
        compare("external_services") { $0.externalServices }
        var settings = new.modules
        settings.sections = running.modules.sections
        if settings != running.modules { names.append("modules") }
        for section in Set(running.modules.sections.keys).union(new.modules.sections.keys).sorted()
        where running.modules.sections[section] != new.modules.sections[section] {
            names.append("modules.\(section)")
        }
        return names
    }
}

/// What a reload did.
public struct AdminReloadReport: Sendable, Hashable, Codable {
    /// What changed and applies now.
    public var applied: [AdminReloadChange] = []
    /// Settings that changed in the configuration but apply only after a restart, by their
    /// names in the file (`listeners`, `modules.muc`); they stay listed until then.
    public var restartRequired: [String] = []
    /// The SHA-256 fingerprint of the certificate new connections get.
    public var certificateFingerprint: String?
    /// What is worth knowing about the configuration read (an expired certificate).
    public var warnings: [String] = []
}

/// One setting a reload changed.
public struct AdminReloadChange: Sendable, Hashable, Codable {
    /// Its name in the configuration file (`tls`, `log_level`, `admins`).
    public var setting: String
    public var detail: String
}
