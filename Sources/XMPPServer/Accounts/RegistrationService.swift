import Foundation
import XMPPCore
import XMPPStorage

/// In-band registration before authentication (XEP-0077 §3.1), with a limit per IP address.
final class RegistrationService: @unchecked Sendable {
    static let namespace = "jabber:iq:register"

    private let accounts: AccountManager
    private let perHour: Int
    private let recent = LockedBox<[String: [Date]]>([:])
    /// Tells modules of the new account (the welcome message).
    private let created: @Sendable (JID) async -> Void

    init(accounts: AccountManager, perHour: Int, created: @escaping @Sendable (JID) async -> Void = { _ in }) {
        self.accounts = accounts
        self.perHour = perHour
        self.created = created
    }

    /// Answers a registration IQ for the stream's domain.
    func answer(_ request: Element, domain: String, address: String) async -> Element {
        switch request.stanzaType {
        case "get":
            var query = Element(name: "query", namespace: Self.namespace)
            query.append(Element("instructions", namespace: Self.namespace, text: "Choose a username and password."))
            query.append(Element(name: "username", namespace: Self.namespace))
            query.append(Element(name: "password", namespace: Self.namespace))
            return request.iqResult(payload: query)
        case "set":
            guard let query = request.iqPayload else { return request.errorReply(StanzaError(.badRequest)) }
            if query.child(named: "remove") != nil {
                return request.errorReply(StanzaError(.notAuthorized, text: "log in to remove an account"))
            }
            guard let username = query.child(named: "username")?.text, !username.isEmpty,
                let password = query.child(named: "password")?.text, !password.isEmpty
            else {
                return request.errorReply(StanzaError(.badRequest, text: "a username and a password are required"))
            }
            guard self.allow(address) else {
                return request.errorReply(StanzaError(.resourceConstraint, text: "too many registrations from this address; try again later"))
            }
            do {
                let account = try await self.accounts.create("\(username)@\(domain)", password: password)
                await self.created(account)
                return request.iqResult()
            } catch {
                switch error {
                case .storage(.accountExists): return request.errorReply(StanzaError(.conflict, text: "that username is taken"))
                case .storage(.confusable): return request.errorReply(StanzaError(.conflict, text: error.description))
                case .malformedAddress, .username: return request.errorReply(StanzaError(.notAcceptable, text: error.description))
                case .password: return request.errorReply(StanzaError(.notAcceptable, text: error.description))
                default: return request.errorReply(StanzaError(.internalServerError))
                }
            }
        default:
            return request.errorReply(StanzaError(.badRequest))
        }
    }

    /// A sliding one-hour window per address.
    private func allow(_ address: String) -> Bool {
        let now = Date()
        return self.recent.withLock { recent in
            var times = (recent[address] ?? []).filter { now.timeIntervalSince($0) < 3600 }
            guard times.count < self.perHour else {
                recent[address] = times
                return false
            }
            times.append(now)
            recent[address] = times
            return true
        }
    }
}
