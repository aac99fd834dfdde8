import CoreMetrics
import Foundation
import NIOCore
import XMPPCore
import XMPPStorage

/// The storage backend with its offline and archive stores timed: each operation's duration
/// goes into `starling_storage_operation_duration_seconds`, and one that throws is counted in
/// `starling_storage_operation_errors_total`. The other stores are handed through untouched.
struct InstrumentedStorage: StorageBackend {
    let base: any StorageBackend
    let offline: any OfflineStore
    let archive: any ArchiveStore
    let roomArchive: any ArchiveStore

    init(_ base: any StorageBackend, metrics: ServerMetrics) {
        self.base = base
        self.offline = InstrumentedOfflineStore(base: base.offline, instruments: StoreInstruments(metrics, .offline))
        self.archive = InstrumentedArchiveStore(base: base.archive, instruments: StoreInstruments(metrics, .archive))
        self.roomArchive = InstrumentedArchiveStore(base: base.roomArchive, instruments: StoreInstruments(metrics, .roomArchive))
    }

    var accounts: any AccountStore { self.base.accounts }
    var rosters: any RosterStore { self.base.rosters }
    var accountData: any AccountDataStore { self.base.accountData }
    var moduleData: any ModuleDataStore { self.base.moduleData }

    func close() async {
        await self.base.close()
    }
}

/// One store's timers and error counters by operation, looked up once.
struct StoreInstruments: Sendable {
    private let byOperation: [String: (duration: CoreMetrics.Timer, errors: CoreMetrics.Counter)]

    init(_ metrics: ServerMetrics, _ store: MetricLabel.Store) {
        var byOperation: [String: (duration: CoreMetrics.Timer, errors: CoreMetrics.Counter)] = [:]
        for operation in ServerMetrics.storageOperations[store] ?? [] {
            byOperation[operation] = metrics.storageInstruments(store, operation)
        }
        self.byOperation = byOperation
    }

    func measure<Result>(_ operation: String, _ body: () async throws -> Result) async throws -> Result {
        let started = NIODeadline.now()
        let instruments = self.byOperation[operation]
        defer { instruments?.duration.recordNanoseconds((NIODeadline.now() - started).nanoseconds) }
        do {
            return try await body()
        } catch {
            instruments?.errors.increment()
            throw error
        }
    }
}

struct InstrumentedOfflineStore: OfflineStore {
    let base: any OfflineStore
    let instruments: StoreInstruments

    func store(_ stanza: String, stamp: Date, for account: JID, quota: Int) async throws -> Bool {
        try await self.instruments.measure("store") { try await self.base.store(stanza, stamp: stamp, for: account, quota: quota) }
    }

    func messages(for account: JID) async throws -> [OfflineMessage] {
        try await self.instruments.measure("messages") { try await self.base.messages(for: account) }
    }

    func remove(throughID id: Int64, for account: JID) async throws {
        try await self.instruments.measure("remove") { try await self.base.remove(throughID: id, for: account) }
    }

    func count(for account: JID) async throws -> Int {
        try await self.instruments.measure("count") { try await self.base.count(for: account) }
    }
}

struct InstrumentedArchiveStore: ArchiveStore {
    let base: any ArchiveStore
    let instruments: StoreInstruments

    func append(_ message: ArchivedMessage, body: String?, for account: JID) async throws {
        try await self.instruments.measure("append") { try await self.base.append(message, body: body, for: account) }
    }

    func query(_ query: ArchiveQuery, for account: JID) async throws -> ArchivePage {
        try await self.instruments.measure("query") { try await self.base.query(query, for: account) }
    }

    func message(id: String, for account: JID) async throws -> ArchivedMessage? {
        try await self.instruments.measure("message") { try await self.base.message(id: id, for: account) }
    }

    @discardableResult
    func replace(id: String, stanza: String, body: String?, for account: JID) async throws -> Bool {
        try await self.instruments.measure("replace") { try await self.base.replace(id: id, stanza: stanza, body: body, for: account) }
    }

    @discardableResult
    func purge(account: JID) async throws -> Int {
        try await self.instruments.measure("purge") { try await self.base.purge(account: account) }
    }

    @discardableResult
    func expire(before date: Date) async throws -> Int {
        try await self.instruments.measure("expire") { try await self.base.expire(before: date) }
    }

    func messageCount(for account: JID) async throws -> Int {
        try await self.instruments.measure("count") { try await self.base.messageCount(for: account) }
    }
}
