import Testing
import XMPPCore

@Suite("Base16")
struct Base16Tests {
    @Test("lower-case hex, two digits a byte, leading zeros kept (RFC 4648 §10 vectors)")
    func vectors() {
        #expect(Base16.encode([UInt8]()) == "")
        #expect(Base16.encode(Array("foobar".utf8)) == "666f6f626172")
        #expect(Base16.encode([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
    }
}
