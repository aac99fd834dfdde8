import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509
import XMPPSASL

/// The server's certificate and key, ready for NIOSSL, plus what SASL channel binding needs.
public struct TLSMaterial: @unchecked Sendable {
    public let context: NIOSSLContext
    public let certificateChain: [NIOSSLCertificate]
    public let privateKey: NIOSSLPrivateKey
    public let certificatePEM: String
    /// `tls-server-end-point` data (RFC 5929 §4.1): the certificate hashed with its signature hash.
    public let serverEndPointData: [UInt8]
    public let subjectNames: [String]
    public let notValidAfter: Date
    /// SHA-256 of the leaf certificate's DER, as `openssl x509 -noout -fingerprint -sha256`
    /// prints it (upper-case hex pairs joined by colons): what a client shows when it asks its
    /// user to trust a self-signed certificate.
    public let sha256Fingerprint: String
    /// The same over SHA-1, which some clients still show (profanity 0.13).
    public let sha1Fingerprint: String
    /// Whether this load made the certificate (first start with the default paths).
    public let generated: Bool

    /// The channel bindings every connection with this certificate offers, built once.
    /// `tls-exporter` differs per connection and comes from `exporters`.
    public let channelBindings: [ChannelBindingType: [UInt8]]
    /// Per-connection `tls-exporter` bindings, fed by `context`'s key-log callback.
    public let exporters: TLSExporterTable

    /// What an operator should hear about this certificate for these hosts: expired, or not
    /// naming one of them (`starling check` and a reload say the same).
    public func warnings(for hosts: [String], now: Date = Date()) -> [String] {
        var warnings: [String] = []
        if self.notValidAfter < now { warnings.append("the certificate expired on \(self.notValidAfter)") }
        for host in hosts where !self.subjectNames.contains(where: { Self.name($0, covers: host) }) {
            warnings.append("the certificate does not name \(host) (it names \(self.subjectNames.joined(separator: ", ")))")
        }
        return warnings
    }

    /// A subject name matches the host itself, or one label below a `*.` wildcard (RFC 6125 §6.4.3).
    static func name(_ pattern: String, covers host: String) -> Bool {
        let pattern = pattern.lowercased()
        if pattern == host { return true }
        if pattern.hasPrefix("*."), let dot = host.firstIndex(of: ".") {
            return host[host.index(after: dot)...] == pattern.dropFirst(2)
        }
        return false
    }

    init(
        context: NIOSSLContext, exporters: TLSExporterTable, certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey,
        certificatePEM: String, serverEndPointData: [UInt8], subjectNames: [String], notValidAfter: Date, sha256Fingerprint: String,
        sha1Fingerprint: String, generated: Bool
    ) {
        self.context = context
        self.exporters = exporters
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.certificatePEM = certificatePEM
        self.serverEndPointData = serverEndPointData
        self.subjectNames = subjectNames
        self.notValidAfter = notValidAfter
        self.sha256Fingerprint = sha256Fingerprint
        self.sha1Fingerprint = sha1Fingerprint
        self.generated = generated
        self.channelBindings = [.tlsServerEndPoint: serverEndPointData]
    }
}

/// Loads the configured certificate, or makes a self-signed one on first start.
public enum CertificateStore {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Loads the certificate and key; generates them first when allowed and absent.
    public static func load(_ configuration: ServerConfiguration, hosts: [String], generateIfMissing: Bool) throws -> TLSMaterial {
        let certificatePath = configuration.certificatePath
        let keyPath = configuration.privateKeyPath
        let fileManager = FileManager.default
        let usingDefaults = configuration.tls.certificate == nil && configuration.tls.privateKey == nil
        var generated = false
        if !fileManager.fileExists(atPath: certificatePath) && !fileManager.fileExists(atPath: keyPath) {
            guard generateIfMissing && usingDefaults && configuration.tls.generateSelfSigned else {
                throw Problem(description: "no certificate at \(certificatePath): set tls.certificate and tls.private_key, or allow tls.generate_self_signed")
            }
            try self.generateSelfSigned(hosts: hosts, certificatePath: certificatePath, keyPath: keyPath)
            generated = true
        }
        guard let certificatePEM = try? String(contentsOfFile: certificatePath, encoding: .utf8) else {
            throw Problem(description: "cannot read the certificate file \(certificatePath)")
        }
        guard let keyPEM = try? String(contentsOfFile: keyPath, encoding: .utf8) else {
            throw Problem(description: "cannot read the private key file \(keyPath)")
        }
        return try self.material(certificatePEM: certificatePEM, keyPEM: keyPEM, certificatePath: certificatePath, keyPath: keyPath, generated: generated)
    }

