import Testing
@testable import XMPPServerModules

@Suite("Upload file names, paths and HTTP rules")
struct UploadFilenameTests {
    @Test(
        "names are cleaned of separators, dot prefixes, controls and direction overrides",
        arguments: [
            ("photo.jpg", "photo.jpg"),
            ("../../etc/passwd", "etc_passwd"),
            ("..\\..\\boot.ini", "boot.ini"),
            (".htaccess", "htaccess"),
            ("my file?.pdf", "my_file_.pdf"),
            ("gpj\u{202E}.exe", "gpj_.exe"),
            ("Übersicht.txt", "Übersicht.txt"),
            ("a%2Fb.txt", "a_2Fb.txt"),
            ("trailing...", "trailing"),
        ])
    func sanitized(_ requested: String, _ expected: String) {
        #expect(UploadFilename.sanitized(requested) == expected)
    }

    @Test("empty names, names that clean to nothing and names with control characters are refused")
    func refused() {
        for bad in ["", "...", "/", "a\nb.txt", "a\u{0}b", "\u{7F}"] {
            #expect(UploadFilename.sanitized(bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test("long names are cut on a character boundary and keep their extension")
    func long() throws {
        let name = String(repeating: "é", count: 300) + ".jpeg"
        let cut = try #require(UploadFilename.sanitized(name))
        #expect(cut.utf8.count <= UploadFilename.maxBytes)
        #expect(cut.hasSuffix(".jpeg"))
        #expect(cut.hasPrefix("éé"))
    }

    @Test("a name round-trips through its URL segment; encoded separators and bad escapes do not decode")
    func segments() {
        for name in ["photo.jpg", "Übersicht 2024.txt", "a~b-c_d.e", "100%.png"] {
            let segment = UploadFilename.pathSegment(name)
            #expect(segment.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "/") })
            #expect(UploadFilename.decodeSegment(Substring(segment)) == name)
        }
        #expect(UploadFilename.pathSegment("Ü b") == "%C3%9C%20b")
        for bad in ["a%2Fb", "a%2fb", "a%5Cb", "a%00b", "a%zz", "a%4", "%C3"] {
            #expect(UploadFilename.decodeSegment(Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test("paths: a slot and a name, else 400 for separators, dot segments and extra parts, 404 for no slot id")
    func paths() {
        let slot = "0123456789abcdef0123456789abcdef"
        let prefix = "/upload/"
        #expect(UploadHTTPRules.parsePath("/upload/\(slot)/a%20b.txt", prefix: prefix) == .slot(id: slot, filename: "a b.txt"))
        #expect(UploadHTTPRules.parsePath("/upload/\(slot)/..%2F..%2Fetc%2Fpasswd", prefix: prefix) == .badRequest)
        #expect(UploadHTTPRules.parsePath("/upload/\(slot)%2Fa.txt", prefix: prefix) == .badRequest)
        #expect(UploadHTTPRules.parsePath("/upload/../\(slot)/a.txt", prefix: prefix) == .badRequest)
        #expect(UploadHTTPRules.parsePath("/upload/\(slot)/../a.txt", prefix: prefix) == .badRequest)
        #expect(UploadHTTPRules.parsePath("/upload/\(slot)/%2e%2e", prefix: prefix) == .badRequest)
        #expect(UploadHTTPRules.parsePath("/upload/\(slot)/a/b.txt", prefix: prefix) == .badRequest)
        #expect(UploadHTTPRules.parsePath("/upload/\(slot)/a%5Cb.txt", prefix: prefix) == .badRequest)
        #expect(UploadHTTPRules.parsePath("/upload/\(slot.uppercased())/a.txt", prefix: prefix) == .notFound)
        #expect(UploadHTTPRules.parsePath("/upload/\(slot)", prefix: prefix) == .notFound)
        #expect(UploadHTTPRules.parsePath("/upload/", prefix: prefix) == .notFound)
    }

    @Test("content types are normalised; malformed ones refused; only images, audio and video are inline")
    func contentTypes() {
        #expect(UploadHTTPRules.normalizedContentType("Image/JPEG") == "image/jpeg")
        #expect(UploadHTTPRules.normalizedContentType("text/plain; Charset=utf-8") == "text/plain;charset=utf-8")
        for bad in ["", "image", "image/", "/jpeg", "text/html\r\nX-Evil: 1", "a b/c", "image/jpeg; =x"] {
            #expect(UploadHTTPRules.normalizedContentType(bad) == nil, "\(bad.debugDescription)")
        }
        for inline in ["image/png", "image/jpeg", "audio/ogg", "video/mp4"] { #expect(UploadHTTPRules.isInline(inline)) }
        for attachment in ["text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/javascript", "application/pdf", "text/plain"] {
            #expect(!UploadHTTPRules.isInline(attachment), "\(attachment)")
        }
        #expect(UploadHTTPRules.contentDisposition(filename: "Ü.html", contentType: "text/html") == "attachment; filename=\"_.html\"; filename*=UTF-8''%C3%9C.html")
    }

    @Test("ranges: one range, a suffix, open ends; several or malformed ones mean the whole file; past the end is 416")
    func ranges() {
        #expect(UploadHTTPRules.range(nil, size: 100) == .whole)
        #expect(UploadHTTPRules.range("bytes=0-9", size: 100) == .partial(first: 0, last: 9))
        #expect(UploadHTTPRules.range("bytes=90-", size: 100) == .partial(first: 90, last: 99))
        #expect(UploadHTTPRules.range("bytes=90-1000", size: 100) == .partial(first: 90, last: 99))
        #expect(UploadHTTPRules.range("bytes=-10", size: 100) == .partial(first: 90, last: 99))
        #expect(UploadHTTPRules.range("bytes=-1000", size: 100) == .partial(first: 0, last: 99))
        #expect(UploadHTTPRules.range("bytes=100-", size: 100) == .unsatisfiable)
        #expect(UploadHTTPRules.range("bytes=-0", size: 100) == .unsatisfiable)
        #expect(UploadHTTPRules.range("bytes=0-", size: 0) == .unsatisfiable)
        #expect(UploadHTTPRules.range("bytes=0-1,5-6", size: 100) == .whole)
        #expect(UploadHTTPRules.range("bytes=9-1", size: 100) == .whole)
        #expect(UploadHTTPRules.range("items=0-1", size: 100) == .whole)
        #expect(UploadHTTPRules.range("bytes=a-b", size: 100) == .whole)
        #expect(UploadHTTPRules.range("bytes=99999999999999999999999-", size: 100) == .unsatisfiable)
    }
}
