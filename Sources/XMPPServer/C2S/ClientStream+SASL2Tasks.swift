import XMPPCore
import XMPPSASL
import XMPPStorage
import XMPPStream

/// XEP-0480 upgrades on the storage side: the machine asks which hashes an account lacks and
/// hands over credentials an upgrade task produced; PLAIN logins fill the same gaps from the
/// password they have just verified.
extension ClientStream {
    func findMissingCredentials(account: JID, hashes: [SCRAMHash]) {
        self.withAccountStore { store, _ -> [SCRAMHash]? in
            var missing: [SCRAMHash] = []
            for hash in hashes {
                do {
                    if try await store.credentials(for: account, hash: hash) == nil { missing.append(hash) }
                } catch {
                    return nil
                }
            }
            return missing
        } then: { (stream: ClientStream, missing: [SCRAMHash]?) in
            if missing == nil { stream.log(.error, "SCRAM upgrade: cannot read credentials") }
            return stream.machine.missingSCRAMCredentialsFound(missing)
        }
    }

    func addCredentials(_ credentials: SCRAMCredentials, account: JID) {
        let hash = credentials.hash
        self.withAccountStore { store, _ -> Bool in
            (try? await store.addCredentials(credentials, for: account)) ?? false
        } then: { (stream: ClientStream, stored: Bool) in
            // The hash name only: never the salted password or the keys.
            if stored {
                stream.log(.info, "SCRAM credentials upgraded", metadata: ["hash": "\(hash.rawValue)"])
            } else {
                stream.log(.error, "SCRAM upgrade: cannot store credentials", metadata: ["hash": "\(hash.rawValue)"])
            }
            return stream.machine.scramCredentialsAdded(stored)
        }
    }

    /// Checks a PLAIN password against whichever hash the account has (an imported account
    /// may have SCRAM-SHA-1 only), then derives the `upgrading` hashes it lacks from the
    /// password just verified: PLAIN needs no XEP-0480 task, the server has what the task
    /// would ask for. A failure to store them does not fail the login.
    static func verifyPlainPassword(
        _ password: String, of account: JID, in store: any AccountStore, upgrading: [SCRAMHash], iterations: Int
    ) async -> Bool {
        // The first hash the account has decides; the usual account has SHA-256, one lookup.
        var lacking: [SCRAMHash] = []
        var verifiedWith: SCRAMHash?
        for hash in [SCRAMHash.sha256, .sha512, .sha1] {
            guard let credentials = try? await store.credentials(for: account, hash: hash) else {
                lacking.append(hash)
                continue
            }
            guard credentials.verify(password: password) else { return false }
            verifiedWith = hash
            break
        }
        guard let verifiedWith else { return false }
        for hash in upgrading where hash != verifiedWith {
            // addCredentials never replaces: a lookup that failed costs a derivation, not data.
            if !lacking.contains(hash), (try? await store.credentials(for: account, hash: hash)) != nil { continue }
            guard let derived = try? SCRAMCredentials.derive(password: password, hash: hash, iterations: iterations) else { continue }
            _ = try? await store.addCredentials(derived, for: account)
        }
        return true
    }
}