    static func material(certificatePEM: String, keyPEM: String, certificatePath: String, keyPath: String, generated: Bool = false) throws -> TLSMaterial {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
        } catch {
            throw Problem(description: "\(certificatePath) does not hold a PEM certificate: \(error)")
        }
        guard let leaf = chain.first else { throw Problem(description: "\(certificatePath) holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw Problem(description: "\(keyPath) does not hold a PEM private key: \(error)")
        }
        let der = try leaf.toDERBytes()
        let parsed: Certificate
        do {
            parsed = try Certificate(derEncoded: der)
        } catch {
            throw Problem(description: "\(certificatePath): cannot parse the certificate: \(error)")
        }
        if let parsedKey = try? Certificate.PrivateKey(pemEncoded: keyPEM), parsedKey.publicKey != parsed.publicKey {
            throw Problem(description: "\(keyPath) is not the private key of the certificate in \(certificatePath)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        // The only way to the TLS 1.3 exporter secret in swift-nio-ssl (see TLSExporterTable);
        // the table keeps nothing but the derived binding of connections that asked for it.
        let exporters = TLSExporterTable()
        configuration.keyLogCallback = { line in exporters.keyLogged(line) }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw Problem(description: "the certificate and key cannot be used together: \(error)")
        }
        var names: [String] = []
        if let alternativeNames = try? parsed.extensions.subjectAlternativeNames {
            for name in alternativeNames {
                if case .dnsName(let dnsName) = name { names.append(dnsName) }
            }
        }
        return TLSMaterial(
            context: context,
            exporters: exporters,
            certificateChain: chain,
            privateKey: key,
            certificatePEM: certificatePEM,
            serverEndPointData: self.serverEndPointHash(der: der, algorithm: parsed.signatureAlgorithm),
            subjectNames: names,
            notValidAfter: parsed.notValidAfter,
            sha256Fingerprint: self.fingerprint(SHA256.hash(data: der)),
            sha1Fingerprint: self.fingerprint(Insecure.SHA1.hash(data: der)),
            generated: generated
        )
    }

    /// `AB:CD:…`, the form OpenSSL prints and clients show.
    static func fingerprint(_ digest: some Digest) -> String {
        digest.map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    /// RFC 5929 §4.1: SHA-256 unless the certificate is signed with SHA-384 or SHA-512.
    static func serverEndPointHash(der: [UInt8], algorithm: Certificate.SignatureAlgorithm) -> [UInt8] {
        switch algorithm {
        case .ecdsaWithSHA384, .sha384WithRSAEncryption: Array(SHA384.hash(data: der))
        case .ecdsaWithSHA512, .sha512WithRSAEncryption: Array(SHA512.hash(data: der))
        default: Array(SHA256.hash(data: der))
        }
    }

    static func generateSelfSigned(hosts: [String], certificatePath: String, keyPath: String) throws {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let subject = try DistinguishedName {
            CommonName(hosts.first ?? "localhost")
            OrganizationName("Starling self-signed")
        }
        var alternativeNames: [GeneralName] = []
        for host in hosts {
            alternativeNames.append(.dnsName(host))
            alternativeNames.append(.dnsName("*." + host))
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames(alternativeNames)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(825 * 24 * 3600),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        let certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
        let keyPEM = key.pemRepresentation + "\n"
        let fileManager = FileManager.default
        for path in [certificatePath, keyPath] {
            let directory = (path as NSString).deletingLastPathComponent
            try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        guard fileManager.createFile(atPath: keyPath, contents: Data(keyPEM.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Problem(description: "cannot write \(keyPath)")
        }
        guard fileManager.createFile(atPath: certificatePath, contents: Data(certificatePEM.utf8), attributes: [.posixPermissions: 0o644]) else {
            throw Problem(description: "cannot write \(certificatePath)")
        }
    }
}
