import Crypto
import Foundation
import XMPPCore
import XMPPSASL
import XMPPStorage

/// An invitation as its holder sees it once (XEP-0401, XEP-0379, XEP-0445): 64 bits naming the
/// stored record and 128 secret bits, lowercase hex, safe in an `xmpp:` URI and a URL path.
/// Only the secret's SHA-256 is stored; 128 random bits need no slow hash.
public struct InvitationToken: Sendable, Hashable, CustomStringConvertible {
    static let idLength = 16
    static let secretLength = 32

    public let id: String
    let secret: String

    static func generate() -> InvitationToken {
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) } }
        return InvitationToken(id: Base16.encode(random(Self.idLength / 2)), secret: Base16.encode(random(Self.secretLength / 2)))
    }

    private init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    /// Parses what a client or a browser sent; nil for anything not shaped exactly like a token.
    public init?(parsing text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == Self.idLength + Self.secretLength, bytes.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        self.id = String(decoding: bytes[..<Self.idLength], as: UTF8.self)
        self.secret = String(decoding: bytes[Self.idLength...], as: UTF8.self)
    }

    public var description: String { self.id + self.secret }

    var secretDigest: String { Base16.encode(SHA256.hash(data: Data(self.secret.utf8))) }
}

/// What an invitation lets its holder do.
public struct Invitation: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable {
        /// Register an account (XEP-0445), and, with an inviter, become their contact.
        case account
        /// Become the inviter's contact (XEP-0379); registering too only when `allowsRegistration`.
        case contact
    }

    public var id: String
    public var kind: Kind
    public var domain: String
    /// Whose contact the new user becomes, with a mutual subscription.
    public var inviter: String?
    /// For a contact invitation: whether it may also create an account on `domain`.
    public var allowsRegistration: Bool
    /// Registrations (or subscriptions) left.
    public var usesLeft: Int
    public var createdAt: Date
    public var expiresAt: Date
    /// The admin account, API token or CLI that made it (for the audit trail).
    public var createdBy: String
    var secretDigest: String

    public func isExpired(at now: Date) -> Bool { now >= self.expiresAt }

    public var mayRegister: Bool { self.kind == .account || self.allowsRegistration }
}

/// What a new invitation holds; the token is made by the store.
public struct InvitationRequest: Sendable, Hashable {
    public var kind: Invitation.Kind
    public var domain: String
    public var inviter: JID?
    public var allowsRegistration: Bool
    public var uses: Int
    public var lifetime: TimeInterval
    public var createdBy: String

    public static let longestLifetime: TimeInterval = 366 * 86_400
    public static let mostUses = 1000

    public init(
        kind: Invitation.Kind, domain: String, inviter: JID? = nil, allowsRegistration: Bool = false, uses: Int = 1, lifetime: TimeInterval,
        createdBy: String
    ) {
        self.kind = kind
        self.domain = domain
        self.inviter = inviter
        self.allowsRegistration = allowsRegistration
        self.uses = uses
        self.lifetime = lifetime
        self.createdBy = createdBy
    }

    /// Why the request cannot be an invitation, for the CLI, the API and the ad-hoc command.
    public var problem: String? {
        if !(1...Self.mostUses).contains(self.uses) { return "an invitation is used 1 to \(Self.mostUses) times, not \(self.uses)" }
        if !(self.lifetime > 0 && self.lifetime <= Self.longestLifetime) { return "an invitation lives from a moment to 366 days" }
        if let inviter = self.inviter, inviter.domainpart != self.domain || inviter.localpart == nil || inviter.resourcepart != nil {
            return "the inviter \(inviter) is not an account of \(self.domain)"
        }
        if self.kind == .contact && self.inviter == nil { return "a contact invitation needs an inviter" }
        return nil
    }
}

/// Why a presented invitation does nothing.
public enum InvitationRefusal: Error, Sendable, Hashable {
    /// Not a token, unknown, used up or revoked, or for another domain: the holder learns no more.
    case invalid
    case expired
}

/// Invitations, kept as documents of the module `invites` so every backend holds them.
public struct InvitationStore: Sendable {
    static let module = "invites"
    static let collection = "invitations"

    private let store: any ModuleDataStore

    public init(backend: any StorageBackend) {
        self.store = backend.moduleData
    }

    /// Makes and stores an invitation; the token returned is the only time it exists in clear.
    public func create(_ request: InvitationRequest, now: Date = Date()) async throws -> (InvitationToken, Invitation) {
        precondition(request.problem == nil, "callers validate the request")
        let token = InvitationToken.generate()
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let invitation = Invitation(
            id: token.id, kind: request.kind, domain: request.domain, inviter: request.inviter?.bare.description,
            allowsRegistration: request.kind == .account || request.allowsRegistration, usesLeft: request.uses, createdAt: now,
            expiresAt: now.addingTimeInterval(request.lifetime), createdBy: request.createdBy, secretDigest: token.secretDigest)
        let value = try Self.encode(invitation)
        try await self.store.transaction(module: Self.module) { documents -> Void in
            try documents.put(value, collection: Self.collection, key: invitation.id)
        }
        return (token, invitation)
    }

