import Testing
import XMPPSASL

@Suite("Random bytes for nonces, salts and stream IDs")
struct SASLRandomTests {
    @Test("gives exactly the bytes asked for", arguments: [0, 1, 7, 8, 9, 12, 16, 18, 33])
    func length(_ count: Int) {
        #expect(SASLRandom.bytes(count).count == count)
    }

    @Test("two draws differ, and every byte position varies")
    func varies() {
        let draws = (0..<64).map { _ in SASLRandom.bytes(12) }
        #expect(Set(draws).count == draws.count)
        // A position stuck at one value (a bug in slicing the 8-byte draws) shows up here.
        for position in 0..<12 {
            #expect(Set(draws.map { $0[position] }).count > 8)
        }
    }
}
