#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The serialized children of the last few stanzas this thread wrote. A broadcast (a room's
/// message to its occupants, a presence to a roster) hands every recipient a copy of one
/// element that differs only in `to`; copies share their children (copy on write), so when
/// the same children come again they are written from here instead of serialized again —
/// once per event loop thread, not once per recipient.
///
/// Children are recognised by the identity of their storage: each entry keeps its array
/// alive, so the storage cannot be freed and reused for other children while it is here.
final class SerializedChildrenMemo {
    private struct Entry {
        var children: [Node]
        var defaultNamespace: String
        var prefixes: [String: String]
        /// Written on the second sighting: a stanza seen once costs only its entry.
        var text: String?
    }

    private static let capacity = 8
    private var entries: [Entry] = []
    private var next = 0

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            #if canImport(Darwin)
            Unmanaged<SerializedChildrenMemo>.fromOpaque(pointer).release()
            #else
            if let pointer { Unmanaged<SerializedChildrenMemo>.fromOpaque(pointer).release() }
            #endif
        }
        return key
    }()

    /// This thread's memo.
    static var current: SerializedChildrenMemo {
        if let pointer = pthread_getspecific(self.key) {
            return Unmanaged<SerializedChildrenMemo>.fromOpaque(pointer).takeUnretainedValue()
        }
        let memo = SerializedChildrenMemo()
        pthread_setspecific(self.key, Unmanaged.passRetained(memo).toOpaque())
        return memo
    }

    /// Writes `children` as `serialize` would, from the memo when they were written before.
    func write(_ children: [Node], defaultNamespace: String, prefixes: [String: String], into output: inout String, serialize: (inout String) -> Void) {
        let address = children.withUnsafeBufferPointer { $0.baseAddress }
        guard let address else {
            serialize(&output)
            return
        }
        if let index = self.entries.firstIndex(where: { entry in
            entry.children.count == children.count && entry.children.withUnsafeBufferPointer { $0.baseAddress } == address
                && entry.defaultNamespace == defaultNamespace && entry.prefixes == prefixes
        }) {
            if let text = self.entries[index].text {
                output += text
                return
            }
            var text = ""
            serialize(&text)
            self.entries[index].text = text
            output += text
            return
        }
        let entry = Entry(children: children, defaultNamespace: defaultNamespace, prefixes: prefixes, text: nil)
        if self.entries.count < Self.capacity {
            self.entries.append(entry)
        } else {
            self.entries[self.next] = entry
        }
        self.next = (self.next + 1) % Self.capacity
        serialize(&output)
    }
}
