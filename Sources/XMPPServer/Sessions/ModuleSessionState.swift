/// A typed slot for one module's per-session state (an active privacy list, carbons
/// enabled). Keys are compared by identity: declare each once, as a `static let`.
public final class SessionStateKey<Value: Sendable & Hashable>: Sendable {
    /// For debugging only.
    public let name: String

    public init(_ name: String) {
        self.name = name
    }
}

/// The state modules keep per session, each under its own typed key.
public struct ModuleSessionState: Sendable, Hashable {
    /// Values go in only through the typed subscript, which requires them to be Sendable.
    private struct Slot: @unchecked Sendable, Hashable {
        let value: AnyHashable
    }

    private var slots: [ObjectIdentifier: Slot] = [:]

    public init() {}

    public subscript<Value>(key: SessionStateKey<Value>) -> Value? {
        get { self.slots[ObjectIdentifier(key)]?.value.base as? Value }
        set { self.slots[ObjectIdentifier(key)] = newValue.map { Slot(value: AnyHashable($0)) } }
    }
}
