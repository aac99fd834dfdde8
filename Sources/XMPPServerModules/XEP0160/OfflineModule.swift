import Foundation
import XMPPCore
import XMPPServer

/// XEP-0160: messages for an account with no available resource are stored durably and
/// delivered in order, with XEP-0203 delay stamps, after the next initial presence. A session
/// bound with Bind 2 catches up from the archive instead (XEP-0386 §3.2): what the archive
/// holds is not delivered to it again, what it does not hold (archiving off, prefs) still is.
public struct OfflineModule: ServerModule {
    public let name = "offline"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let quota = context.configuration.limits.maxOfflineMessages
        registrar.addFeature(XMPPNamespace.offline)

        registrar.onUndeliverableMessage { message, account in
            guard (try? await context.storage.accounts.accountExists(account)) == true else { return .notHandled }
            // Chat states and other content-free notifications are not worth keeping.
            let worthKeeping = message.child(named: "body") != nil || message.child(named: "store", namespace: "urn:xmpp:hints") != nil
            guard worthKeeping else { return .stored }
            guard message.child(named: "no-store", namespace: "urn:xmpp:hints") == nil else { return .stored }
            var stamped = message
            let now = Date()
            stamped.append(
                Element("delay", namespace: XMPPNamespace.delay, attributes: [("from", account.domainpart), ("stamp", XMPPDateTime.string(now))], text: "Offline Storage"))
            do {
                guard try await context.storage.offline.store(stamped.storedText, stamp: now, for: account, quota: quota) else {
                    return .refused(StanzaError(.resourceConstraint, text: "the recipient's offline storage is full"))
                }
                return .stored
            } catch {
                context.logger.error("cannot store an offline message", metadata: ["account": "\(account)", "error": "\(error)"])
                return .refused(StanzaError(.internalServerError))
            }
        }

        registrar.onEvent { event in
            guard case .initialPresence(let session) = event else { return }
            guard let presence = context.sessions.presence(of: session), presence.priority >= 0 else { return }
            let account = session.jid.bare
            guard let messages = try? await context.storage.offline.messages(for: account), let last = messages.last else { return }
            for stored in messages {
                guard var message = Element.parse(stored.stanza) else { continue }
                if session.catchesUpFromArchive, await Self.archiveHolds(message, account: account, context: context) { continue }
                message[attribute: "to"] = session.jid.description
                session.deliver(message)
            }
            try? await context.storage.offline.remove(throughID: last.id, for: account)
        }
    }

    /// The message carries the XEP-0359 stanza-id the archive gave it for this account, and
    /// the archive still has that message (retention may have removed it since).
    static func archiveHolds(_ message: Element, account: JID, context: ModuleContext) async -> Bool {
        let accountName = account.description
        guard let id = message.elements.first(where: { $0.name == "stanza-id" && $0.namespace == "urn:xmpp:sid:0" && $0[attribute: "by"] == accountName })?[attribute: "id"]
        else { return false }
        return (try? await context.storage.archive.message(id: id, for: account)) != nil
    }
}
