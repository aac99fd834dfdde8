import XMPPCore
import XMPPSASL
import XMPPStorage

/// Account creation and password changes with every rule applied: username policy,
/// look-alike names, password preparation, SCRAM derivation for every hash.
public struct AccountManager: Sendable {
    public let store: any AccountStore
    public let hosts: Set<String>
    /// The whole backend, when the caller has one (the CLI edits rosters through it).
    public let backend: (any StorageBackend)?
    /// The account's XEP-0484 tokens, which a password change revokes. A manager without them
    /// can create and delete accounts (deletion drops tokens with the account's documents) but
    /// not change passwords.
    public let fastTokens: FASTTokenStore?

    /// `fastTokens` is needed only to change passwords.
    public init(store: any AccountStore, hosts: Set<String>, fastTokens: FASTTokenStore? = nil) {
        self.store = store
        self.hosts = hosts
        self.backend = nil
        self.fastTokens = fastTokens
    }

    public init(backend: any StorageBackend, hosts: Set<String>) {
        self.store = backend.accounts
        self.hosts = hosts
        self.backend = backend
        self.fastTokens = FASTTokenStore(backend: backend)
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case malformedAddress(String)
        case notHosted(String)
        case username(UsernamePolicy.Problem)
        case password(SASLPasswordError)
        case storage(StorageError)
        case noSuchAccount(JID)

        public var description: String {
            switch self {
            case .malformedAddress(let detail): "not a valid account address: \(detail)"
            case .notHosted(let domain): "this server does not serve \(domain); add it to 'hosts' in the configuration or pass --domain"
            case .username(let problem): "username refused: \(problem)"
            case .password(let problem): "password refused: \(problem)"
            case .storage(let error): error.description
            case .noSuchAccount(let jid): "there is no account \(jid)"
            }
        }
    }

    /// Parses `user@domain` into an account address on a hosted domain.
    public func account(_ address: String) throws(Failure) -> JID {
        let jid: JID
        do {
            jid = try JID(address)
        } catch {
            throw .malformedAddress(error.description)
        }
        guard jid.localpart != nil, jid.resourcepart == nil else {
            throw .malformedAddress("expected user@domain, without a resource")
        }
        guard self.hosts.contains(jid.domainpart) else { throw .notHosted(jid.domainpart) }
        return jid
    }

    public func create(_ address: String, password: String) async throws(Failure) -> JID {
        let requested = try self.account(address)
        let localpart: String
        do {
            localpart = try UsernamePolicy.validate(String(address.prefix { $0 != "@" }))
        } catch {
            throw .username(error)
        }
        let credentials: [SCRAMCredentials]
        do {
            credentials = try SCRAMCredentials.deriveAll(password: password)
        } catch {
            throw .password(error)
        }
        guard let account = try? JID(localpart: localpart, domainpart: requested.domainpart) else {
            throw .malformedAddress(address)
        }
        do {
            try await self.store.createAccount(account, credentials: credentials, skeleton: UsernamePolicy.confusableSkeleton(localpart))
        } catch let error as StorageError {
            throw .storage(error)
        } catch {
            throw .storage(.backend("\(error)"))
        }
        return account
    }

    /// Sets the password and revokes every FAST token of the account: whoever is locked out by
    /// a new password must not stay in through a token the old one got.
    public func changePassword(_ address: String, password: String) async throws(Failure) -> JID {
        guard let fastTokens = self.fastTokens else {
            preconditionFailure("changePassword needs the FAST token store to revoke tokens: make the manager with one")
        }
        let account = try self.account(address)
        let credentials: [SCRAMCredentials]
        do {
            credentials = try SCRAMCredentials.deriveAll(password: password)
        } catch {
            throw .password(error)
        }
        do {
            guard try await self.store.setCredentials(credentials, for: account) else { throw Failure.noSuchAccount(account) }
            try await fastTokens.revokeAll(of: account)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .storage(.backend("\(error)"))
        }
        return account
    }

    /// Deletes the account and its data. With a whole backend (the CLI), local contacts'
    /// stored rosters are released too (`releaseLocalContacts`); a running server tells
    /// contacts itself, over the network, before it calls this.
    public func delete(_ address: String) async throws(Failure) -> JID {
        let account = try self.account(address)
        do {
            let records = try await self.backend?.rosters.allRecords(of: account) ?? []
            guard try await self.store.deleteAccount(account) else { throw Failure.noSuchAccount(account) }
            if let rosters = self.backend?.rosters {
                try await self.releaseLocalContacts(of: account, records: records, rosters: rosters)
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .storage(.backend("\(error)"))
        }
        return account
    }
}
