/// A value only ever used on one event loop, carried across a `@Sendable` boundary (an
/// `EventLoop.submit` closure) to that loop. The compiler cannot see the confinement; the
/// callers guarantee it.
struct LoopConfined<Value>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}
