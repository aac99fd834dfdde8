import Foundation
import XMPPCore

extension AdminOperations {
    // MARK: - Sessions

    /// The bound sessions of one account, or of everyone when nil, in JID order.
    public func listSessions(of address: String? = nil) async throws(AdminError) -> [AdminSession] {
        let sessions: [(ClientSession, SessionPresence)]
        if let address {
            sessions = self.core.sessions.sessions(of: try self.account(address))
        } else {
            sessions = self.core.sessions.allSessions()
        }
        var result: [AdminSession] = []
        for (session, presence) in sessions.sorted(by: { $0.0.jid.description < $1.0.jid.description }) {
            result.append(await Self.describe(session, presence: presence))
        }
        return result
    }

    /// The accounts with at least one bound session, in address order.
    public func onlineAccounts(domain: String? = nil) -> [String] {
        let accounts = Set(self.core.sessions.allSessions().map(\.0.jid.bare).filter { domain == nil || $0.domainpart == domain })
        return accounts.map(\.description).sorted()
    }

    /// How many sessions are bound now, detached ones included.
    public var sessionCount: Int { self.core.sessions.count }

    /// Ends a session (a full JID) or every session of an account (a bare JID) with a stream
    /// error (RFC 6120 §4.9.3.14 `policy-violation` unless told otherwise); a detached session
    /// is dropped without waiting for a resume. Returns how many ended.
    @discardableResult
    public func kick(_ address: String, condition: StreamErrorCondition = .policyViolation) async throws(AdminError) -> Int {
        let jid: JID
        do {
            jid = try JID(address)
        } catch {
            throw .invalid("not a valid address: \(error.description)")
        }
        guard self.core.hosts.contains(jid.domainpart), jid.localpart != nil else { throw .invalid("\(address) is not an account of this server") }
        if jid.resourcepart != nil {
            guard let session = self.core.sessions.session(for: jid) else { throw .notFound("\(jid) has no session") }
            await self.end(session, condition: condition)
            return 1
        }
        return await self.endSessions(of: jid, condition: condition)
    }

    @discardableResult
    func endSessions(of account: JID, condition: StreamErrorCondition) async -> Int {
        let sessions = self.core.sessions.sessions(of: account)
        for (session, _) in sessions { await self.end(session, condition: condition) }
        return sessions.count
    }

    private func end(_ session: ClientSession, condition: StreamErrorCondition) async {
        self.core.logger.notice("session ended by an administrator", metadata: ["jid": "\(session.jid)", "condition": "\(condition.rawValue)"])
        if session.isDetached {
            await self.core.endDetachedSession(session)
        } else {
            session.terminate(condition)
        }
    }

    // MARK: - Announcements

    /// Sends a headline message from the session's server domain to every available session
    /// (of one hosted domain when given); returns how many sessions it was sent to.
    @discardableResult
    public func announce(subject: String?, body: String, domain: String? = nil) -> Int {
        var sent = 0
        for (session, presence) in self.core.sessions.allSessions() where presence.available {
            guard domain == nil || session.jid.domainpart == domain else { continue }
            session.deliver(Self.headline(from: session.jid.domainpart, to: session.jid, subject: subject, body: body))
            sent += 1
        }
        self.core.logger.notice("announcement sent", metadata: ["sessions": "\(sent)"])
        return sent
    }

    /// A headline message from a server domain (the form of announcements, the message of the
    /// day and the welcome message).
    public static func headline(from domain: String, to recipient: JID, subject: String?, body: String) -> Element {
        var message = Element(
            "message", namespace: XMPPNamespace.client,
            attributes: [("type", "headline"), ("from", domain), ("to", recipient.description), ("id", UUID().uuidString)])
        if let subject, !subject.isEmpty { message.append(Element("subject", namespace: XMPPNamespace.client, text: subject)) }
        message.append(Element("body", namespace: XMPPNamespace.client, text: body))
        return message
    }

    private static func describe(_ session: ClientSession, presence: SessionPresence) async -> AdminSession {
        let connection = await session.connectionInfo()
        let management: AdminStreamManagement =
            if session.isDetached { .detached } else if session.isResumable { .resumable } else if session.streamManagementID != nil { .enabled } else { .off }
        return AdminSession(
            jid: session.jid.description, account: session.jid.bare.description, resource: session.jid.resourcepart ?? "",
            address: connection?.address, transport: connection?.transport, encrypted: connection?.encrypted, client: connection?.client,
            available: presence.available, priority: presence.priority, streamManagement: management)
    }
}

/// What the connection under a session says about itself, read on its event loop.
struct SessionConnectionInfo: Sendable {
    var address: String
    var transport: AdminTransport
    var encrypted: Bool
    var client: String?
}
