import Logging
import Synchronization
import XMPPCore

/// Where a stanza entered the router.
public enum StanzaOrigin: Sendable {
    /// A local client sent it (its `from` is stamped and trusted).
    case client(ClientSession)
    /// The server or one of its modules produced it.
    case server
    /// A federated server sent it over an authenticated stream for this domain.
    case remote(String)
    /// An external component (XEP-0114) sent it from its own domain.
    case component(String)
}

/// Delivers stanzas by their `to` address (RFC 6120 §10, RFC 6121 §8). The route table says
/// where a domain goes: a hosted account domain (a local session, or a module acting for the
/// server or an account), a service a module owns, an external component, or federation;
/// whatever cannot be delivered goes back to the sender as an error.
///
/// Modules take part through the hooks in `ModuleRegistrar`: outbound hooks see what local
/// clients send, inbound hooks what arrives for local accounts, filters decide in one place
/// whether a stanza may pass between an account and a peer, and undeliverable hooks keep
/// messages for accounts that are offline.
public final class Router: @unchecked Sendable {
    /// Where sessions are; the router never asks anything else about them.
    let sessions: any SessionDirectory
    let routes: RouteTable
    let components: ComponentRegistry
    let logger: Logger
    var registrar: ModuleRegistrar?
    /// Federation; nil when the server has no s2s listener or certificate.
    var s2s: S2SManager?
    /// Streams' routing tasks under way: shutdown waits for them before the event loops stop,
    /// since each ends by scheduling on its stream's loop.
    let routingTasks = Atomic<Int>(0)
    /// Messages routed since the server started, for the admin dashboard's messages/s.
    let messagesRouted = Atomic<Int>(0)
    /// Counted by the streams' routing queues, which every stream's stanzas pass through.
    let metrics: ServerMetrics

    init(sessions: any SessionDirectory, routes: RouteTable, logger: Logger, metrics: ServerMetrics) {
        self.sessions = sessions
        self.routes = routes
        self.components = ComponentRegistry()
        self.logger = logger
        self.metrics = metrics
    }

    /// Routes a stanza whose `from` is already stamped and trusted.
    public func route(_ stanza: Element, origin: StanzaOrigin) async {
        guard let kind = stanza.stanzaKind else { return }
        if kind == .message { self.messagesRouted.add(1, ordering: .relaxed) }
        var stanza = stanza
        if case .client(let session) = origin {
            for (_, hook) in self.registrar?.outboundHooks[kind] ?? [] {
                switch await hook(stanza, session) {
                case .handled: return
                case .continue(let changed): stanza = changed
                }
            }
            if let to = stanza.to, to.bare != session.jid.bare, to.localpart != nil || to.domainpart != session.jid.domainpart {
                switch await self.applyFilters(stanza, .outbound, account: session.jid.bare) {
                case .allow: break
                case .drop: return
                case .refuse(let error):
                    await self.bounce(stanza, error)
                    return
                }
            }
        }
        guard let to = stanza.to ?? stanza.from?.bare else { return }
        switch self.routes.route(for: to.domainpart) {
        case .hosted:
            if to.localpart == nil {
                if to.resourcepart != nil {
                    await self.bounce(stanza, StanzaError(.serviceUnavailable))
                    return
                }
                await self.routeToServer(stanza, kind: kind, domain: to, origin: origin)
                return
            }
            await self.deliverToAccount(stanza, kind: kind, to: to, origin: origin)
        case .service(let service):
            await self.deliverToService(stanza, service: service, to: to)
        case .component(let domain):
            await self.deliverToComponent(stanza, domain: domain)
        case .remote:
            if case .remote = origin {
                // We relay for nobody: a remote server may only address our domains.
                return
            }
            guard let s2s = self.s2s else {
                await self.bounce(stanza, StanzaError(.remoteServerNotFound))
                return
            }
            s2s.send(stanza)
        }
    }

    /// The router answers disco#info about the service domain itself; everything else
    /// addressed to the domain or a JID in it is the service's.
    private func deliverToService(_ stanza: Element, service: HostedService, to: JID) async {
        if to.localpart == nil, to.resourcepart == nil, stanza.stanzaKind == .iq, stanza.stanzaType == "get",
            let payload = stanza.iqPayload, payload.namespace == XMPPNamespace.discoInfo, payload[attribute: "node"] == nil
        {
            var info = DiscoInfo.result(identities: [service.identity], features: service.features)
            for form in service.extensions { info.append(form) }
            await self.route(stanza.iqResult(payload: info), origin: .server)
            return
        }
        await service.handler(stanza)
    }

