import Crypto
import Foundation
import NIOConcurrencyHelpers
import XMPPCore

/// The admin web UI's browser sessions. A browser gets a session (and its CSRF token) when it
/// first asks for the login page; logging in replaces it with a new one for the administrator,
/// so a cookie planted before the login is worth nothing after it (session fixation). Sessions
/// live in memory only — a restart logs everyone out — and are found by the SHA-256 of the
/// cookie value, so not even a memory dump holds a usable cookie.
final class AdminWebSessions: Sendable {
    static let cookieName = "starling_admin"
    /// An idle session ends after this long; any session after `absoluteLifetime`.
    static let idleLifetime: TimeInterval = 30 * 60
    static let absoluteLifetime: TimeInterval = 12 * 3600
    /// At most this many sessions of each kind are kept: a flood of login-page visits evicts
    /// the oldest visitors' sessions, never an administrator's.
    static let capacity = 1000

    struct Session: Sendable, Equatable {
        /// Nil until an administrator logs in with the session.
        var account: JID?
        /// What the account's password was at login (`AdminOperations.credentialStamp`): a new
        /// password, or the account's deletion, ends the session.
        var credentialStamp: String?
        var csrfToken: String
        var created: Date
        var lastSeen: Date
        /// What the last action left for the next page to say; shown once.
        var notice: Notice?
    }

    struct Notice: Sendable, Equatable {
        var text: String
        var isError = false
    }

    private let sessions = NIOLockedValueBox([String: Session]())

    /// A new session for a browser that has none; returns its cookie value.
    func begin(account: JID? = nil, credentialStamp: String? = nil, now: Date = Date()) -> (cookie: String, session: Session) {
        let cookie = Self.randomToken()
        let session = Session(account: account, credentialStamp: credentialStamp, csrfToken: Self.randomToken(), created: now, lastSeen: now)
        self.sessions.withLockedValue { sessions in
            sessions = sessions.filter { Self.isLive($0.value, now: now) }
            let sameKind = sessions.filter { ($0.value.account == nil) == (account == nil) }
            if sameKind.count >= Self.capacity, let oldest = sameKind.min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                sessions[oldest.key] = nil
            }
            sessions[Self.key(cookie)] = session
        }
        return (cookie, session)
    }

    /// The live session the cookie names, seen now, with its notice (which it gives up); nil
    /// for an unknown or expired one.
    func session(cookie: String, now: Date = Date()) -> Session? {
        let key = Self.key(cookie)
        return self.sessions.withLockedValue { sessions in
            guard var session = sessions[key] else { return nil }
            guard Self.isLive(session, now: now) else {
                sessions[key] = nil
                return nil
            }
            session.lastSeen = now
            sessions[key] = session
            sessions[key]?.notice = nil
            return session
        }
    }

    /// Leaves a notice for the session's next page (after an action's redirect).
    func leave(_ notice: Notice, for cookie: String) {
        let key = Self.key(cookie)
        self.sessions.withLockedValue { sessions in sessions[key]?.notice = notice }
    }

    /// Ends the cookie's session and begins one for the administrator (a new cookie and token).
    func logIn(replacing cookie: String?, account: JID, credentialStamp: String?, now: Date = Date()) -> (cookie: String, session: Session) {
        if let cookie { self.end(cookie: cookie) }
        return self.begin(account: account, credentialStamp: credentialStamp, now: now)
    }

    func end(cookie: String) {
        _ = self.sessions.withLockedValue { $0.removeValue(forKey: Self.key(cookie)) }
    }

    /// Ends every session of an account (it was disabled, deleted or lost its admin rights).
    func end(account: JID) {
        self.sessions.withLockedValue { sessions in sessions = sessions.filter { $0.value.account != account.bare } }
    }

    /// Whether a form's token is the session's, compared in constant time.
    static func csrfMatches(_ presented: String?, _ session: Session) -> Bool {
        guard let presented else { return false }
        let lhs = Array(presented.utf8)
        let rhs = Array(session.csrfToken.utf8)
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private static func isLive(_ session: Session, now: Date) -> Bool {
        now.timeIntervalSince(session.lastSeen) < Self.idleLifetime && now.timeIntervalSince(session.created) < Self.absoluteLifetime
    }

    private static func key(_ cookie: String) -> String {
        Base16.encode(SHA256.hash(data: Data(cookie.utf8)))
    }

    /// 256 random bits, hex.
    private static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base16.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}
