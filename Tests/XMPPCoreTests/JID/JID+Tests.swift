import Testing
@testable import XMPPCore

@Suite("JID (RFC 7622)")
struct JIDTests {
    /// RFC 7622 §3.5, valid examples, with the prepared form each must take.
    @Test("valid addresses of RFC 7622 §3.5", arguments: [
        ("juliet@example.com", "juliet@example.com"),
        ("juliet@example.com/foo", "juliet@example.com/foo"),
        ("juliet@example.com/foo bar", "juliet@example.com/foo bar"),
        ("juliet@example.com/foo@bar", "juliet@example.com/foo@bar"),
        ("foo\\20bar@example.com", "foo\\20bar@example.com"),
        ("fussball@example.com", "fussball@example.com"),
        ("fußball@example.com", "fußball@example.com"),
        ("π@example.com", "π@example.com"),
        ("Σ@example.com/foo", "σ@example.com/foo"),
        ("σ@example.com/foo", "σ@example.com/foo"),
        ("ς@example.com/foo", "ς@example.com/foo"),
        ("king@example.com/♚", "king@example.com/♚"),
        ("example.com", "example.com"),
        ("example.com/foobar", "example.com/foobar"),
        ("a.example.com/b@example.net", "a.example.com/b@example.net"),
    ])
    func valid(_ input: String, _ prepared: String) throws {
        #expect(try JID(input).description == prepared)
    }

    /// Deliberate deviation from RFC 7622 §3.5, which lists `juliet@example.com/ foo` among the
    /// invalid examples ("a leading space character"). No rule of the RFC forbids it: the
    /// resourcepart is an OpaqueString (RFC 8265 §4.2), which allows spaces anywhere, and other
    /// implementations accept it. A server that refused an address its peers hold valid would
    /// lose their stanzas, so Starling accepts it and keeps the space.
    @Test("deviation: a resourcepart with a leading space is accepted (RFC 7622 §3.5 lists it as invalid)")
    func leadingSpaceInResource() throws {
        let jid = try JID("juliet@example.com/ foo")
        #expect(jid.resourcepart == " foo")
        #expect(jid.description == "juliet@example.com/ foo")
    }

    @Test("invalid addresses of RFC 7622 §3.5", arguments: [
        "\"juliet\"@example.com",
        "foo bar@example.com",
        "@example.com/",
        "henryⅣ@example.com",
        "♚@example.com",
        "juliet@",
        "/foobar",
        "juliet@example.com/",
        "",
    ])
    func invalid(_ input: String) {
        #expect(throws: JIDError.self) { try JID(input) }
    }

    @Test("comparison is on prepared forms")
    func preparedComparison() throws {
        #expect(try JID("Juliet@Example.COM/Balcony") == JID("juliet@example.com/Balcony"))
        #expect(try JID("juliet@example.com/Balcony") != JID("juliet@example.com/balcony"))
        #expect(try JID("ｊｕｌｉｅｔ@example.com") == JID("juliet@example.com"))
        #expect(try JID("juliet@example.com.") == JID("juliet@example.com"))
        #expect(try Set([JID("A@b.c"), JID("a@B.C")]).count == 1)
    }

    @Test("domainparts go through IDNA2008 to U-labels")
    func internationalDomains() throws {
        #expect(try JID("user@xn--mnchen-3ya.de").domainpart == "münchen.de")
        #expect(try JID("user@MÜNCHEN.DE").domainpart == "münchen.de")
        #expect(try JID("user@[::1]").domainpart == "[::1]")
        #expect(try JID("user@127.0.0.1").domainpart == "127.0.0.1")
        #expect(throws: JIDError.self) { try JID("user@exa mple.com") }
        #expect(throws: JIDError.self) { try JID("user@-example.com") }
        #expect(throws: JIDError.self) { try JID("user@" + String(repeating: "a", count: 64) + ".com") }
    }