    /// A component that is not connected cannot take anything (XEP-0114); neither can one
    /// whose connection drops before the stanza was written.
    private func deliverToComponent(_ stanza: Element, domain: String) async {
        guard let link = self.components.link(for: domain) else {
            await self.bounce(stanza, StanzaError(.serviceUnavailable, text: "the component \(domain) is not connected"))
            return
        }
        // Told on the component's event loop, after the router has moved on.
        link.send(stanza) { [self] undelivered in
            Task { await self.bounce(undelivered, StanzaError(.serviceUnavailable, text: "the component \(domain) disconnected")) }
        }
    }

    /// The one place where blocking and privacy rules are asked.
    func applyFilters(_ stanza: Element, _ direction: StanzaDirection, account: JID) async -> FilterVerdict {
        for filter in self.registrar?.filters ?? [] {
            let verdict = await filter(stanza, direction, account)
            if verdict != .allow { return verdict }
        }
        return .allow
    }

    func emit(_ event: ServerEvent) async {
        for handler in self.registrar?.eventHandlers ?? [] {
            await handler(event)
        }
    }

    // MARK: - Server and account addressed stanzas

    private func routeToServer(_ stanza: Element, kind: StanzaKind, domain: JID, origin: StanzaOrigin) async {
        switch kind {
        case .iq:
            await self.dispatchIQ(stanza, target: .server, to: domain, origin: origin)
        case .message:
            if stanza.stanzaType != "headline" && stanza.stanzaType != "error" {
                await self.bounce(stanza, StanzaError(.serviceUnavailable))
            }
        case .presence:
            break
        }
    }

    private func dispatchIQ(_ stanza: Element, target: IQTarget, to: JID, origin: StanzaOrigin) async {
        guard let typeString = stanza.stanzaType, let type = IQType(rawValue: typeString) else {
            // Results and errors addressed to the server or an account end here.
            return
        }
        guard let payload = stanza.iqPayload, let from = stanza.from else {
            await self.bounce(stanza, StanzaError(.badRequest))
            return
        }
        guard let handler = self.handler(for: type, namespace: payload.namespace, target: target, to: to, from: from) else {
            await self.bounce(stanza, StanzaError(.serviceUnavailable))
            return
        }
        var session: ClientSession?
        if case .client(let client) = origin { session = client }
        let request = IQRequest(stanza: stanza, payload: payload, from: from, to: to, type: type, session: session)
        do {
            let result = try await handler(request)
            var reply = stanza.iqResult(payload: result)
            if target == .account && to.bare == from.bare && stanza.to == nil {
                reply[attribute: "from"] = nil
            }
            await self.route(reply, origin: .server)
        } catch let error as StanzaError {
            await self.bounce(stanza, error)
        } catch is IQAlreadyAnswered {
            return
        } catch {
            self.logger.error("IQ handler failed", metadata: ["namespace": "\(payload.namespace)", "error": "\(error)"])
            await self.bounce(stanza, StanzaError(.internalServerError))
        }
    }

    /// The handler for an IQ. What an account sends to itself — without `to` (RFC 6120
    /// §10.3.3) or to its own bare JID (RFC 6121 §8.5.1) — is for the server to handle on its
    /// behalf, so a namespace no module handles for accounts falls back to the server's own
    /// handler: a keepalive ping without `to` is answered as one to the domain. Only the
    /// account itself gets this; another account's bare JID is not the server.
    private func handler(for type: IQType, namespace: String, target: IQTarget, to: JID, from: JID) -> IQHandler? {
        guard let registrar = self.registrar else { return nil }
        if let handler = registrar.handler(for: type, namespace: namespace, target: target) { return handler }
        guard target == .account, to.bare == from.bare else { return nil }
        return registrar.handler(for: type, namespace: namespace, target: .server)
    }

    // MARK: - Local accounts

