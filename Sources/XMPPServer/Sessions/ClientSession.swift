import NIOCore
import XMPPCore

/// A bound client session as the rest of the server sees it: an address and a way to hand it
/// stanzas. Delivery hops onto the connection's event loop; nothing else crosses threads.
public final class ClientSession: @unchecked Sendable, Hashable {
    public let jid: JID
    let eventLoop: any EventLoop
    /// Touched only on `eventLoop`.
    weak var connection: C2SConnectionHandler?

    init(jid: JID, eventLoop: any EventLoop, connection: C2SConnectionHandler) {
        self.jid = jid
        self.eventLoop = eventLoop
        self.connection = connection
    }

    /// Writes the stanza to the client.
    public func deliver(_ stanza: Element) {
        if self.eventLoop.inEventLoop {
            self.connection?.deliver(stanza)
        } else {
            self.eventLoop.execute { self.connection?.deliver(stanza) }
        }
    }

    /// Ends the session with a stream error (`conflict` when replaced, `system-shutdown`).
    public func terminate(_ condition: StreamErrorCondition) {
        self.eventLoop.execute { self.connection?.terminate(condition) }
    }

    public static func == (lhs: ClientSession, rhs: ClientSession) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// What the server tracks about a session's presence (RFC 6121 §4).
public struct SessionPresence: Sendable, Hashable {
    /// The session has sent available presence and not withdrawn it.
    public var available = false
    public var priority = 0
    /// The last available presence broadcast, as sent (answers probes, greets new contacts).
    public var lastPresence: Element?
    /// The session asked for the roster, so it gets roster pushes (RFC 6121 §2.1.6).
    public var interested = false
    /// Addresses sent directed presence while available, told when the session goes away (§4.6).
    public var directedTo: Set<JID> = []
    /// Initial presence has been processed (probes sent, offline messages delivered).
    public var initialPresenceDone = false
    /// Per-session state of modules, by a name each module picks (an active privacy list, a
    /// request for block list pushes).
    public var moduleState: [String: String] = [:]

    public init() {}
}
