import Testing
import XMPPCore

@Suite("Base64 URL")
struct Base64URLTests {
    @Test("base64url: the URL-safe alphabet and no padding (RFC 4648 §5)")
    func urlAlphabet() {
        #expect(Base64.encodeURL([UInt8]()) == "")
        #expect(Base64.encodeURL(Array("foob".utf8)) == "Zm9vYg")
        // 0xFB 0xFF is "+/8=" in the standard alphabet.
        #expect(Base64.encodeURL([0xFB, 0xFF]) == "-_8")
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
    }
}
