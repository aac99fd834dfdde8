import XMPPCore

/// Where a bound session lives. Every session is in this process today; a cluster node adds
/// a case for sessions held by another node (and a way to forward to it) without changing
/// the router, which only ever asks a `SessionDirectory`.
public enum SessionLocation: Sendable {
    case local(ClientSession)

    /// Hands the stanza to the session wherever it is.
    public func deliver(_ stanza: Element) {
        switch self {
        case .local(let session): session.deliver(stanza)
        }
    }
}

/// Answers "where are the sessions of this JID?" for the router.
public protocol SessionDirectory: Sendable {
    /// The session bound to a full JID.
    func locate(_ full: JID) -> SessionLocation?
    /// Every session of an account, with its presence.
    func locateAll(of account: JID) -> [(SessionLocation, SessionPresence)]
    /// Who gets a chat or normal message sent to the bare JID (RFC 6121 §8.5.2.1.1).
    func messageRecipients(of account: JID) -> [SessionLocation]
}
