import Testing
import XMPPCore
@testable import XMPPSASL

private struct Vector: Sendable, CustomStringConvertible {
    var mechanism: SASLMechanismName
    var clientNonce: String
    var serverNonce: String
    var salt: String
    var clientFirst: String
    var serverFirst: String
    var clientFinal: String
    var serverFinal: String
    var description: String { self.mechanism.rawValue }
}

/// RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3 (SCRAM-SHA-256): user "user", password "pencil".
private let vectors = [
    Vector(
        mechanism: .scramSHA1,
        clientNonce: "fyko+d2lbbFgONRv9qkxdawL",
        serverNonce: "3rfcNHYJY1ZVvWVs7j",
        salt: "QSXCR+Q6sek8bf92",
        clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
        serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="
    ),
    Vector(
        mechanism: .scramSHA256,
        clientNonce: "rOprNGfwEbeRWgbNEkqO",
        serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
        clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
        serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    ),
]

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("SCRAM")
struct SCRAMTests {
    @Test("the client produces the RFC messages", arguments: vectors)
    fileprivate func clientVectors(_ vector: Vector) throws {
        let hash = try #require(vector.mechanism.scramHash)
        var client = SCRAMClient(hash: hash, username: "user", password: "pencil", clientNonce: vector.clientNonce)
        #expect(client.clientFirstMessage() == bytes(vector.clientFirst))
        #expect(try client.receivedServerFirst(bytes(vector.serverFirst)) == bytes(vector.clientFinal))
        try client.receivedServerFinal(bytes(vector.serverFinal))
    }

    @Test("the server produces the RFC messages and accepts the proof", arguments: vectors)
    fileprivate func serverVectors(_ vector: Vector) throws {
        let hash = try #require(vector.mechanism.scramHash)
        let credentials = try SCRAMCredentials.derive(password: "pencil", hash: hash, salt: Base64.decode(vector.salt), iterations: 4096)
        var server = SCRAMServer(mechanism: vector.mechanism, channelBinding: .none, serverNonce: vector.serverNonce)
        #expect(server.receivedClientFirst(bytes(vector.clientFirst)) == .fetchCredentials(username: "user"))
        #expect(server.credentialsFetched(credentials) == .challenge(bytes(vector.serverFirst)))
        #expect(server.receivedClientFinal(bytes(vector.clientFinal)) == .succeed(additionalData: bytes(vector.serverFinal), username: "user", authzid: nil))
    }

    @Test("a wrong password fails with not-authorized", arguments: [SCRAMHash.sha1, .sha256, .sha512])
    func wrongPassword(_ hash: SCRAMHash) throws {
        let mechanism: SASLMechanismName = hash == .sha1 ? .scramSHA1 : hash == .sha256 ? .scramSHA256 : .scramSHA512
        let stored = try SCRAMCredentials.derive(password: "correct horse", hash: hash)
        var client = SCRAMClient(hash: hash, username: "alice", password: "battery staple")
        var server = SCRAMServer(mechanism: mechanism, channelBinding: .none)
        _ = server.receivedClientFirst(client.clientFirstMessage())
        guard case .challenge(let challenge) = server.credentialsFetched(stored) else {
            Issue.record("no challenge")
            return
        }
        #expect(server.receivedClientFinal(try client.receivedServerFirst(challenge)) == .fail(.notAuthorized))
    }

