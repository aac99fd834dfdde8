import Foundation
import XMPPCore

/// The sessions of multi-stage ad-hoc commands (XEP-0050 §3.4): which command a session
/// runs, for whom, at which stage, with which actions allowed next. A value type with the
/// time passed in, so its rules are tested without a server. Sessions are bounded in number
/// (overall and per requester) and expire when left alone.
public struct AdHocSessionTable: Sendable {
    public struct Session: Sendable, Hashable {
        public var id: String
        public var node: String
        /// The full JID that started it; nobody else may continue it (§4.4).
        public var owner: JID
        /// 1 after the first form was sent, and one more for each form after it.
        public var stage: Int
        /// What the last form allows, and what `execute` means now.
        public var actions: Set<AdHocAction>
        public var defaultAction: AdHocAction
        public var expires: Date
    }

    /// What to do with a request.
    public enum Resolution: Sendable, Hashable {
        /// A new run of the command (no session yet).
        case start
        /// The next stage of a session, with `execute` replaced by the default action.
        case resume(Session, action: AdHocAction)
        /// The requester cancelled; the session is gone.
        case canceled(Session)
        case refused(AdHocFailure)
    }

    public let maxSessions: Int
    public let maxSessionsPerRequester: Int
    public let lifetime: TimeInterval
    private(set) var sessions: [String: Session] = [:]

    public init(maxSessions: Int = 1000, maxSessionsPerRequester: Int = 10, lifetime: TimeInterval = 600) {
        self.maxSessions = maxSessions
        self.maxSessionsPerRequester = maxSessionsPerRequester
        self.lifetime = lifetime
    }

    public var count: Int { self.sessions.count }

    /// Decides what a `<command/>` asks for. `action` is nil when the attribute is absent
    /// (it means `execute`, §3.4).
    public mutating func resolve(node: String, sessionID: String?, action: AdHocAction?, requester: JID, now: Date) -> Resolution {
        let action = action ?? .execute
        guard let sessionID else {
            // Only `execute` starts a command; anything else needs a session to act on.
            return action == .execute ? .start : .refused(.badSessionID)
        }
        guard let session = self.sessions[sessionID], session.node == node, session.owner == requester else {
            return .refused(.badSessionID)
        }
        guard now < session.expires else {
            self.sessions[sessionID] = nil
            return .refused(.sessionExpired)
        }
        if action == .cancel {
            self.sessions[sessionID] = nil
            return .canceled(session)
        }
        let chosen = action == .execute ? session.defaultAction : action
        guard session.actions.contains(chosen) else { return .refused(.badAction) }
        return .resume(session, action: chosen)
    }

    /// Opens a session after the first form of a command, or moves an open one on to its
    /// next form. Fails when too many are open (expired ones are dropped first).
    public mutating func open(
        _ id: String, node: String, owner: JID, actions: Set<AdHocAction>, defaultAction: AdHocAction, now: Date
    ) -> AdHocFailure? {
        let expires = now.addingTimeInterval(self.lifetime)
        if var session = self.sessions[id] {
            session.stage += 1
            session.actions = actions
            session.defaultAction = defaultAction
            session.expires = expires
            self.sessions[id] = session
            return nil
        }
        self.removeExpired(now: now)
        guard self.sessions.count < self.maxSessions,
            self.sessions.values.count(where: { $0.owner.bare == owner.bare }) < self.maxSessionsPerRequester
        else { return .tooManySessions }
        self.sessions[id] = Session(id: id, node: node, owner: owner, stage: 1, actions: actions, defaultAction: defaultAction, expires: expires)
        return nil
    }

    /// The command completed (or failed): its session ends.
    public mutating func finish(_ id: String) {
        self.sessions[id] = nil
    }

    public mutating func removeExpired(now: Date) {
        self.sessions = self.sessions.filter { now < $0.value.expires }
    }
}

/// The actions of XEP-0050 §3.4.
public enum AdHocAction: String, Sendable, Hashable, CaseIterable {
    case execute, next, prev, complete, cancel
}

/// The errors of XEP-0050 §4.6, each with its stanza error and application condition.
public enum AdHocFailure: Error, Sendable, Hashable {
    case malformedAction
    case badAction
    case badSessionID
    case sessionExpired
    case tooManySessions

    public var stanzaError: StanzaError {
        switch self {
        case .malformedAction: StanzaError(.badRequest, applicationCondition: Self.condition("malformed-action"))
        case .badAction: StanzaError(.badRequest, applicationCondition: Self.condition("bad-action"))
        case .badSessionID: StanzaError(.badRequest, applicationCondition: Self.condition("bad-sessionid"))
        case .sessionExpired: StanzaError(.notAllowed, applicationCondition: Self.condition("session-expired"))
        case .tooManySessions: StanzaError(.resourceConstraint, text: "too many command sessions are open; finish or cancel some")
        }
    }

    private static func condition(_ name: String) -> Element {
        Element(name: name, namespace: AdHocNamespace.commands)
    }
}

enum AdHocNamespace {
    static let commands = "http://jabber.org/protocol/commands"
}
