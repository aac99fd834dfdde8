import XMPPCore
import XMPPSASL

/// XEP-0388 tasks between a successful SASL2 exchange and `<success/>`: XEP-0480 SCRAM
/// upgrades, which let an account that lacks a hash (imported from a server that kept only
/// SCRAM-SHA-1, or made by an older Starling) gain it from the client that just proved it
/// knows the password.
///
/// Tasks run only after SCRAM. After PLAIN the server holds the password it has just verified
/// and derives missing hashes itself (`ClientStream`), so asking the client would only cost
/// round trips. A requested upgrade runs only when the account lacks that hash: clients that
/// ask on every login (Monal does) pay one storage lookup and no round trip.
extension C2SStreamStateMachine {
    /// What the tasks carry through to the success they end in.
    struct SASL2TaskContext: Sendable {
        var account: JID
        var pending: SASL2Pending
        /// Upgrades still to offer after the current one, in the order the client asked.
        var remaining: [SCRAMHash]
    }

    enum SASL2TaskStep: Sendable {
        /// Storage is asked which requested hashes the account lacks.
        case findingMissing(SASL2TaskContext)
        /// `<continue/>` offered this upgrade; the client's `<next/>` is awaited.
        case offered(SASL2TaskContext, SCRAMHash)
        /// The salt went out; the client's SaltedPassword is awaited.
        case saltSent(SASL2TaskContext, SCRAMHash, salt: [UInt8], iterations: Int)
        /// The new credentials are being stored.
        case storing(SASL2TaskContext, SCRAMHash)
    }

    /// The upgrades the `<authentication/>` feature lists: only on an encrypted stream (the
    /// SaltedPassword is as good as the password for that hash), only for hashes some offered
    /// SCRAM mechanism uses.
    func offeredUpgrades(mechanisms: [SASLMechanismName]) -> [SCRAMHash] {
        guard self.policy.scramUpgrades, self.encrypted else { return [] }
        return SCRAMUpgrade.upgradableHashes.filter { hash in mechanisms.contains { $0.scramHash == hash } }
    }

    /// At a SCRAM success under SASL2: the upgrade tasks to consider, or nil when there are
    /// none and success follows as usual. Called while the state is still `.authenticating`.
    mutating func startUpgradeTasks(account: JID, request: SASL2.Authenticate, additionalData: [UInt8]?) -> [Action]? {
        guard case .authenticating(.scram(let scram, _), _) = self.state else {
            preconditionFailure("upgrade tasks considered outside a SCRAM exchange")
        }
        let offered = self.offeredUpgrades(mechanisms: self.offeredMechanisms())
        // The hash just used is stored, or the login would have failed: no lookup for it.
        let wanted = request.upgrades.filter { offered.contains($0) && $0 != scram.mechanism.scramHash }
        guard !wanted.isEmpty else { return nil }
        let context = SASL2TaskContext(account: account, pending: SASL2Pending(request: request, additionalData: additionalData), remaining: wanted)
        self.state = .sasl2Task(.findingMissing(context))
        return [.findMissingSCRAMCredentials(account: account, hashes: wanted)]
    }

    // MARK: - Events from storage

    /// The hashes of the `findMissingSCRAMCredentials` request the account has no credentials
    /// for; nil when storage failed.
    public mutating func missingSCRAMCredentialsFound(_ missing: [SCRAMHash]?) -> [Action] {
        guard case .sasl2Task(.findingMissing(var context)) = self.state else {
            return self.unexpectedTaskEvent("missingSCRAMCredentialsFound")
        }
        guard let missing else { return self.taskFailed(.temporaryAuthFailure) }
        context.remaining = context.remaining.filter { missing.contains($0) }
        return self.nextTask(context)
    }

    /// The `addSCRAMCredentials` outcome: false when storage failed or the account is gone.
    public mutating func scramCredentialsAdded(_ stored: Bool) -> [Action] {
        guard case .sasl2Task(.storing(let context, _)) = self.state else {
            return self.unexpectedTaskEvent("scramCredentialsAdded")
        }
        guard stored else { return self.taskFailed(.temporaryAuthFailure) }
        return self.nextTask(context)
    }

    /// A stream closed while storage worked (the client left, the server stops) gets the
    /// answer late, and it is dropped; any other state means the stream answered something
    /// the machine never asked, which is a bug.
    private func unexpectedTaskEvent(_ event: String) -> [Action] {
        guard self.isClosed else { preconditionFailure("\(event) without the SASL2 task step that asks for it") }
        return []
    }

    // MARK: - Elements from the client

    mutating func sasl2TaskElement(_ element: Element, step: SASL2TaskStep) -> [Action] {
        if element.namespace == SASL2.namespace && element.name == "abort" { return self.taskFailed(.aborted) }
        switch step {
        case .findingMissing, .storing:
            // Input is held while storage answers: a client cannot get here by waiting its turn.
            return self.closing(StreamError(.policyViolation, text: "wait for the task's answer"))
        case .offered(let context, let hash):
            guard element.namespace == SASL2.namespace, element.name == "next", element[attribute: "task"] == SCRAMUpgrade.taskName(hash) else {
                return self.taskFailed(.malformedRequest)
            }
            // A fresh salt: reusing the old hash's salt would tie the two credentials together.
            let salt = SASLRandom.bytes(16)
            let iterations = self.policy.scramIterations
            self.state = .sasl2Task(.saltSent(context, hash, salt: salt, iterations: iterations))
            return [.send(SCRAMUpgrade.saltData(salt: salt, iterations: iterations))]
        case .saltSent(let context, let hash, let salt, let iterations):
            switch SCRAMUpgrade.parseHashData(element, hash: hash) {
            case .failure(let failure):
                return self.taskFailed(failure)
            case .success(let saltedPassword):
                // Only StoredKey and ServerKey leave here; the SaltedPassword is not kept. It
                // cannot be checked either (XEP-0480 has no proof): a client that hashes the
                // wrong password spoils only its own account's new hash.
                let credentials = SCRAMCredentials.from(saltedPassword: saltedPassword, hash: hash, salt: salt, iterations: iterations)
                self.state = .sasl2Task(.storing(context, hash))
                return [.addSCRAMCredentials(credentials, account: context.account)]
            }
        }
    }

    // MARK: - Moving on

    private mutating func nextTask(_ context: SASL2TaskContext) -> [Action] {
        var context = context
        guard !context.remaining.isEmpty else {
            // SASL is over: the per-connection tls-exporter binding is not kept for the session.
            self.channelBinding = [:]
            return self.sasl2Succeeded(account: context.account, request: context.pending.request, additionalData: context.pending.additionalData)
        }
        let hash = context.remaining.removeFirst()
        self.state = .sasl2Task(.offered(context, hash))
        // The SCRAM server-final goes in every <continue/> (and again in <success/>): a client
        // checks the server's signature wherever it first finds it.
        return [.send(SASL2.continue(tasks: [SCRAMUpgrade.taskName(hash)], additionalData: context.pending.additionalData))]
    }

    /// The login fails as a whole (XEP-0388 §2.6.2). The password was right, so it is not
    /// counted toward the failed-login delay or the lockout.
    private mutating func taskFailed(_ failure: SASLFailure) -> [Action] {
        self.saslFailed(failure, username: nil, guessedPassword: false, sasl2: true)
    }
}
