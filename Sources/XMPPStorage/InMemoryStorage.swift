import Foundation
import XMPPCore
import XMPPSASL

/// A backend that keeps everything in memory: for tests and for throwaway servers.
public final class InMemoryStorage: StorageBackend, AccountStore, RosterStore, OfflineStore, AccountDataStore, ArchiveStore {
    private struct StoredAccount {
        var credentials: [SCRAMHash: SCRAMCredentials]
        var skeleton: String
    }

    private struct RosterRecord {
        var item: RosterItem
        var version: Int64
        var removed: Bool
    }

    private struct State {
        var accounts: [JID: StoredAccount] = [:]
        var rosters: [JID: [JID: RosterRecord]] = [:]
        var rosterVersions: [JID: Int64] = [:]
        var offline: [JID: [OfflineMessage]] = [:]
        var nextOfflineID: Int64 = 1
        var data: [JID: [String: String]] = [:]
        var archives: [JID: [(message: ArchivedMessage, body: String?)]] = [:]
    }

    private let state = LockedBox(State())

    public init() {}

    public var accounts: any AccountStore { self }
    public var rosters: any RosterStore { self }
    public var offline: any OfflineStore { self }
    public var accountData: any AccountDataStore { self }
    public var archive: any ArchiveStore { self }
    /// Room JIDs never equal account JIDs, so one map holds both.
    public var roomArchive: any ArchiveStore { self }
    public var moduleData: any ModuleDataStore { self.moduleDocuments }
    private let moduleDocuments = InMemoryModuleData()

    public func close() async {}

    // MARK: - Accounts

    public func createAccount(_ account: JID, credentials: [SCRAMCredentials], skeleton: String) async throws {
        let bare = account.bare
        try self.state.withLock { state in
            if state.accounts[bare] != nil { throw StorageError.accountExists(bare) }
            if let existing = state.accounts.first(where: { $0.key.domainpart == bare.domainpart && $0.value.skeleton == skeleton }) {
                throw StorageError.confusable(with: existing.key)
            }
            state.accounts[bare] = StoredAccount(credentials: Dictionary(credentials.map { ($0.hash, $0) }) { $1 }, skeleton: skeleton)
        }
    }

    public func credentials(for account: JID, hash: SCRAMHash) async throws -> SCRAMCredentials? {
        self.state.withLock { $0.accounts[account.bare]?.credentials[hash] }
    }

    public func setCredentials(_ credentials: [SCRAMCredentials], for account: JID) async throws -> Bool {
        self.state.withLock { state in
            guard state.accounts[account.bare] != nil else { return false }
            state.accounts[account.bare]?.credentials = Dictionary(credentials.map { ($0.hash, $0) }) { $1 }
            return true
        }
    }

    public func addCredentials(_ credentials: SCRAMCredentials, for account: JID) async throws -> Bool {
        self.state.withLock { state in
            guard state.accounts[account.bare] != nil else { return false }
            if state.accounts[account.bare]?.credentials[credentials.hash] == nil {
                state.accounts[account.bare]?.credentials[credentials.hash] = credentials
            }
            return true
        }
    }

    public func deleteAccount(_ account: JID) async throws -> Bool {
        let deleted = self.state.withLock { state in
            let bare = account.bare
            state.rosters[bare] = nil
            state.rosterVersions[bare] = nil
            state.offline[bare] = nil
            state.data[bare] = nil
            state.archives[bare] = nil
            return state.accounts.removeValue(forKey: bare) != nil
        }
        if deleted { self.moduleDocuments.deleteAccountDocuments(of: account.bare.description) }
        return deleted
    }

    public func accountExists(_ account: JID) async throws -> Bool {
        self.state.withLock { $0.accounts[account.bare] != nil }
    }

    public func accounts(onDomain domain: String) async throws -> [JID] {
        self.state.withLock { $0.accounts.keys.filter { $0.domainpart == domain }.sorted() }
    }

    // MARK: - Rosters

    public func roster(of account: JID) async throws -> (version: Int64, items: [RosterItem]) {
        self.state.withLock { state in
            let records = state.rosters[account.bare] ?? [:]
            let items = records.values.filter { !$0.removed && $0.item.inRoster }.map(\.item).sorted { $0.jid < $1.jid }
            return (state.rosterVersions[account.bare] ?? 0, items)
        }
    }

    public func allRecords(of account: JID) async throws -> [RosterItem] {
        self.state.withLock { ($0.rosters[account.bare] ?? [:]).values.filter { !$0.removed }.map(\.item).sorted { $0.jid < $1.jid } }
    }

    public func item(of account: JID, contact: JID) async throws -> RosterItem? {
        self.state.withLock { state in
            guard let record = state.rosters[account.bare]?[contact.bare], !record.removed else { return nil }
            return record.item
        }
    }

    public func setItem(_ item: RosterItem, of account: JID) async throws -> Int64 {
        self.state.withLock { state in
            let version = (state.rosterVersions[account.bare] ?? 0) + 1
            state.rosterVersions[account.bare] = version
            // Stored under the bare JID and with it, as SQLite does: a full JID names the same contact.
            var stored = item
            stored.jid = item.jid.bare
            state.rosters[account.bare, default: [:]][item.jid.bare] = RosterRecord(item: stored, version: version, removed: false)
            return version
        }
    }

    public func removeItem(_ contact: JID, of account: JID) async throws -> Int64? {
        self.state.withLock { state in
            guard var record = state.rosters[account.bare]?[contact.bare], !record.removed else { return nil }
            let version = (state.rosterVersions[account.bare] ?? 0) + 1
            state.rosterVersions[account.bare] = version
            record.removed = true
            record.version = version
            state.rosters[account.bare]?[contact.bare] = record
            return version
        }
    }

