import NIOCore
import XMPPCore

/// The connection manager's side of one BOSH session (XEP-0124, XEP-0206), without I/O.
/// Requests arrive with their `rid`s, possibly out of order over parallel connections, and are
/// taken strictly in order; what the client stream sends waits for a held request to carry it
/// back; a held request is answered empty after `wait`; a session with no request for
/// `inactivity` is gone, as a TCP connection that dropped.
public struct BOSHSessionMachine: Sendable {
    public typealias RequestID = UInt64

    /// What the server allows; a creation request asks within these.
    public struct Limits: Sendable, Hashable {
        public var maxWait: TimeAmount = .seconds(60)
        public var maxHold = 1
        public var inactivity: TimeAmount = .seconds(60)
        /// The shortest interval between empty requests of a polling session (hold 0).
        public var polling: TimeAmount = .seconds(2)
        public var maxPause: TimeAmount = .seconds(120)

        public init() {}
    }

    public enum Action: Sendable, Hashable {
        /// Hand this to the client stream; actions come in the order to carry them out.
        case deliver(XMLStreamEvent)
        /// Answer this HTTP request with this body.
        case respond(RequestID, BOSHBody)
        /// The session is over and every request it held is answered: the stream's
        /// connection is gone (lost when the client simply stopped asking).
        case ended
    }

    private struct Held: Sendable {
        var id: RequestID
        let rid: UInt64
        let deadline: NIODeadline
    }

    private struct Queued: Sendable {
        let id: RequestID
        let body: BOSHBody
    }

    private struct Session: Sendable {
        let wait: TimeAmount
        let hold: Int
        /// How many requests the client may have outstanding at once (XEP-0124 §7.1).
        var requests: Int { self.hold + 1 }
        let limits: Limits
        let acknowledging: Bool
        /// The creation request, whose stream attributes a restart repeats.
        let creation: BOSHBody
        var nextRID: UInt64
        /// Requests that arrived ahead of one still missing, by rid.
        var early: [UInt64: Queued] = [:]
        var held: [Held] = []
        var output: [Element] = []
        /// The last responses by rid, sent again when a client repeats a request whose
        /// response it lost (XEP-0124 §14.3).
        var answered: [(rid: UInt64, body: BOSHBody)] = []
        /// The session creation response's attributes, until a response carries them.
        var creationAttributes: [Attribute]?
        /// Since when no request has been held: inactivity counts from there.
        var idleSince: NIODeadline
        var pausedUntil: NIODeadline?
        var lastRequestAt: NIODeadline
    }

    private enum State: Sendable {
        case active(Session)
        /// The stream ended while no request was held: the next request carries `farewell`.
        case closing(farewell: BOSHBody, since: NIODeadline, inactivity: TimeAmount)
        case ended
    }

    private var state: State

    public var isEnded: Bool {
        if case .ended = self.state { return true }
        return false
    }

    private init(state: State) {
        self.state = state
    }

    /// A session from its creation request (XEP-0124 §7.1, XEP-0206 §3): the stream opens,
    /// and the request is held until the stream's features can answer it.
    public static func create(
        _ body: BOSHBody, request: RequestID, sid: String, limits: Limits, secure: Bool, now: NIODeadline
    ) -> Result<(BOSHSessionMachine, [Action]), BOSHTerminalCondition> {
        guard let rid = body.rid, body.sid == nil else { return .failure(.badRequest) }
        guard let to = body["to"], !to.isEmpty, to.utf8.count <= 1024 else { return .failure(.improperAddressing) }
        let askedWait = body["wait"].flatMap { Int64($0) }.map { TimeAmount.seconds($0) } ?? limits.maxWait
        let wait = max(.zero, min(askedWait, limits.maxWait))
        let hold = max(0, min(body["hold"].flatMap { Int($0) } ?? 1, limits.maxHold))
        let acknowledging = body["ack"] == "1"
        var session = Session(
            wait: wait, hold: hold, limits: limits, acknowledging: acknowledging, creation: BOSHBody(attributes: body.attributes), nextRID: rid &+ 1,
            idleSince: now, lastRequestAt: now)
        var attributes = [
            Attribute(name: "sid", value: sid),
            Attribute(name: "wait", value: "\(wait.nanoseconds / 1_000_000_000)"),
            Attribute(name: "requests", value: "\(session.requests)"),
            Attribute(name: "hold", value: "\(hold)"),
            Attribute(name: "inactivity", value: "\(limits.inactivity.nanoseconds / 1_000_000_000)"),
            Attribute(name: "polling", value: "\(limits.polling.nanoseconds / 1_000_000_000)"),
            Attribute(name: "maxpause", value: "\(limits.maxPause.nanoseconds / 1_000_000_000)"),
            Attribute(name: "ver", value: "1.11"),
            Attribute(name: "secure", value: secure ? "true" : "false"),
            Attribute(name: "version", namespace: BOSHBody.xmppNamespace, value: "1.0"),
        ]
        // §9.1: acknowledgements were asked for; the first one is the creation request's.
        if acknowledging { attributes.append(Attribute(name: "ack", value: "\(rid)")) }
        session.creationAttributes = attributes
        session.held = [Held(id: request, rid: rid, deadline: now + wait)]
        let machine = BOSHSessionMachine(state: .active(session))
        return .success((machine, [.deliver(.streamOpened(body.streamHeader()))]))
    }

