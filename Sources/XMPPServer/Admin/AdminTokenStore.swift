import Crypto
import Foundation
import XMPPCore
import XMPPSASL
import XMPPStorage

/// What an admin API token may do: `read` sees, `write` also changes (and implies `read`).
public enum AdminScope: String, Sendable, Codable, CaseIterable, Comparable {
    case read, write

    public static func < (lhs: AdminScope, rhs: AdminScope) -> Bool {
        lhs == .read && rhs == .write
    }
}

/// A bearer token for the admin HTTP API, as its holder sees it once: `sta_<id>_<secret>`, both
/// parts lowercase hex. The id names the stored record, so a check needs no scan and a log line
/// can name the token without revealing it; the secret is 256 random bits, so one SHA-256 of it
/// is as strong as a slow hash would be, and checking a token costs one hash.
public struct AdminToken: Sendable, Hashable, CustomStringConvertible {
    public static let prefix = "sta_"
    static let idBytes = 8
    static let secretBytes = 32

    public let id: String
    let secret: String

    /// A new random token.
    public static func generate() -> AdminToken {
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) } }
        return AdminToken(id: Base16.encode(random(Self.idBytes)), secret: Base16.encode(random(Self.secretBytes)))
    }

    private init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    /// Parses what a client sent; nil for anything not shaped exactly like a token.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "sta",
            Self.isHex(parts[1], length: Self.idBytes * 2), Self.isHex(parts[2], length: Self.secretBytes * 2)
        else { return nil }
        self.id = String(parts[1])
        self.secret = String(parts[2])
    }

    /// Whether `text` looks like a token id (for paths such as `/tokens/{id}`).
    public static func isID(_ text: some StringProtocol) -> Bool {
        Self.isHex(text, length: Self.idBytes * 2)
    }

    public var description: String { "\(Self.prefix)\(self.id)_\(self.secret)" }

    var secretDigest: String {
        Base16.encode(SHA256.hash(data: Data(self.secret.utf8)))
    }

    private static func isHex(_ text: some StringProtocol, length: Int) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// A token as stored: its digest, never the token.
public struct AdminTokenRecord: Sendable, Codable, Hashable {
    public var id: String
    public var scope: AdminScope
    public var label: String
    public var createdAt: Date
    public var expiresAt: Date
    var secretDigest: String

    public func isExpired(at now: Date) -> Bool { now >= self.expiresAt }
}

/// Why a presented token does not grant a call.
public enum AdminTokenRefusal: Error, Sendable, Hashable {
    /// Not a token, an unknown or revoked one, or a wrong secret: the caller learns no more.
    case invalid
    case expired
}

/// Admin API tokens, kept as documents of the module `admin-api` so every storage backend
/// holds them without a table of its own.
public struct AdminTokenStore: Sendable {
    static let module = "admin-api"
    static let collection = "tokens"
    /// A token lives at most this long: a forgotten one stops working by itself.
    public static let longestLifetime: TimeInterval = 366 * 86_400

    private let store: any ModuleDataStore

    public init(_ store: any ModuleDataStore) {
        self.store = store
    }

    public init(backend: any StorageBackend) {
        self.store = backend.moduleData
    }

    /// Makes and stores a token; the returned token is the only time its secret exists in clear.
    public func create(scope: AdminScope, label: String, lifetime: TimeInterval, now: Date = Date()) async throws -> (AdminToken, AdminTokenRecord) {
        precondition(lifetime > 0 && lifetime <= Self.longestLifetime, "callers validate the lifetime")
        let token = AdminToken.generate()
        // Whole seconds: what is stored is what a later check reads back.
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let record = AdminTokenRecord(
            id: token.id, scope: scope, label: label, createdAt: now, expiresAt: now.addingTimeInterval(lifetime), secretDigest: token.secretDigest)
        let value = try Self.encode(record)
        try await self.store.transaction(module: Self.module) { documents -> Void in
            try documents.put(value, collection: Self.collection, key: record.id)
        }
        return (token, record)
    }

    /// The record a presented token stands for, or why it grants nothing.
    public func check(_ presented: String, now: Date = Date()) async throws -> Result<AdminTokenRecord, AdminTokenRefusal> {
        guard let token = AdminToken(parsing: presented) else { return .failure(.invalid) }
        guard let record = try await self.record(id: token.id) else { return .failure(.invalid) }
        // Compared in constant time: the digest of a guess must not leak how much of it matched.
        guard constantTimeEquals(Array(record.secretDigest.utf8), Array(token.secretDigest.utf8)) else { return .failure(.invalid) }
        return record.isExpired(at: now) ? .failure(.expired) : .success(record)
    }

    public func record(id: String) async throws -> AdminTokenRecord? {
        try await self.store.transaction(module: Self.module) { documents -> AdminTokenRecord? in
            guard let document = try documents.document(Self.collection, key: id) else { return nil }
            return try Self.decode(document.value)
        }
    }

    /// Every stored token, oldest first.
    public func list() async throws -> [AdminTokenRecord] {
        let records = try await self.store.transaction(module: Self.module) { documents -> [AdminTokenRecord] in
            try documents.list(Self.collection, ModuleDocumentRange()).map { try Self.decode($0.value) }
        }
        return records.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// False when there was no such token.
    @discardableResult
    public func revoke(id: String) async throws -> Bool {
        try await self.store.transaction(module: Self.module) { documents -> Bool in
            try documents.delete(Self.collection, key: id)
        }
    }

    private static func encode(_ record: AdminTokenRecord) throws -> String {
        try StoredRecordJSON.encode(record)
    }

    private static func decode(_ value: String) throws -> AdminTokenRecord {
        try StoredRecordJSON.decode(value)
    }
}
