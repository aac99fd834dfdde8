import Testing
import XMPPCore
@testable import XMPPSASL

private struct ExporterVector: Sendable, CustomStringConvertible {
    var suite: String
    var exporterSecret: String
    var channelBinding: String
    var description: String { self.suite }
}

/// Recorded from OpenSSL 3.0.19, an implementation independent of ours and of BoringSSL:
/// `openssl s_server -tls1_3 -ciphersuites <suite>` and `openssl s_client -tls1_3 -ciphersuites
/// <suite> -keylogfile kl.txt -keymatexport EXPORTER-Channel-Binding -keymatexportlen 32`.
/// The secret is the `EXPORTER_SECRET` line of kl.txt, the binding what s_client printed as
/// "Keying material" (computed by OpenSSL's SSL_export_keying_material).
private let openSSLVectors = [
    ExporterVector(
        suite: "TLS_AES_128_GCM_SHA256",
        exporterSecret: "fb17949bd6d5dde8ae45ddf0cc73a97b19d62060b84962c071ad02bc99d9714e",
        channelBinding: "60F4964E5F02ED325B23C346ED016B342E0095F581C676899474C5167FCBC908"
    ),
    ExporterVector(
        suite: "TLS_AES_256_GCM_SHA384",
        exporterSecret: "07aa673eb76fd0d5a63c3ee09c7ac1034e387a43b63e9cc0aebbacec869f6c98dc22d9c416690803ef194c61c177f210",
        channelBinding: "3D1E2F2306D31D6DFBB122487F71080F5D7334922A39E7DAAD4AFD1DD75C66B9"
    ),
    ExporterVector(
        suite: "TLS_CHACHA20_POLY1305_SHA256",
        exporterSecret: "56fcc3d70a00461f0bb5d1547d7bf308ea22a3de84a7162e06c5a7a4f253283d",
        channelBinding: "6007ECCF5A13573B7186F58AE5625539A7D412C2FD61D10811BA9883F1ABCDFD"
    ),
]

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
        index = next
    }
    return bytes
}

@Suite("TLS exporter (RFC 9266, RFC 8446 §7.5)")
struct TLSExporterTests {
    @Test("tls-exporter from the exporter master secret matches OpenSSL's exporter", arguments: openSSLVectors)
    fileprivate func openSSL(_ vector: ExporterVector) {
        #expect(TLSExporter.channelBinding(exporterSecret: hex(vector.exporterSecret)) == hex(vector.channelBinding))
    }

    @Test("a secret of no TLS 1.3 hash length gives no binding")
    func unknownLength() {
        #expect(TLSExporter.channelBinding(exporterSecret: [UInt8](repeating: 1, count: 20)) == nil)
        #expect(TLSExporter.channelBinding(exporterSecret: []) == nil)
        #expect(TLSExporter.channelBinding(exporterSecret: [UInt8](repeating: 1, count: 64)) == nil)
    }

    @Test("the key-log line yields the client random and the secret")
    func keyLogLine() throws {
        let random = String(repeating: "ab", count: 32)
        let line = try #require(TLSExporterSecretLine(Array("EXPORTER_SECRET \(random) \(openSSLVectors[0].exporterSecret)\n".utf8)))
        #expect(line.clientRandom == [UInt8](repeating: 0xAB, count: 32))
        #expect(line.secret == hex(openSSLVectors[0].exporterSecret))
        // Upper case and no newline are fine too.
        #expect(TLSExporterSecretLine(Array("EXPORTER_SECRET \(random.uppercased()) 00ff".utf8))?.secret == [0x00, 0xFF])
    }

    @Test("other lines and malformed ones are ignored", arguments: [
        "CLIENT_TRAFFIC_SECRET_0 \(String(repeating: "ab", count: 32)) 00ff",
        "CLIENT_RANDOM \(String(repeating: "ab", count: 32)) 00ff",
        "EXPORTER_SECRET \(String(repeating: "ab", count: 31)) 00ff",
        "EXPORTER_SECRET \(String(repeating: "ab", count: 32)) 0ff",
        "EXPORTER_SECRET \(String(repeating: "ab", count: 32)) 00fg",
        "EXPORTER_SECRET \(String(repeating: "ab", count: 32))",
        "EXPORTER_SECRET \(String(repeating: "ab", count: 32)) ",
        "EXPORTER_SECRET \(String(repeating: "ab", count: 32)) 00ff extra",
        "",
    ])
    func ignoredLines(_ line: String) {
        #expect(TLSExporterSecretLine(Array(line.utf8)) == nil)
    }
}
