import Foundation
import Testing
@testable import XMPPServerModules

@Suite("Upload URL signatures (HMAC-SHA256 over slot, name, size, type and expiry)")
struct UploadSignerTests {
    let signer = UploadSigner(secret: Array(repeating: 7, count: 32))
    let slot = "0123456789abcdef0123456789abcdef"
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test("a PUT signature verifies for exactly the values it was made for, until it expires")
    func put() {
        let expires = 1_700_000_300
        let signature = self.signer.putSignature(slot: self.slot, filename: "a.jpg", size: 10, contentType: "image/jpeg", expires: expires)
        #expect(self.signer.verifyPut(signature, slot: self.slot, filename: "a.jpg", size: 10, contentType: "image/jpeg", expires: expires, now: self.now) == .valid)
        // Any other value is another slot.
        #expect(self.signer.verifyPut(signature, slot: self.slot, filename: "a.jpg", size: 11, contentType: "image/jpeg", expires: expires, now: self.now) == .invalid)
        #expect(self.signer.verifyPut(signature, slot: self.slot, filename: "b.jpg", size: 10, contentType: "image/jpeg", expires: expires, now: self.now) == .invalid)
        #expect(self.signer.verifyPut(signature, slot: self.slot, filename: "a.jpg", size: 10, contentType: "text/html", expires: expires, now: self.now) == .invalid)
        #expect(
            self.signer.verifyPut(signature, slot: "f" + self.slot.dropFirst(), filename: "a.jpg", size: 10, contentType: "image/jpeg", expires: expires, now: self.now)
                == .invalid)
        // A later expiry written into the URL is not ours.
        #expect(self.signer.verifyPut(signature, slot: self.slot, filename: "a.jpg", size: 10, contentType: "image/jpeg", expires: expires + 1, now: self.now) == .invalid)
        // The real one, too late.
        let later = self.now.addingTimeInterval(301)
        #expect(self.signer.verifyPut(signature, slot: self.slot, filename: "a.jpg", size: 10, contentType: "image/jpeg", expires: expires, now: later) == .expired)
    }

    @Test("fields are length-prefixed: moving a boundary between two fields changes the signature")
    func unambiguous() {
        let one = self.signer.putSignature(slot: self.slot, filename: "a1", size: 23, contentType: "x/y", expires: 5)
        let two = self.signer.putSignature(slot: self.slot, filename: "a", size: 123, contentType: "x/y", expires: 5)
        #expect(one != two)
    }

    @Test("GET and PUT signatures differ; another secret, a truncated or malformed signature is refused")
    func getAndForgeries() {
        let get = self.signer.getSignature(slot: self.slot, filename: "a.jpg")
        #expect(self.signer.verifyGet(get, slot: self.slot, filename: "a.jpg") == .valid)
        #expect(self.signer.verifyGet(get, slot: self.slot, filename: "a.png") == .invalid)
        let other = UploadSigner(secret: Array(repeating: 8, count: 32))
        #expect(other.verifyGet(get, slot: self.slot, filename: "a.jpg") == .invalid)
        #expect(self.signer.verifyGet(String(get.dropLast(2)), slot: self.slot, filename: "a.jpg") == .invalid)
        #expect(self.signer.verifyGet(get + "==", slot: self.slot, filename: "a.jpg") == .invalid)
        #expect(self.signer.verifyGet("", slot: self.slot, filename: "a.jpg") == .invalid)
        #expect(self.signer.verifyGet("%2F" + get, slot: self.slot, filename: "a.jpg") == .invalid)
        let put = self.signer.putSignature(slot: self.slot, filename: "a.jpg", size: 0, contentType: "a/b", expires: 0)
        #expect(put != get)
        // URL-safe: nothing to escape in a query.
        #expect(get.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    @Test("slot ids are 32 lower-case hex digits, fresh each time, and nothing else passes as one")
    func slotIDs() {
        let ids = (0..<100).map { _ in UploadSlotID.make() }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy(UploadSlotID.isValid))
        for bad in ["", "..", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdeg", "../../../../etc/passwd0123456789a"] {
            #expect(!UploadSlotID.isValid(bad), "\(bad)")
        }
        let files = UploadFiles(root: "/srv/upload")
        #expect(files.directory("..") == nil)
        #expect(files.contentPath(self.slot) == "/srv/upload/\(self.slot)/content")
    }
}