    @Test("LDH domain rules: labels 1-63 bytes, no outer hyphens, 253 bytes in all", arguments: [
        "x@a..b", "x@.example", "x@bad-.example", "x@-bad.example", "x@example-", "x@ex_ample.com",
        "x@" + String(repeating: "a", count: 64) + ".com",
        // 254 bytes.
        "x@" + [String(repeating: "a", count: 63), String(repeating: "b", count: 63), String(repeating: "c", count: 63), String(repeating: "d", count: 58)].joined(separator: ".") + ".com",
    ])
    func invalidLDHDomains(_ input: String) {
        #expect(throws: JIDError.self) { try JID(input) }
    }

    @Test("LDH domains at the limits are kept as they are")
    func ldhDomainLimits() throws {
        let longestLabel = String(repeating: "a", count: 63) + ".com"
        #expect(try JID("x@" + longestLabel).domainpart == longestLabel)
        let longest = [String(repeating: "a", count: 63), String(repeating: "b", count: 63), String(repeating: "c", count: 63), String(repeating: "d", count: 57)].joined(separator: ".") + ".com"
        #expect(longest.utf8.count == 253)
        #expect(try JID("x@" + longest).domainpart == longest)
        #expect(try JID("x@a-b--c.example").domainpart == "a-b--c.example")
        #expect(try JID("x@axn--b.example").domainpart == "axn--b.example")
        #expect(try JID("x@XN--MNCHEN-3YA.de").domainpart == "münchen.de")
    }

    @Test("each part is limited to 1023 octets")
    func lengthLimits() throws {
        #expect(throws: JIDError.self) { try JID(String(repeating: "a", count: 1024) + "@example.com") }
        #expect(throws: JIDError.self) { try JID("a@example.com/" + String(repeating: "r", count: 1024)) }
        #expect(try JID(String(repeating: "a", count: 1023) + "@example.com").localpart?.utf8.count == 1023)
    }

    @Test("Unicode edge cases")
    func unicodeEdges() throws {
        // Combining sequences are composed (NFC).
        #expect(try JID("e\u{0301}@example.com") == JID("\u{00E9}@example.com"))
        // Control characters, unassigned code points and zero-width joiners out of context are refused.
        #expect(throws: JIDError.self) { try JID("a\u{0007}b@example.com") }
        #expect(throws: JIDError.self) { try JID("a\u{200D}b@example.com") }
        #expect(throws: JIDError.self) { try JID("a@example.com/x\u{0000}y") }
        #expect(throws: JIDError.self) { try JID("\u{E0001}@example.com") }
        // Right-to-left localparts must satisfy the Bidi Rule.
        #expect(try JID("שלום@example.com").localpart == "שלום")
        #expect(throws: JIDError.self) { try JID("שלוםabc@example.com") }
        // Non-ASCII spaces in a resource become U+0020.
        #expect(try JID("a@example.com/x\u{3000}y").resourcepart == "x y")
        // Middle dot is allowed only between two l (Catalan).
        #expect(try JID("col\u{00B7}lega@example.com").localpart == "col\u{00B7}lega")
        #expect(throws: JIDError.self) { try JID("a\u{00B7}b@example.com") }
        #expect(throws: JIDError.self) { try JID("a<b@example.com") }
    }

    @Test("usernames that differ under nodeprep or look like others are caught")
    func usernamePolicy() throws {
        #expect(try UsernamePolicy.validate("Alice") == "alice")
        #expect(throws: UsernamePolicy.Problem.self) { try UsernamePolicy.validate("ß-user") }
        #expect(UsernamePolicy.confusableSkeleton("alice") == UsernamePolicy.confusableSkeleton("\u{0430}lice"))
        #expect(UsernamePolicy.confusableSkeleton("paypal") == UsernamePolicy.confusableSkeleton("p\u{0430}yp\u{0430}l"))
        #expect(UsernamePolicy.confusableSkeleton("alice") != UsernamePolicy.confusableSkeleton("bob"))
    }
}

@Suite("Base64")
struct Base64Tests {
    @Test("RFC 4648 test vectors")
    func vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test("non-canonical input is refused")
    func strictness() {
        #expect(Base64.decode("Zg") == nil)
        #expect(Base64.decode("Zh==") == nil)
        #expect(Base64.decode("Z g==") == nil)
        #expect(Base64.decode("Zm9v!") == nil)
        #expect(Base64.decode("=Zm9") == nil)
    }
}