    @Test("SCRAM-SHA-512 and the -PLUS variants complete between our client and server", arguments: SASLMechanismName.allCases.filter { $0 != .plain })
    func roundTrip(_ mechanism: SASLMechanismName) throws {
        let hash = try #require(mechanism.scramHash)
        let bindingData: [UInt8] = Array(repeating: 7, count: 32)
        let context = ChannelBindingContext(available: [.tlsServerEndPoint: bindingData], plusAdvertised: true)
        let stored = try SCRAMCredentials.derive(password: "pässwörd", hash: hash)
        var client = SCRAMClient(
            hash: hash, username: "alice", password: "pässwörd",
            binding: mechanism.usesChannelBinding ? .bound(.tlsServerEndPoint, bindingData) : .unsupported)
        var server = SCRAMServer(mechanism: mechanism, channelBinding: context)
        #expect(server.receivedClientFirst(client.clientFirstMessage()) == .fetchCredentials(username: "alice"))
        guard case .challenge(let challenge) = server.credentialsFetched(stored) else {
            Issue.record("no challenge")
            return
        }
        guard case .succeed(let final, "alice", nil) = server.receivedClientFinal(try client.receivedServerFirst(challenge)) else {
            Issue.record("no success")
            return
        }
        try client.receivedServerFinal(final)
    }

    @Test("tls-exporter binding (RFC 9266) completes when the TLS layer supplies the keying material")
    func tlsExporterBinding() throws {
        let exporter: [UInt8] = (0..<32).map { UInt8($0) }
        let context = ChannelBindingContext(available: [.tlsExporter: exporter, .tlsServerEndPoint: [1]], plusAdvertised: true)
        let stored = try SCRAMCredentials.derive(password: "pw", hash: .sha512)
        var client = SCRAMClient(hash: .sha512, username: "alice", password: "pw", binding: .bound(.tlsExporter, exporter))
        var server = SCRAMServer(mechanism: .scramSHA512Plus, channelBinding: context)
        #expect(server.receivedClientFirst(client.clientFirstMessage()) == .fetchCredentials(username: "alice"))
        guard case .challenge(let challenge) = server.credentialsFetched(stored),
            case .succeed(let final, _, _) = server.receivedClientFinal(try client.receivedServerFirst(challenge))
        else {
            Issue.record("tls-exporter binding did not complete")
            return
        }
        try client.receivedServerFinal(final)
    }

    @Test("channel binding data that does not match fails")
    func bindingMismatch() throws {
        let context = ChannelBindingContext(available: [.tlsServerEndPoint: [1, 2, 3]], plusAdvertised: true)
        let stored = try SCRAMCredentials.derive(password: "pw", hash: .sha256)
        var client = SCRAMClient(hash: .sha256, username: "alice", password: "pw", binding: .bound(.tlsServerEndPoint, [9, 9, 9]))
        var server = SCRAMServer(mechanism: .scramSHA256Plus, channelBinding: context)
        _ = server.receivedClientFirst(client.clientFirstMessage())
        let challenge = try #require(server.credentialsFetched(stored).challenge)
        #expect(server.receivedClientFinal(try client.receivedServerFirst(challenge)) == .fail(.notAuthorized))
    }

    @Test("'y' when -PLUS was offered is a downgrade and fails")
    func downgradeDetected() {
        var server = SCRAMServer(mechanism: .scramSHA256, channelBinding: ChannelBindingContext(available: [.tlsServerEndPoint: [1]], plusAdvertised: true))
        #expect(server.receivedClientFirst(bytes("y,,n=alice,r=abc")) == .fail(.notAuthorized))
        var unoffered = SCRAMServer(mechanism: .scramSHA256, channelBinding: .none)
        #expect(unoffered.receivedClientFirst(bytes("y,,n=alice,r=abc")) == .fetchCredentials(username: "alice"))
    }

    @Test("an unsupported channel binding type fails")
    func unsupportedBindingType() {
        var server = SCRAMServer(mechanism: .scramSHA256Plus, channelBinding: ChannelBindingContext(available: [.tlsServerEndPoint: [1]], plusAdvertised: true))
        #expect(server.receivedClientFirst(bytes("p=tls-unique,,n=alice,r=abc")) == .fail(.notAuthorized))
    }

    @Test("malformed messages get malformed-request", arguments: [
        "", "x,,n=a,r=b", "n,,r=b", "n,,n=,r=b", "n,,n=a,r=", "n,,n=a=ZZ,r=b", "n,,n=a,r=b,m=ext", "p=tls-server-end-point,,n=a,r=b", "n,a,n=a,r=b",
    ])
    func malformedClientFirst(_ message: String) {
        var server = SCRAMServer(mechanism: .scramSHA256, channelBinding: .none)
        #expect(server.receivedClientFirst(bytes(message)) == .fail(.malformedRequest))
    }

