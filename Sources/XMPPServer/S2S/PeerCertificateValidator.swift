import Foundation
import NIOSSL
import SwiftASN1
import X509
import XMPPStream

/// Decides which domains a peer's certificate chain proves (RFC 6125 / RFC 7590): a chain that
/// validates against the trust anchors proves its DNS names; a pinned certificate proves the
/// domain it is pinned to. Extended key usage is not required, since public CAs stopped
/// issuing clientAuth for server certificates.
final class PeerCertificateValidator: @unchecked Sendable {
    private let roots: [Certificate]
    private let pins: [String: [UInt8]]

    init(settings: ServerConfiguration.S2SSettings) throws {
        var roots: [Certificate] = []
        let bundle = settings.caFile ?? "/etc/ssl/certs/ca-certificates.crt"
        if let text = try? String(contentsOfFile: bundle, encoding: .utf8) {
            let documents = (try? PEMDocument.parseMultiple(pemString: text)) ?? []
            roots = documents.compactMap { try? Certificate(pemDocument: $0) }
        } else if settings.caFile != nil {
            throw CertificateStore.Problem(description: "cannot read s2s.ca_file \(bundle)")
        }
        self.roots = roots
        var pins: [String: [UInt8]] = [:]
        for (domain, path) in settings.pinned {
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8), let certificate = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)).first
            else { throw CertificateStore.Problem(description: "cannot read the certificate pinned for \(domain) at \(path)") }
            pins[domain] = try certificate.toDERBytes()
        }
        self.pins = pins
    }

    func identity(of chain: [NIOSSLCertificate]) async -> CertificateIdentity {
        guard let leafDER = chain.first.flatMap({ try? $0.toDERBytes() }), let leaf = try? Certificate(derEncoded: leafDER) else {
            return .none
        }
        let pinned = Set(self.pins.filter { $0.value == leafDER }.keys)
        var names: [String] = []
        if !self.roots.isEmpty {
            let intermediates = chain.dropFirst().compactMap { try? $0.toDERBytes() }.compactMap { try? Certificate(derEncoded: $0) }
            var verifier = Verifier(rootCertificates: X509.CertificateStore(self.roots)) {
                // Validity is checked against the current time.
                RFC5280Policy()
            }
            let result = await verifier.validate(leaf: leaf, intermediates: X509.CertificateStore(intermediates))
            if case .validCertificate = result {
                if let alternatives = try? leaf.extensions.subjectAlternativeNames {
                    for name in alternatives {
                        if case .dnsName(let dnsName) = name { names.append(dnsName) }
                    }
                }
            }
        }
        return CertificateIdentity(names: names, pinnedDomains: pinned)
    }
}
