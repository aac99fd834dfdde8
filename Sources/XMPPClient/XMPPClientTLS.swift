import NIOCore
import NIOSSL

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

    func makeHandler() throws -> NIOSSLClientHandler {
        switch self.trust {
        case .system:
            var configuration = TLSConfiguration.makeClientConfiguration()
            try self.applyClientCertificate(to: &configuration)
            let context = try NIOSSLContext(configuration: configuration)
            return try NIOSSLClientHandler(context: context, serverHostname: self.serverName)
        case .pinned(let pem):
            let pinned = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)).first.map { try $0.toDERBytes() }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .noHostnameVerification
            try self.applyClientCertificate(to: &configuration)
            let context = try NIOSSLContext(configuration: configuration)
            return try NIOSSLClientHandler(context: context, serverHostname: self.serverName) { chain, promise in
                let leaf = chain.first.flatMap { try? $0.toDERBytes() }
                promise.succeed(leaf != nil && leaf == pinned ? .certificateVerified : .failed)
            }
        }
    }
}