    /// The stream opened its side (`from`, stream id): the creation response says them.
    public mutating func streamHeaderSent(_ header: StreamHeader) {
        guard case .active(var session) = self.state, session.creationAttributes != nil else { return }
        for attribute in header.attributes where attribute.namespace == nil {
            switch attribute.name {
            case "from": session.creationAttributes?.append(Attribute(name: "from", value: attribute.value))
            case "id": session.creationAttributes?.append(Attribute(name: "authid", value: attribute.value))
            default: break
            }
        }
        self.state = .active(session)
    }

    /// A request of this session arrived.
    public mutating func request(_ body: BOSHBody, id: RequestID, now: NIODeadline) -> [Action] {
        switch self.state {
        case .ended:
            return [.respond(id, BOSHTerminalCondition.itemNotFound.body)]
        case .closing(let farewell, _, _):
            self.state = .ended
            return [.respond(id, farewell), .ended]
        case .active(var session):
            defer { if case .active = self.state { self.state = .active(session) } }
            guard let rid = body.rid else { return self.terminate(&session, .badRequest, also: id) }
            if rid < session.nextRID {
                return self.repeated(rid: rid, id: id, session: &session)
            }
            // §14.2: a request beyond the window means requests were lost for good.
            guard rid - session.nextRID < UInt64(session.requests) else { return self.terminate(&session, .itemNotFound, also: id) }
            var actions: [Action] = []
            if let earlier = session.early[rid] {
                // The same request again before its turn: the newer connection waits instead.
                actions.append(.respond(earlier.id, BOSHBody()))
            }
            session.early[rid] = Queued(id: id, body: body)
            // §11 overactivity: more requests outstanding than the session allows.
            if session.held.count + session.early.count > session.requests && !body.isTerminate && body["pause"] == nil {
                return actions + self.terminate(&session, .policyViolation, also: nil)
            }
            // §11: a polling session (hold 0) may not send empty requests faster than `polling`.
            if session.hold == 0, body.payload.isEmpty, !body.isTerminate, !body.isRestart, now - session.lastRequestAt < session.limits.polling {
                return actions + self.terminate(&session, .policyViolation, also: nil)
            }
            while let queued = session.early.removeValue(forKey: session.nextRID) {
                actions += self.take(queued, rid: session.nextRID, session: &session, now: now)
                session.nextRID &+= 1
            }
            // §7: no more than `hold` requests wait; the oldest go back with whatever is ready.
            while session.held.count > session.hold {
                actions.append(Self.answerOldest(&session, now: now))
            }
            if !session.output.isEmpty && !session.held.isEmpty {
                actions.append(Self.answerOldest(&session, now: now))
            }
            return actions
        }
    }

    /// The client stream wrote these elements.
    public mutating func output(_ elements: [Element], now: NIODeadline) -> [Action] {
        // After the session ended (the client left first), what the stream still says goes nowhere.
        guard case .active(var session) = self.state else { return [] }
        session.output += elements
        let actions = session.held.isEmpty ? [] : [Self.answerOldest(&session, now: now)]
        self.state = .active(session)
        return actions
    }

    /// The client stream ended, with a stream error or without: the session ends with it
    /// (XEP-0206 §7 `remote-stream-error`). `discardingOutput` when another connection
    /// took the session over (XEP-0198 resumption) and nothing more goes to this one.
    public mutating func streamEnded(error: Element?, discardingOutput: Bool = false, now: NIODeadline) -> [Action] {
        guard case .active(let session) = self.state else { return [] }
        var attributes = session.creationAttributes ?? []
        attributes.append(Attribute(name: "type", value: "terminate"))
        if error != nil { attributes.append(Attribute(name: "condition", value: BOSHTerminalCondition.remoteStreamError.rawValue)) }
        var payload = discardingOutput ? [] : session.output
        if let error { payload.append(error) }
        let farewell = BOSHBody(attributes: attributes, payload: payload)
        let waiting = session.held.map(\.id) + session.early.values.map(\.id)
        guard let first = waiting.first else {
            self.state = .closing(farewell: farewell, since: now, inactivity: session.limits.inactivity)
            return []
        }
        self.state = .ended
        var actions: [Action] = [.respond(first, farewell)]
        let plain = BOSHBody(attributes: [Attribute(name: "type", value: "terminate")])
        for id in waiting.dropFirst() { actions.append(.respond(id, plain)) }
        return actions + [.ended]
    }