    public func changes(of account: JID, since version: Int64) async throws -> (version: Int64, changed: [RosterItem], removed: [JID])? {
        self.state.withLock { state in
            let current = state.rosterVersions[account.bare] ?? 0
            guard version <= current, version >= 0 else { return nil }
            let newer = (state.rosters[account.bare] ?? [:]).values.filter { $0.version > version }.sorted { $0.version < $1.version }
            return (
                current, newer.filter { !$0.removed && $0.item.inRoster }.map(\.item),
                newer.filter { $0.removed || !$0.item.inRoster }.map(\.item.jid)
            )
        }
    }

    // MARK: - Offline messages

    public func store(_ stanza: String, stamp: Date, for account: JID, quota: Int) async throws -> Bool {
        self.state.withLock { state in
            guard (state.offline[account.bare]?.count ?? 0) < quota else { return false }
            state.offline[account.bare, default: []].append(OfflineMessage(id: state.nextOfflineID, stanza: stanza, stamp: stamp))
            state.nextOfflineID += 1
            return true
        }
    }

    public func messages(for account: JID) async throws -> [OfflineMessage] {
        self.state.withLock { $0.offline[account.bare] ?? [] }
    }

    public func remove(throughID id: Int64, for account: JID) async throws {
        self.state.withLock { $0.offline[account.bare]?.removeAll { $0.id <= id } }
    }

    public func count(for account: JID) async throws -> Int {
        self.state.withLock { $0.offline[account.bare]?.count ?? 0 }
    }

    // MARK: - Account data

    public func value(for account: JID, key: String) async throws -> String? {
        self.state.withLock { $0.data[account.bare]?[key] }
    }

    public func setValue(_ value: String?, for account: JID, key: String) async throws {
        self.state.withLock { $0.data[account.bare, default: [:]][key] = value }
    }
}

extension InMemoryStorage {
    public func append(_ message: ArchivedMessage, body: String?, for account: JID) async throws {
        try self.state.withLock { state in
            // A second message under one ID would make paging by that ID ambiguous; SQLite's
            // unique index refuses it, so this backend does too.
            if state.archives[account.bare]?.contains(where: { $0.message.id == message.id }) == true {
                throw StorageError.backend("the archive of \(account.bare) already holds a message with the ID \(message.id)")
            }
            // The peer is kept bare, as `ArchivedMessage.with` promises.
            var stored = message
            stored.with = message.with.bare
            state.archives[account.bare, default: []].append((stored, body))
        }
    }

    public func query(_ query: ArchiveQuery, for account: JID) async throws -> ArchivePage {
        try self.state.withLock { state in
            let all = state.archives[account.bare] ?? []
            var lower = 0
            var upper = all.count
            if let after = query.after {
                guard let index = all.firstIndex(where: { $0.message.id == after }) else { throw ArchiveError.unknownID(after) }
                lower = index + 1
            }
            if let before = query.before, !before.isEmpty {
                guard let index = all.firstIndex(where: { $0.message.id == before }) else { throw ArchiveError.unknownID(before) }
                upper = index
            }
            let matching = all[lower..<max(lower, upper)].filter { entry in
                (query.with.map { $0.bare == entry.message.with } ?? true)
                    && (query.start.map { entry.message.timestamp >= $0 } ?? true)
                    && (query.end.map { entry.message.timestamp <= $0 } ?? true)
                    && (query.fulltext.map { needle in entry.body.map { Self.containsIgnoringCase($0, needle) } ?? false } ?? true)
            }.map(\.message)
            // A negative limit is zero: `prefix` and `suffix` would trap on it.
            let limit = max(0, query.limit)
            if query.before != nil {
                return ArchivePage(items: Array(matching.suffix(limit)), complete: matching.count <= limit)
            }
            return ArchivePage(items: Array(matching.prefix(limit)), complete: matching.count <= limit)
        }
    }

    /// Full-text matching as SQLite does it: both sides lower-cased by `String.lowercased()`,
    /// then compared as UTF-8 bytes. Not `localizedCaseInsensitiveContains`, whose answer
    /// depends on the machine's locale and folds "ß" to "ss", which SQL cannot follow.
    static func containsIgnoringCase(_ text: String, _ needle: String) -> Bool {
        let haystack = Array(text.lowercased().utf8)
        let pattern = Array(needle.lowercased().utf8)
        guard !pattern.isEmpty else { return true }
        guard haystack.count >= pattern.count else { return false }
        return (0...(haystack.count - pattern.count)).contains { haystack[$0..<($0 + pattern.count)].elementsEqual(pattern) }
    }

    public func message(id: String, for account: JID) async throws -> ArchivedMessage? {
        self.state.withLock { $0.archives[account.bare]?.first { $0.message.id == id }?.message }
    }

    public func replace(id: String, stanza: String, body: String?, for account: JID) async throws -> Bool {
        self.state.withLock { state in
            guard let index = state.archives[account.bare]?.firstIndex(where: { $0.message.id == id }) else { return false }
            state.archives[account.bare]?[index].message.stanza = stanza
            state.archives[account.bare]?[index].body = body
            return true
        }
    }

    public func messageCount(for account: JID) async throws -> Int {
        self.state.withLock { $0.archives[account.bare]?.count ?? 0 }
    }

    public func purge(account: JID) async throws -> Int {
        self.state.withLock { $0.archives.removeValue(forKey: account.bare)?.count ?? 0 }
    }

    public func expire(before date: Date) async throws -> Int {
        self.state.withLock { state in
            var removed = 0
            for (account, entries) in state.archives {
                let kept = entries.filter { $0.message.timestamp >= date }
                removed += entries.count - kept.count
                state.archives[account] = kept
            }
            return removed
        }
    }
}
