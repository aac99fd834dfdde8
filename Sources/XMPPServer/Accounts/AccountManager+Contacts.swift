import XMPPCore
import XMPPStorage

extension AccountManager {
    /// After an account is deleted without a server to tell its contacts (`starling deluser`,
    /// with the server stopped or running in another process), each local contact's stored
    /// item for it changes as if the contact had received `unsubscribed` and `unsubscribe`
    /// from it (RFC 6121 Appendix A.3), and takes a new roster version. An item that only
    /// remembered a request from the account goes.
    ///
    /// Nothing is sent: connected contacts see the change at their next roster request, not as
    /// a push, and no `unavailable` presence; remote contacts are not told at all.
    func releaseLocalContacts(of account: JID, records: [RosterItem], rosters: any RosterStore) async throws {
        for record in records where self.hosts.contains(record.jid.domainpart) {
            guard var item = try await rosters.item(of: record.jid, contact: account) else { continue }
            var state = item.state
            if record.state.from || record.state.pendingIn { state = state.inboundUnsubscribed().state }
            if record.state.to || record.state.pendingOut { state = state.inboundUnsubscribe().state }
            if !item.inRoster && !state.pendingIn {
                try await rosters.removeItem(account, of: record.jid)
            } else if state != item.state {
                item.state = state
                if !state.pendingIn { item.pendingRequest = nil }
                try await rosters.setItem(item, of: record.jid)
            }
        }
    }
}
