import XMPPCore
import XMPPServer

/// XEP-0191: blocking command — block, unblock, unblock all, pushes to the resources that
/// asked for the list; enforced by `CommunicationPolicy`'s filter in the router.
public struct BlockingModule: ServerModule {
    public let name = "blocking"
    let policy: CommunicationPolicy

    public init(policy: CommunicationPolicy) {
        self.policy = policy
    }

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let policy = self.policy
        let limit = context.configuration.limits.maxBlockedItems
        policy.attach(to: registrar)
        registrar.addFeature(XMPPNamespace.blocking)
        registrar.addFeature(XMPPNamespace.blocking, target: .account)

        registrar.handleIQ(.get, namespace: XMPPNamespace.blocking, target: .account) { request in
            guard request.from.bare == request.to.bare, request.payload.name == "blocklist" else { throw StanzaError(.badRequest) }
            if let session = request.session {
                context.sessions.updatePresence(of: session) { $0.moduleState[CommunicationPolicy.blocklistRequestedKey] = true }
            }
            let blocked = await policy.policy(for: request.from.bare, context: context).blocked
            return Element("blocklist", namespace: XMPPNamespace.blocking, children: blocked.map(Self.item))
        }

        registrar.handleIQ(.set, namespace: XMPPNamespace.blocking, target: .account) { request in
            let account = request.from.bare
            guard account == request.to.bare else { throw StanzaError(.forbidden) }
            let command = request.payload.name
            guard command == "block" || command == "unblock" else { throw StanzaError(.badRequest) }
            var jids: [JID] = []
            for item in request.payload.children(named: "item", namespace: XMPPNamespace.blocking) {
                guard let text = item[attribute: "jid"], let jid = try? JID(text) else { throw StanzaError(.jidMalformed) }
                jids.append(jid)
            }
            if command == "block" && jids.isEmpty { throw StanzaError(.badRequest, text: "name at least one JID to block") }
            var changed: [JID] = []
            try await policy.update(account, context: context) { state in
                if command == "block" {
                    for jid in jids where !state.blocked.contains(jid) {
                        state.blocked.append(jid)
                        changed.append(jid)
                    }
                    guard state.blocked.count <= limit else { throw StanzaError(.resourceConstraint, text: "at most \(limit) blocked addresses") }
                } else if jids.isEmpty {
                    changed = state.blocked
                    state.blocked = []
                } else {
                    changed = jids.filter(state.blocked.contains)
                    state.blocked.removeAll(where: jids.contains)
                }
            }
            var push = Element(name: command, namespace: XMPPNamespace.blocking)
            if !(command == "unblock" && jids.isEmpty) { push.append(contentsOf: jids.map(Self.item)) }
            for (session, presence) in context.sessions.sessions(of: account) where presence.moduleState[CommunicationPolicy.blocklistRequestedKey] != nil {
                var iq = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "block-push-\(UInt32.random(in: 0...UInt32.max))")])
                iq[attribute: "to"] = session.jid.description
                iq.append(push)
                session.deliver(iq)
            }
            await Self.updatePresence(of: account, toward: changed, blocked: command == "block", context: context)
            return nil
        }
    }

    static func item(_ jid: JID) -> Element {
        Element("item", namespace: XMPPNamespace.blocking, attributes: [("jid", jid.description)])
    }

    /// XEP-0191 §3.3/§3.4: a newly blocked subscriber sees the user go offline; an unblocked one
    /// gets the user's current presence again.
    static func updatePresence(of account: JID, toward contacts: [JID], blocked: Bool, context: ModuleContext) async {
        let records = (try? await context.storage.rosters.allRecords(of: account)) ?? []
        let available = context.sessions.sessions(of: account).filter { $0.1.available }
        for contact in contacts {
            guard let item = records.first(where: { $0.jid == contact.bare }), item.state.from else { continue }
            for (session, presence) in available {
                if blocked {
                    var unavailable = Element("presence", namespace: XMPPNamespace.client, attributes: [("type", "unavailable")])
                    unavailable[attribute: "from"] = session.jid.description
                    unavailable[attribute: "to"] = contact.description
                    await context.route(unavailable)
                } else if var last = presence.lastPresence {
                    last[attribute: "from"] = session.jid.description
                    last[attribute: "to"] = contact.description
                    await context.route(last)
                }
            }
        }
    }
}
