import XMPPCore

/// XEP-0352 (Client State Indication) from the server's side, without I/O: while the client
/// says it is inactive, presence waits, only the latest per sender; anything else first lets
/// what waits go out, so order holds and nothing is lost.
public struct ClientStateIndication: Sendable {
    public private(set) var inactive = false
    private var held: [Element] = []

    public init() {}

    /// The client's `<active/>` or `<inactive/>`; returns what to write now.
    public mutating func clientState(active: Bool) -> [Element] {
        self.inactive = !active
        return active ? self.release() : []
    }

    /// A stanza for the client; returns what to write now, in order (none while it is held).
    public mutating func outgoing(_ stanza: Element) -> [Element] {
        guard self.inactive else { return [stanza] }
        if stanza.stanzaKind == .presence, let from = stanza[attribute: "from"] {
            self.held.removeAll { $0[attribute: "from"] == from }
            self.held.append(stanza)
            return []
        }
        return self.release() + [stanza]
    }

    public var heldCount: Int { self.held.count }

    private mutating func release() -> [Element] {
        defer { self.held.removeAll() }
        return self.held
    }
}
