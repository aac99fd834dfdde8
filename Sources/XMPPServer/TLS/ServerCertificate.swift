import NIOConcurrencyHelpers
import NIOSSL

/// The certificate new connections get. A reload (`AdminOperations.reload`) replaces it;
/// a connection keeps the material it was accepted with, so its channel bindings
/// (`tls-server-end-point`, `tls-exporter`) stay those of the certificate it presented and
/// nothing a handshake in progress holds changes under it.
final class ServerCertificate: Sendable {
    private let current: NIOLockedValueBox<TLSMaterial>

    init(_ material: TLSMaterial) {
        self.current = NIOLockedValueBox(material)
    }

    /// What a connection accepted now uses.
    var material: TLSMaterial { self.current.withLockedValue { $0 } }

    func replace(with material: TLSMaterial) {
        self.current.withLockedValue { $0 = material }
    }

    /// TLS for an HTTPS listener. Hummingbird makes its context once, when the listener
    /// starts, so every handshake swaps in the certificate current then (swift-nio-ssl's
    /// per-handshake override, meant for SNI); HTTP streams use no channel binding.
    func httpsConfiguration() -> TLSConfiguration {
        let first = self.material
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: first.certificateChain.map { .certificate($0) }, privateKey: .privateKey(first.privateKey))
        configuration.applicationProtocols = ["http/1.1"]
        configuration.sslContextCallback = { [self] _, promise in
            let material = self.material
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = material.certificateChain.map { .certificate($0) }
            override.privateKey = .privateKey(material.privateKey)
            promise.succeed(override)
        }
        return configuration
    }
}
