import NIOCore
import Testing
import XMPPSASL
@testable import XMPPServer

private let secret = [UInt8](repeating: 7, count: 32)

private func line(_ random: [UInt8], label: String = "EXPORTER_SECRET", secret: [UInt8] = secret) -> ByteBuffer {
    let hex = { (bytes: [UInt8]) in bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
    return ByteBuffer(string: "\(label) \(hex(random)) \(hex(secret))\n")
}

@Suite("tls-exporter table")
struct TLSExporterTableTests {
    let first = [UInt8](repeating: 1, count: 32)
    let second = [UInt8](repeating: 2, count: 32)

    @Test("a registered connection gets the binding derived from its own secret, once")
    func registered() {
        let table = TLSExporterTable()
        #expect(table.register(clientRandom: self.first))
        #expect(table.register(clientRandom: self.second))
        table.keyLogged(line(self.first, label: "CLIENT_TRAFFIC_SECRET_0"))
        table.keyLogged(line(self.first))
        #expect(table.take(clientRandom: self.first) == TLSExporter.channelBinding(exporterSecret: secret))
        #expect(table.take(clientRandom: self.first) == nil)
        // No line for the second (TLS 1.2): no binding, and nothing left behind.
        #expect(table.take(clientRandom: self.second) == nil)
        #expect(table.pendingCount == 0)
    }

    @Test("lines for randoms nobody registered are dropped")
    func unregistered() {
        let table = TLSExporterTable()
        table.keyLogged(line(self.first))
        #expect(table.pendingCount == 0)
        #expect(table.register(clientRandom: self.first))
        #expect(table.take(clientRandom: self.first) == nil)
    }

    @Test("two connections with one random both go without a binding")
    func duplicateRandom() {
        let table = TLSExporterTable()
        #expect(table.register(clientRandom: self.first))
        #expect(!table.register(clientRandom: self.first))
        table.keyLogged(line(self.first))
        #expect(table.take(clientRandom: self.first) == nil)
        #expect(table.pendingCount == 0)

        // A second secret for one registered random (the other handshake registered too late).
        #expect(table.register(clientRandom: self.second))
        table.keyLogged(line(self.second))
        table.keyLogged(line(self.second, secret: [UInt8](repeating: 9, count: 32)))
        #expect(table.take(clientRandom: self.second) == nil)
    }

    @Test("a connection closed before its handshake completed leaves nothing behind")
    func cancelled() {
        let table = TLSExporterTable()
        #expect(table.register(clientRandom: self.first))
        table.cancel(clientRandom: self.first)
        table.keyLogged(line(self.first))
        #expect(table.pendingCount == 0)
    }
}
