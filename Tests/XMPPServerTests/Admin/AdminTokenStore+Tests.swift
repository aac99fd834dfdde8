import Foundation
import Testing
import XMPPStorage

@testable import XMPPServer

@Suite("Admin API tokens: stored hashed, scoped, expiring, revocable")
struct AdminTokenStoreTests {
    let store = AdminTokenStore(backend: InMemoryStorage())

    @Test("a created token checks out with its scope; the stored document holds its digest, not its secret")
    func createAndCheck() async throws {
        let documents = InMemoryStorage().moduleData
        let store = AdminTokenStore(documents)
        let (token, record) = try await store.create(scope: .write, label: "deploy", lifetime: 3_600)
        #expect(try await store.check(token.description) == .success(record))
        #expect(record.scope == .write && record.label == "deploy")
        let stored = try await documents.transaction(module: "admin-api") { try $0.document("tokens", key: token.id)?.value }
        let secret = try #require(token.description.split(separator: "_").last)
        #expect(stored?.contains(String(secret)) == false)
        #expect(stored?.contains(record.secretDigest) == true)
    }

    @Test("a wrong secret, an unknown id and malformed text are all just invalid")
    func invalid() async throws {
        let (token, _) = try await self.store.create(scope: .read, label: "", lifetime: 3_600)
        let other = AdminToken.generate()
        let wrongSecret = "sta_\(token.id)_\(String(other.description.split(separator: "_")[2]))"
        for presented in [wrongSecret, other.description, "", "sta_", "Bearer x", "sta_\(token.id)", token.description.uppercased(), token.description + "0"] {
            #expect(try await self.store.check(presented) == .failure(.invalid), "\(presented)")
        }
    }

    @Test("a token past its lifetime is expired; a revoked one is invalid")
    func expiryAndRevocation() async throws {
        let start = Date()
        let (token, record) = try await self.store.create(scope: .read, label: "", lifetime: 60, now: start)
        #expect(try await self.store.check(token.description, now: start.addingTimeInterval(59)) == .success(record))
        #expect(try await self.store.check(token.description, now: start.addingTimeInterval(60)) == .failure(.expired))
        #expect(try await self.store.list().map(\.id) == [token.id])
        #expect(try await self.store.revoke(id: token.id))
        #expect(try await !self.store.revoke(id: token.id))
        #expect(try await self.store.check(token.description, now: start) == .failure(.invalid))
        #expect(try await self.store.list().isEmpty)
    }

    @Test("write implies read")
    func scopes() {
        #expect(AdminScope.read < .write)
        #expect(!(AdminScope.write < .read))
    }
}
