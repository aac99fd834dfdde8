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

    public init(serverName: String, trust: Trust = .system) {
        self.serverName = serverName
        self.trust = trust
    }

    func makeHandler() throws -> NIOSSLClientHandler {
        switch self.trust {
        case .system:
            let context = try NIOSSLContext(configuration: .makeClientConfiguration())
            return try NIOSSLClientHandler(context: context, serverHostname: self.serverName)
        case .pinned(let pem):
            let pinned = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)).first.map { try $0.toDERBytes() }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            let context = try NIOSSLContext(configuration: configuration)
            return try NIOSSLClientHandler(context: context, serverHostname: self.serverName) { chain, promise in
                let leaf = chain.first.flatMap { try? $0.toDERBytes() }
                promise.succeed(leaf != nil && leaf == pinned ? .certificateVerified : .failed)
            }
        }
    }
}
