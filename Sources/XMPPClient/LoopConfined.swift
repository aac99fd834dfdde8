/// A value only ever used on one event loop (a channel handler), carried across a `@Sendable`
/// boundary (a channel initializer, an `EventLoop.submit` closure) to that loop. The compiler
/// cannot see the confinement; the callers guarantee it.
struct LoopConfined<Value>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}
