import Synchronization

/// A value behind a mutex, for state shared between threads in the storage layer.
public final class LockedBox<Value>: @unchecked Sendable {
    private let mutex: Mutex<Void> = Mutex(())
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try self.mutex.withLock { _ in try body(&self.value) }
    }
}
