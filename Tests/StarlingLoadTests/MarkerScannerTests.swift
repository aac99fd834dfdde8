import Testing

@testable import StarlingLoad

@Suite struct MarkerScannerTests {
    private func scan(_ pieces: [String]) -> (markers: [MarkerScanner.Marker], ended: Bool) {
        var scanner = MarkerScanner()
        var found: [MarkerScanner.Marker] = []
        for piece in pieces {
            Array(piece.utf8).withUnsafeBytes { scanner.scan($0) { found.append($0) } }
        }
        return (found, scanner.sawStreamEnd)
    }

    @Test func findsMarkersHoweverTheBytesAreSplit() {
        let text =
            "<message from='a@x/r' type='chat'><body>\(MarkerScanner.marker(sentAt: 1_234_567_890_123, sender: 42))</body></message>"
            + "<presence><status>\(MarkerScanner.marker(sentAt: 7, sender: 0))</status></presence>"
        let expected = [MarkerScanner.Marker(sentAt: 1_234_567_890_123, sender: 42), MarkerScanner.Marker(sentAt: 7, sender: 0)]
        let characters = Array(text)
        for split in 0...characters.count {
            let result = self.scan([String(characters[..<split]), String(characters[split...])])
            #expect(result.markers == expected, "split at \(split)")
            #expect(!result.ended)
        }
    }

    @Test func ignoresTextThatOnlyLooksLikeAMarker() {
        let result = self.scan(["<body>~LT~ ~LT12~ ~LTabc.1~ ~L ~T5.5~ 100~</body>"])
        #expect(result.markers.isEmpty)
    }

    @Test func noticesTheEndOfTheStream() {
        #expect(self.scan(["<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"]).ended)
        #expect(self.scan(["</stream:str", "eam>"]).ended == false)  // a cut tag is not looked for across reads
        #expect(self.scan(["</stream:stream>"]).ended)
    }
}