    /// The stream ended because of a request the connection manager refused by itself (a body
    /// over the size limit), whose answer already said so: nothing is left to wait for.
    public mutating func endedByRefusedRequest() -> [Action] {
        guard case .closing = self.state else { return [] }
        self.state = .ended
        return [.ended]
    }

    /// Once a second or so: held requests past `wait` are answered, an idle session expires.
    public mutating func tick(now: NIODeadline) -> [Action] {
        switch self.state {
        case .ended:
            return []
        case .closing(_, let since, let inactivity):
            guard now - since >= inactivity else { return [] }
            self.state = .ended
            return [.ended]
        case .active(var session):
            var actions: [Action] = []
            while let first = session.held.first, first.deadline <= now {
                actions.append(Self.answerOldest(&session, now: now))
            }
            if session.held.isEmpty && session.early.isEmpty {
                let expiry = session.pausedUntil ?? (session.idleSince + session.limits.inactivity)
                if now >= expiry {
                    self.state = .ended
                    return actions + [.ended]
                }
            }
            self.state = .active(session)
            return actions
        }
    }

    // MARK: - Steps

    private mutating func repeated(rid: UInt64, id: RequestID, session: inout Session) -> [Action] {
        if let index = session.held.firstIndex(where: { $0.rid == rid }) {
            // Repeated while still held: the client gave up on the first connection.
            let abandoned = session.held[index].id
            session.held[index].id = id
            return [.respond(abandoned, BOSHBody())]
        }
        if let answer = session.answered.last(where: { $0.rid == rid }) {
            return [.respond(id, answer.body)]
        }
        return self.terminate(&session, .itemNotFound, also: id)
    }

    private func take(_ queued: Queued, rid: UInt64, session: inout Session, now: NIODeadline) -> [Action] {
        let body = queued.body
        var actions: [Action] = []
        session.lastRequestAt = now
        session.pausedUntil = nil
        if body.isRestart {
            actions.append(.deliver(.streamOpened(body.streamHeader(after: session.creation))))
        } else {
            for element in body.payload { actions.append(.deliver(.element(element))) }
        }
        if body.isTerminate { actions.append(.deliver(.streamClosed)) }
        session.held.append(Held(id: queued.id, rid: rid, deadline: now + session.wait))
        if let seconds = body["pause"].flatMap({ Int64($0) }), !body.isTerminate {
            // §10: the client will be away; everything held goes back now and inactivity
            // stretches to the pause.
            let pause = min(TimeAmount.seconds(max(0, seconds)), session.limits.maxPause)
            while !session.held.isEmpty { actions.append(Self.answerOldest(&session, now: now)) }
            session.pausedUntil = now + pause
        }
        return actions
    }

    private static func answerOldest(_ session: inout Session, now: NIODeadline) -> Action {
        let held = session.held.removeFirst()
        var attributes = session.creationAttributes ?? []
        session.creationAttributes = nil
        let highest = session.nextRID &- 1
        // §9.2: acknowledge when the highest request taken is not the one answered.
        if session.acknowledging && highest != held.rid && !attributes.contains(where: { $0.name == "ack" }) {
            attributes.append(Attribute(name: "ack", value: "\(highest)"))
        }
        let body = BOSHBody(attributes: attributes, payload: session.output)
        session.output.removeAll()
        session.answered.append((held.rid, body))
        if session.answered.count > session.requests { session.answered.removeFirst() }
        if session.held.isEmpty { session.idleSince = now }
        return .respond(held.id, body)
    }

    /// Ends the session with a terminal condition (XEP-0124 §17.2): every outstanding
    /// request is answered with it, and the stream learns its connection is gone.
    private mutating func terminate(_ session: inout Session, _ condition: BOSHTerminalCondition, also id: RequestID?) -> [Action] {
        var waiting = session.held.map(\.id) + session.early.values.map(\.id)
        if let id, !waiting.contains(id) { waiting.append(id) }
        self.state = .ended
        return waiting.map { .respond($0, condition.body) } + [.ended]
    }
}
