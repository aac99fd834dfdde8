import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0077 after login: see the registration, change the password, cancel the account.
/// Registration itself happens before authentication, in the c2s stream (RegistrationService).
public struct RegistrationModule: ServerModule {
    public let name = "registration"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let manager = AccountManager(store: context.storage.accounts, hosts: context.hosts, fastTokens: FASTTokenStore(backend: context.storage))
        registrar.addFeature(XMPPNamespace.register)
        let get: IQHandler = { request in
            return Element(
                "query", namespace: XMPPNamespace.register,
                children: [Element(name: "registered", namespace: XMPPNamespace.register), Element("username", namespace: XMPPNamespace.register, text: request.from.localpart ?? "")])
        }
        let set: IQHandler = { request in
            let account = request.from.bare
            if request.payload.child(named: "remove") != nil {
                // The administrators' deletion path: contacts told, data gone, modules told.
                try? await context.admin.deleteAccount(account.description, endingSessions: false)
                // §3.2: the result first, then every session of the account ends.
                request.session?.deliver(request.stanza.iqResult())
                for (session, _) in context.sessions.sessions(of: account) {
                    session.terminate(.notAuthorized)
                }
                context.logger.info("account removed in-band", metadata: ["account": "\(account)"])
                throw IQAlreadyAnswered()
            }
            guard let username = request.payload.child(named: "username")?.text, let password = request.payload.child(named: "password")?.text else {
                throw StanzaError(.badRequest)
            }
            guard (try? JID.prepareLocalpart(username)) == account.localpart else {
                throw StanzaError(.notAllowed, text: "you can only change your own password")
            }
            do {
                _ = try await manager.changePassword(account.description, password: password)
            } catch {
                throw StanzaError(.notAcceptable, text: "\(error)")
            }
            return nil
        }
        // §3.2 asks clients to leave out `to`: the router hands an account's IQs to itself
        // (no `to`, or its own bare JID) to the server's handlers when no module handles the
        // namespace for accounts, and answers another account's bare JID service-unavailable.
        registrar.handleIQ(.get, namespace: XMPPNamespace.register, target: .server, get)
        registrar.handleIQ(.set, namespace: XMPPNamespace.register, target: .server, set)
    }
}
