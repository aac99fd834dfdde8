import CSQLite
import Dispatch

/// One SQLite connection, used from a single serial queue so statements never interleave.
final class SQLiteConnection: @unchecked Sendable {
    enum Value: Sendable, Hashable {
        case integer(Int64)
        case real(Double)
        case text(String)
        case blob([UInt8])
        case null
    }

    typealias Row = [Value]

    private var handle: OpaquePointer?
    private let queue = DispatchQueue(label: "starling.sqlite")

    init(path: String, synchronous: String) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            throw SQLiteError(message: "\(path): \(message)")
        }
        self.handle = handle
        sqlite3_busy_timeout(handle, 5000)
        try self.enableWAL()
        try self.executeScript("PRAGMA synchronous=\(synchronous); PRAGMA foreign_keys=ON;")
        // SQLite's own lower() and LIKE fold ASCII only; full-text search folds all of Unicode.
        let functionFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC
        guard sqlite3_create_function_v2(handle, "starling_lower", 1, functionFlags, nil, starlingLower, nil, nil, nil) == SQLITE_OK else {
            throw SQLiteError(message: "cannot register starling_lower: \(String(cString: sqlite3_errmsg(handle)))")
        }
    }

    /// Switching a new file to WAL needs an exclusive lock, and SQLite does not call the busy
    /// handler for it (this connection already holds a read lock, and waiting could deadlock):
    /// a second process opening the same new file got "database is locked" at once, about one
    /// round in sixty of the concurrent-open test. Retry the way the busy handler would, every
    /// 10 ms up to the same 5 s; once any connection switched the file, this is a no-op.
    private func enableWAL() throws {
        var waited = 0
        while true {
            do {
                try self.executeScript("PRAGMA journal_mode=WAL")
                return
            } catch let error as SQLiteError where error.isBusy && waited < 5000 {
                sqlite3_sleep(10)
                waited += 10
            }
        }
    }

    deinit {
        if let handle { sqlite3_close_v2(handle) }
    }

    /// Runs `body` on the connection's queue.
    func run<Output: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> Output) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            self.queue.async {
                continuation.resume(with: Swift.Result { try body(self) })
            }
        }
    }

    func runSync<Result>(_ body: (SQLiteConnection) throws -> Result) rethrows -> Result {
        try self.queue.sync { try body(self) }
    }

    func close() {
        self.queue.sync {
            if let handle = self.handle {
                sqlite3_close_v2(handle)
                self.handle = nil
            }
        }
    }

    func executeScript(_ sql: String) throws {
        guard let handle else { throw SQLiteError(message: "the database is closed") }
        var errorMessage: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if status != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(errorMessage)
            throw SQLiteError(message: message, code: status)
        }
    }

    @discardableResult
    func execute(_ sql: String, _ parameters: [Value] = []) throws -> [Row] {
        guard let handle else { throw SQLiteError(message: "the database is closed") }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw SQLiteError(message: String(cString: sqlite3_errmsg(handle)))
        }
        defer { sqlite3_finalize(statement) }
        for (index, parameter) in parameters.enumerated() {
            let position = Int32(index + 1)
            switch parameter {
            case .integer(let value): sqlite3_bind_int64(statement, position, value)
            case .real(let value): sqlite3_bind_double(statement, position, value)
            // With the length given, text holding U+0000 is stored whole, not cut at the NUL.
            case .text(let value): sqlite3_bind_text(statement, position, value, Int32(value.utf8.count), sqliteTransient)
            case .blob(let value):
                value.withUnsafeBytes { bytes in
                    _ = sqlite3_bind_blob(statement, position, bytes.baseAddress, Int32(bytes.count), sqliteTransient)
                }
            case .null: sqlite3_bind_null(statement, position)
            }
        }
        var rows: [Row] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else {
                throw SQLiteError(message: String(cString: sqlite3_errmsg(handle)), code: status)
            }
            var row: Row = []
            for column in 0..<sqlite3_column_count(statement) {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER:
                    row.append(.integer(sqlite3_column_int64(statement, column)))
                case SQLITE_FLOAT:
                    row.append(.real(sqlite3_column_double(statement, column)))
                case SQLITE_TEXT:
                    // Text first, then its length in bytes (SQLite's documented order); the
                    // length keeps a U+0000 inside the text.
                    let pointer = sqlite3_column_text(statement, column)
                    let count = Int(sqlite3_column_bytes(statement, column))
                    row.append(.text(pointer.map { String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self) } ?? ""))
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    if let pointer = sqlite3_column_blob(statement, column) {
                        row.append(.blob(Array(UnsafeRawBufferPointer(start: pointer, count: count))))
                    } else {
                        row.append(.blob([]))
                    }
                default:
                    row.append(.null)
                }
            }
            rows.append(row)
        }
        return rows
    }

    var changes: Int { self.handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    func transaction<Result>(_ body: () throws -> Result) throws -> Result {
        try self.executeScript("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try self.executeScript("COMMIT")
            return result
        } catch {
            try? self.executeScript("ROLLBACK")
            throw error
        }
    }
}

struct SQLiteError: Error, CustomStringConvertible {
    var message: String
    var code: Int32 = 0

    var isConstraintViolation: Bool { self.code & 0xFF == SQLITE_CONSTRAINT }
    var isBusy: Bool { self.code & 0xFF == SQLITE_BUSY }
    var description: String { "SQLite: \(self.message)" }
}

private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// `starling_lower(text)`: the text lower-cased as Swift's `String.lowercased()` does, so
/// SQLite and the in-memory backend search alike. ASCII text comes back as it is, without a
/// copy: LIKE ignores ASCII case by itself, and most bodies are ASCII.
private func starlingLower(_ context: OpaquePointer?, _ count: Int32, _ arguments: UnsafeMutablePointer<OpaquePointer?>?) {
    guard count == 1, let argument = arguments?[0], sqlite3_value_type(argument) == SQLITE_TEXT, let pointer = sqlite3_value_text(argument) else {
        // NULL stays NULL, so a message without a body never matches.
        sqlite3_result_null(context)
        return
    }
    let bytes = UnsafeBufferPointer(start: pointer, count: Int(sqlite3_value_bytes(argument)))
    if bytes.allSatisfy({ $0 < 0x80 }) {
        sqlite3_result_value(context, argument)
        return
    }
    let lowered = String(decoding: bytes, as: UTF8.self).lowercased()
    sqlite3_result_text(context, lowered, Int32(lowered.utf8.count), sqliteTransient)
}

extension SQLiteConnection.Value {
    var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    var real: Double? {
        switch self {
        case .real(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    var blob: [UInt8]? {
        if case .blob(let value) = self { return value }
        return nil
    }
}
