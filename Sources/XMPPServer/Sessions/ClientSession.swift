import NIOConcurrencyHelpers
import NIOCore
import XMPPCore
import XMPPStream

/// A bound client session as the rest of the server sees it: an address and a way to hand it
/// stanzas. Delivery hops onto its stream's event loop, where the stream counts it for stream
/// management and writes it, whatever transport carries it. A session whose connection
/// dropped while resumable (XEP-0198) stays bound, detached: what it is sent waits,
/// unacknowledged, for a resume.
public final class ClientSession: @unchecked Sendable, Hashable {
    public let jid: JID
    /// Bound with Bind 2 (XEP-0386 §3.2): the client catches up from its message archive, so
    /// offline messages the archive holds are not delivered to it a second time.
    public let catchesUpFromArchive: Bool
    private let lock = NIOLock()
    private var attachment: (stream: ClientStream, eventLoop: any EventLoop)?
    private var management: StreamManagement?
    /// Set when bound, to tell modules about messages queued while detached.
    var detachedDelivery: [@Sendable (ClientSession, Element) -> Void] = []

    struct StreamManagement {
        var id: String
        var resumable: Bool
        var counters = StreamManagementCounters()
    }

    private let statistics: ServerStatistics?

    init(jid: JID, eventLoop: any EventLoop, stream: ClientStream, statistics: ServerStatistics? = nil, catchesUpFromArchive: Bool = false) {
        self.jid = jid
        self.catchesUpFromArchive = catchesUpFromArchive
        self.attachment = (stream, eventLoop)
        self.statistics = statistics
        statistics?.increment(\.liveSessions)
    }

    /// A session with no connection yet, as a resumable one is between connections; what it
    /// is sent waits for a connection to attach (used by benchmarks and tests).
    public init(detachedJID jid: JID) {
        self.jid = jid
        self.catchesUpFromArchive = false
        self.attachment = nil
        self.statistics = nil
    }

    deinit {
        self.statistics?.decrement(\.liveSessions)
    }

    /// Writes the stanza to the client (or keeps it for a resume while detached).
    public func deliver(_ stanza: Element) {
        let target: (ClientStream, any EventLoop)? = self.lock.withLock {
            if let attachment = self.attachment { return (attachment.stream, attachment.eventLoop) }
            self.management?.counters.stanzaSent(stanza)
            return nil
        }
        guard let (stream, eventLoop) = target else {
            if stanza.stanzaKind == .message {
                for handler in self.detachedDelivery { handler(self, stanza) }
            }
            return
        }
        if eventLoop.inEventLoop {
            stream.deliver(stanza, for: self)
        } else {
            let transfer = UnsafeTransfer(stream)
            eventLoop.execute { transfer.value.deliver(stanza, for: self) }
        }
    }

    /// Ends the session with a stream error (`conflict` when replaced, `system-shutdown`).
    public func terminate(_ condition: StreamErrorCondition) {
        guard let (stream, eventLoop) = self.lock.withLock({ self.attachment }) else { return }
        let transfer = UnsafeTransfer(stream)
        eventLoop.execute { transfer.value.terminate(condition) }
    }

    /// The connection under the session as administrators see it, read on its event loop;
    /// nil while detached.
    func connectionInfo() async -> SessionConnectionInfo? {
        guard let (stream, eventLoop) = self.lock.withLock({ self.attachment }) else { return nil }
        let transfer = UnsafeTransfer(stream)
        return try? await eventLoop.submit { transfer.value.connectionInfo }.get()
    }

    // MARK: - Stream management

    var isDetached: Bool { self.lock.withLock { self.attachment == nil } }
    var streamManagementID: String? { self.lock.withLock { self.management?.id } }
    var isResumable: Bool { self.lock.withLock { self.management?.resumable == true } }

    func enableStreamManagement(id: String, resumable: Bool) {
        self.lock.withLock { self.management = StreamManagement(id: id, resumable: resumable) }
    }

    /// Counts a stanza the attached stream is about to write; false when the stream
    /// is no longer the session's (it detached or was replaced meanwhile).
    func recordSent(_ stanza: Element, by stream: ClientStream) -> Bool {
        self.lock.withLock {
            guard self.attachment?.stream === stream else {
                self.management?.counters.stanzaSent(stanza)
                return false
            }
            self.management?.counters.stanzaSent(stanza)
            return true
        }
    }

    func recordHandled() {
        self.lock.withLock { self.management?.counters.stanzaHandled() }
    }

    var handledCount: UInt32 { self.lock.withLock { self.management?.counters.inboundHandled ?? 0 } }
    var unackedCount: Int { self.lock.withLock { self.management?.counters.unacked.count ?? 0 } }

    func acknowledged(_ h: UInt32) throws(StreamManagementCounters.Failure) {
        var failure: StreamManagementCounters.Failure?
        self.lock.withLock {
            do {
                try self.management?.counters.acknowledged(h)
            } catch {
                failure = (error as? StreamManagementCounters.Failure) ?? .handledCountTooHigh(h: h, sent: 0)
            }
        }
        if let failure { throw failure }
    }

    func detach(from stream: ClientStream) {
        self.lock.withLock {
            if self.attachment?.stream === stream { self.attachment = nil }
        }
    }

    /// Moves the session to a new stream after `<resume/>`; returns what must be sent again.
    func attach(to stream: ClientStream, eventLoop: any EventLoop, clientHandled h: UInt32) throws(StreamManagementCounters.Failure) -> [Element] {
        var result: Result<[Element], StreamManagementCounters.Failure> = .success([])
        self.lock.withLock {
            do {
                try self.management?.counters.acknowledged(h)
                self.attachment = (stream, eventLoop)
                result = .success(self.management?.counters.takeUnackedForResend() ?? [])
            } catch {
                result = .failure((error as? StreamManagementCounters.Failure) ?? .handledCountTooHigh(h: h, sent: 0))
            }
        }
        return try result.get()
    }

    /// The unacknowledged stanzas, taken when the session ends for good.
    func takeUnacked() -> [Element] {
        self.lock.withLock { self.management?.counters.takeUnackedForResend() ?? [] }
    }

    var previousStream: ClientStream? { self.lock.withLock { self.attachment?.stream } }

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
    /// Per-session state of modules, each under a typed key of its own (an active privacy
    /// list, a request for block list pushes).
    public var moduleState = ModuleSessionState()

    public init() {}
}
