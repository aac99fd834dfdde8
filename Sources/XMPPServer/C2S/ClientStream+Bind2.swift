import Crypto
import XMPPCore
import XMPPSASL
import XMPPStream

/// Bind 2 (XEP-0386): a session bound as the RFC 6120 bind binds it (same `SessionManager`
/// path, so presence, rosters, carbons and stream management see nothing different), with
/// what the request enables switched on before `<success/>` answers.
extension ClientStream {
    func bindInline(_ request: SASL2.BindRequest, account: JID, userAgent: SASL2.UserAgent?) {
        let resource = SASL2.resource(
            tag: request.tag, userAgentID: userAgent?.id, account: account, key: self.server.bind2ResourceKey, random: SASLRandom.bytes(9))
        // A resource made from a user-agent id is the same client coming back: its earlier
        // session gives way. A random one only collides by accident, and the policy decides.
        switch self.bindSession(requested: resource, account: account, replacingOnConflict: userAgent?.id != nil, catchesUpFromArchive: true) {
        case .success(let session):
            self.log(.info, "resource bound (Bind 2)")
            let described = [userAgent?.software, userAgent?.device].compactMap { $0 }.filter { !$0.isEmpty }
            self.clientName = described.isEmpty ? nil : described.joined(separator: " on ")
            let streamManagement: Element? =
                if let resume = request.streamManagement, self.machine.policy.streamManagement {
                    self.enableStreamManagement(resume: resume, for: session)
                } else {
                    nil
                }
            var extensions: [Element] = []
            for feature in request.features {
                guard let handler = self.server.inlineBindHandlers[feature.namespace] else { continue }
                if let answer = handler(session, feature) { extensions.append(answer) }
            }
            if let active = request.clientStateActive {
                // Nothing is held yet on a session this new, so nothing is released.
                _ = self.clientState.clientState(active: active)
            }
            let providers = self.server.boundElementProviders
            guard !providers.isEmpty else {
                self.run(self.machine.inlineBound(session.jid, streamManagement: streamManagement, extensions: extensions))
                return
            }
            self.heldUntilBoundAnswer = []
            self.roundTrip({
                var provided: [Element] = []
                for provider in providers {
                    if let element = await provider(session) { provided.append(element) }
                }
                return provided
            }) { stream, provided in
                // The connection may have gone while the archive was read; then nothing is left to
                // answer, and what was held goes where stanzas for a closing stream go.
                if !stream.machine.isClosed {
                    stream.run(stream.machine.inlineBound(session.jid, streamManagement: streamManagement, extensions: extensions + provided))
                }
                stream.releaseHeldUntilBoundAnswer(for: session)
                return []
            }
        case .failure(let error):
            self.log(.notice, "Bind 2 failed", metadata: ["reason": "\(error.condition.rawValue)"])
            self.run(self.machine.inlineBindFailed(error))
        }
    }
}
