import Testing

@testable import XMPPCore

@Suite struct JIDFastPathTests {
    @Test func agreesWithFullPreparationOnEveryAddressItAccepts() {
        var samples = [
            "juliet@capulet.example/balcony", "romeo@montague.example", "capulet.example", "a.b-c_d+e@x1.example/Res Source",
            "user!#$%*=?^`{|}~@example.com/r", "a@b/c@d/e", "x@xn--bcher-kva.example", "x@-bad.example", "x@bad-.example",
            "x@a..b", "@example.com", "x@", "x@example.com/", "Juliet@example.com", "x\"y@example.com", "x@Example.com",
            "x@1.2.3.4", "x@[::1]", "x@example.com.", "x@éxample.com", "x@example.com/ ", "x@example.com/\u{7F}",
        ]
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab@/.-_Z9 xn\"'&:<>!~".utf8)
        for _ in 0..<5000 {
            let length = Int.random(in: 1...14, using: &generator)
            samples.append(String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &generator) ?? 97 }, as: UTF8.self))
        }
        var fastPathUsed = 0
        for sample in samples {
            guard let fast = JID.alreadyPreparedASCII(sample) else { continue }
            fastPathUsed += 1
            let slow = try? JID(preparing: sample)
            #expect(slow == fast, "\(sample)")
            #expect(slow?.localpart == fast.localpart && slow?.resourcepart == fast.resourcepart && slow?.domainpart == fast.domainpart)
        }
        #expect(fastPathUsed > 100)
        #expect(JID.alreadyPreparedASCII("x@xn--bcher-kva.example") == nil)
        #expect(JID.alreadyPreparedASCII("Juliet@example.com") == nil)
        #expect((try? JID("Juliet@Example.com"))?.description == "juliet@example.com")
    }
}