    private func deliverToAccount(_ stanza: Element, kind: StanzaKind, to: JID, origin: StanzaOrigin) async {
        var stanza = stanza
        if let from = stanza.from, from.bare != to.bare {
            switch await self.applyFilters(stanza, .inbound, account: to.bare) {
            case .allow: break
            case .drop: return
            case .refuse(let error):
                await self.bounce(stanza, error)
                return
            }
        }
        for (_, hook) in self.registrar?.inboundHooks[kind] ?? [] {
            switch await hook(stanza, to.bare) {
            case .handled: return
            case .continue(let changed): stanza = changed
            }
        }
        if kind == .iq, to.isBare {
            await self.dispatchIQ(stanza, target: .account, to: to, origin: origin)
            return
        }
        await self.deliver(stanza, kind: kind, to: to)
    }

    private func deliver(_ stanza: Element, kind: StanzaKind, to: JID) async {
        if to.isFull {
            if let session = self.sessions.locate(to) {
                session.deliver(stanza)
                return
            }
            switch kind {
            case .message:
                // RFC 6121 §8.5.3.2.1: a message to an unavailable resource is treated as sent to the bare JID.
                switch stanza.stanzaType {
                case "groupchat": await self.bounce(stanza, StanzaError(.serviceUnavailable))
                case "headline", "error": break
                default: await self.deliverMessageToBareJID(stanza, to: to.bare)
                }
            case .iq:
                await self.bounce(stanza, StanzaError(.serviceUnavailable))
            case .presence:
                break
            }
            return
        }
        switch kind {
        case .iq:
            await self.bounce(stanza, StanzaError(.serviceUnavailable))
        case .message:
            await self.deliverMessageToBareJID(stanza, to: to)
        case .presence:
            for (session, presence) in self.sessions.locateAll(of: to) where presence.available {
                session.deliver(stanza)
            }
        }
    }

    /// RFC 6121 §8.5.2: the available resources with the highest non-negative priority, or
    /// offline storage, or an error.
    private func deliverMessageToBareJID(_ stanza: Element, to: JID) async {
        let type = stanza.stanzaType ?? "normal"
        if type == "headline" {
            for (session, presence) in self.sessions.locateAll(of: to) where presence.available && presence.priority >= 0 {
                session.deliver(stanza)
            }
            return
        }
        if type == "groupchat" || type == "error" {
            if type == "groupchat" { await self.bounce(stanza, StanzaError(.serviceUnavailable)) }
            return
        }
        let recipients = self.sessions.messageRecipients(of: to)
        if !recipients.isEmpty {
            for session in recipients { session.deliver(stanza) }
            return
        }
        for hook in self.registrar?.undeliverableHooks ?? [] {
            switch await hook(stanza, to) {
            case .stored: return
            case .refused(let error):
                await self.bounce(stanza, error)
                return
            case .notHandled: continue
            }
        }
        await self.bounce(stanza, StanzaError(.serviceUnavailable))
    }

    /// Messages a session never acknowledged go where a message to the account would go now
    /// (another resource, or offline storage): never lost, never silently dropped.
    func rerouteUnacknowledged(of session: ClientSession) async {
        for stanza in session.takeUnacked() where stanza.stanzaKind == .message {
            let type = stanza.stanzaType ?? "normal"
            guard type == "chat" || type == "normal" else { continue }
            var message = stanza
            message[attribute: "to"] = session.jid.bare.description
            await self.deliverMessageToBareJID(message, to: session.jid.bare)
        }
    }

    // MARK: - Errors

    /// Answers a stanza with an error, never answering an error (RFC 6120 §8.3.1).
    func bounce(_ stanza: Element, _ error: StanzaError) async {
        guard !stanza.isErrorStanza, stanza.stanzaType != "result" else { return }
        guard stanza.from != nil else { return }
        let reply = stanza.errorReply(error)
        guard let to = reply.to else { return }
        switch self.routes.route(for: to.domainpart) {
        case .hosted:
            guard to.localpart != nil else { return }
            if let session = self.sessions.locate(to) {
                session.deliver(reply)
            } else if to.isBare, let (session, _) = self.sessions.locateAll(of: to).first {
                session.deliver(reply)
            }
        case .service(let service):
            await service.handler(reply)
        case .component(let domain):
            // An error about an error is never sent: what the component cannot take is dropped.
            self.components.link(for: domain)?.send(reply) { _ in }
        case .remote:
            self.s2s?.send(reply)
        }
    }
}
