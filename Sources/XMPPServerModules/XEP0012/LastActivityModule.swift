import Foundation
import XMPPCore
import XMPPServer

/// XEP-0012: the server's uptime, and when an account was last seen by those allowed to know.
public struct LastActivityModule: ServerModule {
    public let name = "last"
    private let started = Date()

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let started = self.started
        registrar.addFeature(XMPPNamespace.last)
        registrar.addFeature(XMPPNamespace.last, target: .account)
        registrar.handleIQ(.get, namespace: XMPPNamespace.last, target: .server) { _ in
            Element("query", namespace: XMPPNamespace.last, attributes: [("seconds", String(Int(Date().timeIntervalSince(started))))])
        }
        registrar.handleIQ(.get, namespace: XMPPNamespace.last, target: .account) { request in
            let account = request.to.bare
            guard try await context.storage.accounts.accountExists(account) else { throw StanzaError(.serviceUnavailable) }
            if request.from.bare != account {
                guard let item = try await context.storage.rosters.item(of: account, contact: request.from.bare), item.state.from else {
                    throw StanzaError(.forbidden)
                }
            }
            if context.sessions.isAvailable(account) {
                return Element("query", namespace: XMPPNamespace.last, attributes: [("seconds", "0")])
            }
            guard let record = try await context.storage.accountData.value(for: account, key: AccountDataKey.lastLogout) else {
                throw StanzaError(.itemNotFound)
            }
            let parts = record.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            let then = parts.first.flatMap { TimeInterval($0) } ?? Date().timeIntervalSince1970
            let status = parts.count > 1 ? String(parts[1]) : ""
            return Element("query", namespace: XMPPNamespace.last, attributes: [("seconds", String(max(0, Int(Date().timeIntervalSince1970 - then))))], text: status.isEmpty ? nil : status)
        }
    }
}
