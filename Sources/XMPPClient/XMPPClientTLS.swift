import NIOCore
import NIOSSL
import Synchronization
import XMPPSASL

/// How the client trusts the server's certificate.
public struct XMPPClientTLS: Sendable {
    public enum Trust: Sendable {
        /// The system's CA bundle, with host name verification.
        case system
        /// Exactly this certificate (PEM), as for a self-signed server.
        case pinned(certificatePEM: String)
    }

    public var serverName: String
    public var trust: Trust
    /// A certificate chain and key (PEM) to present, as servers do for SASL EXTERNAL.
    public var clientCertificate: (chainPEM: String, keyPEM: String)?

    public init(serverName: String, trust: Trust = .system, clientCertificate: (chainPEM: String, keyPEM: String)? = nil) {
        self.serverName = serverName
        self.trust = trust
        self.clientCertificate = clientCertificate
    }

    private func applyClientCertificate(to configuration: inout TLSConfiguration) throws {
        guard let (chainPEM, keyPEM) = self.clientCertificate else { return }
        configuration.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8)).map { .certificate($0) }
        configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
    }

    /// A handler with a context of its own, so the key log it hears is this connection's.
    func makeHandler(exporter: TLSExporterCollector) throws -> NIOSSLClientHandler {
        switch self.trust {
        case .system:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.keyLogCallback = { line in exporter.keyLogged(line) }
            try self.applyClientCertificate(to: &configuration)
            let context = try NIOSSLContext(configuration: configuration)
            return try NIOSSLClientHandler(context: context, serverHostname: self.serverName)
        case .pinned(let pem):
            let pinned = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)).first.map { try $0.toDERBytes() }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .noHostnameVerification
            configuration.keyLogCallback = { line in exporter.keyLogged(line) }
            try self.applyClientCertificate(to: &configuration)
            let context = try NIOSSLContext(configuration: configuration)
            return try NIOSSLClientHandler(context: context, serverHostname: self.serverName) { chain, promise in
                let leaf = chain.first.flatMap { try? $0.toDERBytes() }
                promise.succeed(leaf != nil && leaf == pinned ? .certificateVerified : .failed)
            }
        }
    }
}

/// The `tls-exporter` binding (RFC 9266) of one client connection, derived from the
/// `EXPORTER_SECRET` line its own context's key log hands out during a TLS 1.3 handshake
/// (swift-nio-ssl cannot export keying material). Only the derived binding is kept; the
/// secret and the other lines (traffic secrets) are dropped at once and never logged.
final class TLSExporterCollector: Sendable {
    private let binding = Mutex<[UInt8]?>(nil)

    init() {}

    func keyLogged(_ line: ByteBuffer) {
        guard let parsed = TLSExporterSecretLine(line.readableBytesView) else { return }
        let derived = TLSExporter.channelBinding(exporterSecret: parsed.secret)
        self.binding.withLock { $0 = derived }
    }

    var channelBinding: [UInt8]? {
        self.binding.withLock { $0 }
    }
}