    @Test("an unknown user is told the same as a wrong password")
    func unknownUser() throws {
        var client = SCRAMClient(hash: .sha256, username: "ghost", password: "pw")
        var server = SCRAMServer(mechanism: .scramSHA256, channelBinding: .none)
        _ = server.receivedClientFirst(client.clientFirstMessage())
        guard case .challenge(let challenge) = server.credentialsFetched(nil) else {
            Issue.record("an unknown user must still get a challenge")
            return
        }
        #expect(server.receivedClientFinal(try client.receivedServerFirst(challenge)) == .fail(.notAuthorized))
    }

    @Test("the client refuses a server signature that does not match")
    func forgedServerSignature() throws {
        let vector = vectors[1]
        var client = SCRAMClient(hash: .sha256, username: "user", password: "pencil", clientNonce: vector.clientNonce)
        _ = client.clientFirstMessage()
        _ = try client.receivedServerFirst(bytes(vector.serverFirst))
        #expect(throws: SCRAMClient.ClientError.serverSignatureMismatch) {
            try client.receivedServerFinal(bytes("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
        }
    }

    @Test("fuzz regression: a server demanding 409 million iterations is refused, not obeyed")
    func absurdIterationCount() {
        var client = SCRAMClient(hash: .sha1, username: "user", password: "pencil", clientNonce: "n", minimumIterations: 1)
        _ = client.clientFirstMessage()
        #expect(throws: SCRAMClient.ClientError.iterationCountTooHigh(409_224_092)) {
            try client.receivedServerFirst(bytes("r=nfuzz,s=QSXCR+Q6sek8bf92,i=409224092"))
        }
    }

    @Test("saslnames are escaped and unescaped")
    func saslNames() {
        #expect(SCRAMServer.encodeSASLName("a,b=c") == "a=2Cb=3Dc")
        #expect(SCRAMServer.decodeSASLName("a=2Cb=3Dc") == "a,b=c")
        #expect(SCRAMServer.decodeSASLName("a=2") == nil)
    }

    @Test("stored credentials verify PLAIN passwords without keeping them")
    func plainVerification() throws {
        let stored = try SCRAMCredentials.derive(password: "s3cret", hash: .sha256)
        #expect(stored.verify(password: "s3cret"))
        #expect(!stored.verify(password: "s3cret "))
        #expect(stored.iterations >= 4096)
        #expect(!stored.storedKey.isEmpty && stored.storedKey != Array("s3cret".utf8))
    }
}

@Suite("PLAIN")
struct PLAINTests {
    @Test("messages parse with and without authzid")
    func parsing() throws {
        let parsed = try PLAINMessage(parsing: [0] + bytes("alice") + [0] + bytes("secret"))
        #expect(parsed.authzid == nil && parsed.username == "alice" && parsed.password == "secret")
        let withAuthzid = try PLAINMessage(parsing: bytes("alice@example.com") + [0] + bytes("alice") + [0] + bytes("pw"))
        #expect(withAuthzid.authzid == "alice@example.com")
        #expect(try PLAINMessage(parsing: PLAINMessage(username: "u", password: "p").bytes).username == "u")
    }

    @Test("malformed messages are refused", arguments: [[] as [UInt8], [0, 0], [0, 97, 0], [97, 0, 98], [0, 97, 0, 0xFF]])
    func malformed(_ message: [UInt8]) {
        #expect(throws: SASLFailure.malformedRequest) { try PLAINMessage(parsing: message) }
    }
}

extension SCRAMServer.Action {
    /// The bytes of `.challenge`, or nil for any other action.
    fileprivate var challenge: [UInt8]? {
        if case .challenge(let bytes) = self { return bytes }
        return nil
    }
}