    /// The invitation a token stands for, on one of `domains`, without using it.
    public func check(_ presented: String, domains: Set<String>, now: Date = Date()) async throws -> Result<Invitation, InvitationRefusal> {
        guard let token = InvitationToken(parsing: presented) else { return .failure(.invalid) }
        return try await self.store.transaction(module: Self.module) { documents in
            try Self.valid(token, domains: domains, inviter: nil, now: now, in: documents)
        }
    }

    /// Uses the invitation once, atomically: two registrations racing for the last use cannot
    /// both have it. Returns the invitation as it was before this use. `checkingExpiry: false`
    /// is for a token checked when it was presented (XEP-0445 §4: expiry is checked then only).
    /// With `inviter`, only that account's invitations count (XEP-0379: a subscription to them).
    public func redeem(
        _ presented: String, domains: Set<String>, inviter: String? = nil, checkingExpiry: Bool = true, now: Date = Date()
    ) async throws -> Result<Invitation, InvitationRefusal> {
        guard let token = InvitationToken(parsing: presented) else { return .failure(.invalid) }
        return try await self.store.transaction(module: Self.module) { documents in
            switch try Self.valid(token, domains: domains, inviter: inviter, now: checkingExpiry ? now : .distantPast, in: documents) {
            case .failure(let refusal):
                return .failure(refusal)
            case .success(let invitation):
                var used = invitation
                used.usesLeft -= 1
                if used.usesLeft > 0 {
                    try documents.put(try Self.encode(used), collection: Self.collection, key: invitation.id)
                } else {
                    try documents.delete(Self.collection, key: invitation.id)
                }
                return .success(invitation)
            }
        }
    }

    /// Returns the use `redeem` took, when what it was for failed (the username was taken).
    /// An invitation whose last use this was comes back as it was, even if it was revoked in
    /// that moment (nothing marks a revoked one); one with uses left that is gone was revoked
    /// and stays gone.
    func giveBack(_ redeemed: Invitation) async throws {
        try await self.store.transaction(module: Self.module) { documents -> Void in
            var invitation = redeemed
            if let stored = try documents.document(Self.collection, key: redeemed.id).flatMap({ try? Self.decode($0.value) }) {
                invitation.usesLeft = min(stored.usesLeft + 1, redeemed.usesLeft)
            } else if redeemed.usesLeft > 1 {
                return
            }
            try documents.put(try Self.encode(invitation), collection: Self.collection, key: invitation.id)
        }
    }

    /// Deletes the invitations past their expiry; returns how many.
    @discardableResult
    public func purgeExpired(now: Date = Date()) async throws -> Int {
        try await self.store.transaction(module: Self.module) { documents -> Int in
            var purged = 0
            for document in try documents.list(Self.collection, ModuleDocumentRange()) {
                guard let invitation = try? Self.decode(document.value), invitation.isExpired(at: now) else { continue }
                try documents.delete(Self.collection, key: document.key)
                purged += 1
            }
            return purged
        }
    }

    /// Every invitation not used up, oldest first (expired ones too, until `purgeExpired`).
    public func list() async throws -> [Invitation] {
        let invitations = try await self.store.transaction(module: Self.module) { documents -> [Invitation] in
            try documents.list(Self.collection, ModuleDocumentRange()).compactMap { try? Self.decode($0.value) }
        }
        return invitations.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// False when there was no such invitation.
    @discardableResult
    public func revoke(id: String) async throws -> Bool {
        try await self.store.transaction(module: Self.module) { documents -> Bool in
            try documents.delete(Self.collection, key: id)
        }
    }

    private static func valid(
        _ token: InvitationToken, domains: Set<String>, inviter: String?, now: Date, in documents: any ModuleDocuments
    ) throws -> Result<Invitation, InvitationRefusal> {
        guard let document = try documents.document(Self.collection, key: token.id), let invitation = try? Self.decode(document.value),
            constantTimeEquals(Array(invitation.secretDigest.utf8), Array(token.secretDigest.utf8)), domains.contains(invitation.domain),
            inviter == nil || invitation.inviter == inviter, invitation.usesLeft > 0
        else { return .failure(.invalid) }
        return invitation.isExpired(at: now) ? .failure(.expired) : .success(invitation)
    }

    private static func encode(_ record: Invitation) throws -> String {
        try StoredRecordJSON.encode(record)
    }

    private static func decode(_ value: String) throws -> Invitation {
        try StoredRecordJSON.decode(value)
    }
}
