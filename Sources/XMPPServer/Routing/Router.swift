import Logging
import XMPPCore

/// Delivers stanzas by their `to` address (RFC 6120 §10, RFC 6121 §8): to a local session,
/// to a module acting for the server or an account, or back to the sender as an error.
public final class Router: @unchecked Sendable {
    let sessions: SessionManager
    let hosts: Set<String>
    let logger: Logger
    var registrar: ModuleRegistrar?

    init(sessions: SessionManager, hosts: Set<String>, logger: Logger) {
        self.sessions = sessions
        self.hosts = hosts
        self.logger = logger
    }

    /// Routes a stanza whose `from` is already stamped and trusted.
    public func route(_ stanza: Element) {
        guard let kind = stanza.stanzaKind else { return }
        let to = stanza.to ?? stanza.from?.bare
        guard let to else { return }
        guard self.hosts.contains(to.domainpart) else {
            // Federation arrives with issue 4; until then remote domains are unreachable.
            self.bounce(stanza, StanzaError(.remoteServerNotFound))
            return
        }
        if to.localpart == nil {
            if to.resourcepart != nil {
                self.bounce(stanza, StanzaError(.serviceUnavailable))
                return
            }
            self.routeToServer(stanza, kind: kind, domain: to)
            return
        }
        if to.isFull {
            self.routeToFullJID(stanza, kind: kind, to: to)
        } else {
            self.routeToBareJID(stanza, kind: kind, to: to)
        }
    }

    // MARK: - Server and account addressed stanzas

    private func routeToServer(_ stanza: Element, kind: StanzaKind, domain: JID) {
        switch kind {
        case .iq:
            self.dispatchIQ(stanza, target: .server, to: domain)
        case .message:
            // No module consumes messages to the server yet; RFC 6121 §8.5.1 lets us reply.
            if stanza.stanzaType != "headline" { self.bounce(stanza, StanzaError(.serviceUnavailable)) }
        case .presence:
            break
        }
    }

    private func dispatchIQ(_ stanza: Element, target: IQTarget, to: JID) {
        guard let typeString = stanza.stanzaType else { return }
        guard let type = IQType(rawValue: typeString) else {
            // Results and errors addressed to the server or an account end here.
            return
        }
        guard let payload = stanza.iqPayload, let from = stanza.from else {
            self.bounce(stanza, StanzaError(.badRequest))
            return
        }
        guard let handler = self.registrar?.handler(for: type, namespace: payload.namespace, target: target) else {
            self.bounce(stanza, StanzaError(.serviceUnavailable))
            return
        }
        let request = IQRequest(stanza: stanza, payload: payload, from: from, to: to, type: type)
        Task {
            do {
                let result = try await handler(request)
                self.route(stanza.iqResult(payload: result))
            } catch let error as StanzaError {
                self.bounce(stanza, error)
            } catch {
                self.logger.error("IQ handler failed", metadata: ["namespace": "\(payload.namespace)", "error": "\(error)"])
                self.bounce(stanza, StanzaError(.internalServerError))
            }
        }
    }

    // MARK: - Local accounts

    private func routeToFullJID(_ stanza: Element, kind: StanzaKind, to: JID) {
        if let session = self.sessions.session(for: to) {
            session.deliver(stanza)
            return
        }
        switch kind {
        case .message:
            // RFC 6121 §8.5.3.2.1: a message to an unavailable resource is treated as sent to the bare JID.
            if stanza.stanzaType == "groupchat" || stanza.stanzaType == "headline" {
                if stanza.stanzaType == "groupchat" { self.bounce(stanza, StanzaError(.serviceUnavailable)) }
                return
            }
            self.routeToBareJID(stanza, kind: kind, to: to.bare)
        case .iq:
            if stanza.stanzaType == "get" || stanza.stanzaType == "set" {
                self.bounce(stanza, StanzaError(.serviceUnavailable))
            }
        case .presence:
            break
        }
    }

    private func routeToBareJID(_ stanza: Element, kind: StanzaKind, to: JID) {
        switch kind {
        case .iq:
            self.dispatchIQ(stanza, target: .account, to: to)
        case .message:
            self.deliverMessageToBareJID(stanza, to: to)
        case .presence:
            // Directed presence to an account goes to each of its available resources (RFC 6121 §8.5.2.1.2).
            for (session, presence) in self.sessions.sessions(of: to) where presence.available {
                session.deliver(stanza)
            }
        }
    }

    /// RFC 6121 §8.5.2: the available resources with the highest non-negative priority.
    private func deliverMessageToBareJID(_ stanza: Element, to: JID) {
        let type = stanza.stanzaType ?? "normal"
        let candidates = self.sessions.sessions(of: to).filter { $0.1.available && $0.1.priority >= 0 }
        if type == "headline" {
            for (session, _) in candidates { session.deliver(stanza) }
            return
        }
        if type == "groupchat" || type == "error" {
            if type == "groupchat" { self.bounce(stanza, StanzaError(.serviceUnavailable)) }
            return
        }
        guard let highest = candidates.map(\.1.priority).max() else {
            // Offline storage arrives with issue 3; until then the sender is told.
            self.bounce(stanza, StanzaError(.serviceUnavailable))
            return
        }
        for (session, presence) in candidates where presence.priority == highest {
            session.deliver(stanza)
        }
    }

    // MARK: - Errors

    /// Answers a stanza with an error, never answering an error (RFC 6120 §8.3.1).
    func bounce(_ stanza: Element, _ error: StanzaError) {
        guard !stanza.isErrorStanza, stanza.stanzaType != "result" else { return }
        let reply = stanza.errorReply(error)
        guard let to = reply.to else { return }
        if let session = self.sessions.session(for: to) {
            session.deliver(reply)
        } else if to.isBare, let (session, _) = self.sessions.sessions(of: to).first {
            session.deliver(reply)
        }
    }
}
