import NIOCore
import XMPPCore
import XMPPSASL
import XMPPStream

/// What the stream writes for its session: stanzas routed to it (held while the client is
/// inactive, XEP-0352, and counted for XEP-0198), stream management's answers and requests,
/// and the session's move to another stream on `<resume/>`.
extension ClientStream {
    /// Writes a stanza routed to `session`, counting it for stream management.
    func deliver(_ stanza: Element, for session: ClientSession) {
        // Held first, even when closing: what is released later keeps its order.
        if self.heldUntilBoundAnswer != nil {
            self.heldUntilBoundAnswer?.append(stanza)
            return
        }
        guard !self.closing else {
            _ = session.recordSent(stanza, by: self)
            return
        }
        let ready = self.clientState.outgoing(stanza)
        guard !ready.isEmpty else { return }
        for stanza in ready { self.write(stanza, counting: session) }
        self.transport.flush()
        self.requestAckSoon(session: session)
    }

    /// Delivers what arrived while the Bind 2 answer was being made, now that it is written.
    func releaseHeldUntilBoundAnswer(for session: ClientSession) {
        guard let held = self.heldUntilBoundAnswer else { return }
        self.heldUntilBoundAnswer = nil
        for stanza in held { self.deliver(stanza, for: session) }
    }

    /// Writes what the client state released (nothing is held without a session).
    func write(_ stanza: Element) {
        guard let session = self.session else { return }
        self.write(stanza, counting: session)
    }

    private func write(_ stanza: Element, counting session: ClientSession) {
        guard session.recordSent(stanza, by: self) else { return }
        self.server.metrics.stanzaSent(stanza, stream: .c2s)
        self.transport.send(stanza)
    }

    // MARK: - Stream management (XEP-0198)

    func enableStreamManagement(resume: Bool) {
        guard let session = self.session else { return }
        self.transport.send(self.enableStreamManagement(resume: resume, for: session))
    }

    /// Enables XEP-0198 for the session and returns the `<enabled/>` answer (sent on its own,
    /// or inside a Bind 2 `<bound/>`).
    func enableStreamManagement(resume: Bool, for session: ClientSession) -> Element {
        let id = Base64.encode(SASLRandom.bytes(16))
        session.enableStreamManagement(id: id, resumable: resume)
        var enabled = Element("enabled", namespace: StreamManagementNamespace.v3, attributes: [("id", id)])
        if resume {
            self.server.sessions.registerResumable(session, id: id)
            enabled[attribute: "resume"] = "true"
            enabled[attribute: "max"] = String(self.server.configuration.c2s.resumeTimeoutSeconds)
        }
        return enabled
    }

    /// Asks for an acknowledgement shortly after stanzas go out, once per batch.
    private func requestAckSoon(session: ClientSession) {
        guard !self.ackOutstanding, session.streamManagementID != nil else { return }
        self.ackOutstanding = true
        self.eventLoop.scheduleTask(in: .milliseconds(100)) { [weak self] in
            guard let self, !self.closing, session.unackedCount > 0 else {
                self?.ackOutstanding = false
                return
            }
            self.transport.send(StreamManagementNamespace.request)
            self.transport.flush()
        }
    }

    /// `inline` is a XEP-0198 `<resume/>` inside a SASL2 `<authenticate/>`: the answer goes
    /// inside `<success/>`, and a failure may still bind a new session (XEP-0386 §3.2).
    func resume(previd: String, h: UInt32, account: JID, inline: Bool) {
        let failed = { (stream: ClientStream) in
            stream.run(inline ? stream.machine.inlineResumeFailed() : stream.machine.resumeFailed())
        }
        guard let session = self.server.sessions.resumableSession(id: previd), session.jid.bare == account.bare else {
            failed(self)
            return
        }
        let previous = session.previousStream
        let resend: [Element]
        do {
            resend = try session.attach(to: self, eventLoop: self.eventLoop, clientHandled: h)
        } catch {
            failed(self)
            return
        }
        // The old stream (if the server had not noticed its connection died) lets go without ending the session.
        if let previous, previous !== self {
            let transfer = UnsafeTransfer(previous)
            previous.eventLoop.execute { transfer.value.abandon() }
        }
        self.session = session
        self.server.sessions.cancelExpiry(of: session)
        self.negotiationDeadline = nil
        self.account = nil
        self.log(.info, "session resumed", metadata: ["resent": "\(resend.count)", "inline": "\(inline)"])
        if inline {
            self.run(self.machine.inlineResumed(session.jid, previd: previd, handled: session.handledCount))
        } else {
            self.run(self.machine.resumed(session.jid))
            let resumed = Element("resumed", namespace: StreamManagementNamespace.v3, attributes: [("previd", previd), ("h", String(session.handledCount))])
            self.transport.send(resumed)
        }
        for stanza in resend {
            session.deliver(stanza)
        }
    }

    /// Another stream resumed this one's session: close quietly, the session lives on.
    func abandon() {
        self.session = nil
        guard !self.closing else { return }
        self.closing = true
        self.transport.abandon()
    }

    func detach(_ session: ClientSession) {
        self.log(.info, "connection lost; session kept for resumption")
        self.session = nil
        session.detach(from: self)
        let seconds = Int64(self.server.configuration.c2s.resumeTimeoutSeconds)
        let core = self.server
        let expiry = self.eventLoop.scheduleTask(in: .seconds(seconds)) {
            guard session.isDetached else { return }
            Task { await core.endDetachedSession(session) }
        }
        self.server.sessions.setExpiry(expiry, for: session)
    }
}
