import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0050: ad-hoc commands of the server, listed under the commands node and run in
/// sessions of data forms. The commands come from other modules through `registry`
/// (XEP-0133 service administration).
public struct AdHocCommandsModule: ServerModule {
    public let name = "adhoc"
    public let registry = AdHocCommandRegistry()
    private let sessions: LockedBox<AdHocSessionTable>

    public init(sessions: AdHocSessionTable = AdHocSessionTable()) {
        self.sessions = LockedBox(sessions)
    }

    public func register(with registrar: ModuleRegistrar) {
        let registry = self.registry
        let sessions = self.sessions
        registrar.addFeature(AdHocNamespace.commands)
        registrar.addDiscoNodes(
            DiscoNodeHandler(
                owns: { node in node == AdHocNamespace.commands || registry.command(node: node) != nil },
                info: { node, request in try Self.info(node: node, request: request, registry: registry) },
                items: { node, request in try Self.items(node: node, request: request, registry: registry) }))
        registrar.handleIQ(.set, namespace: AdHocNamespace.commands, target: .server) { request in
            try await Self.execute(request, registry: registry, sessions: sessions)
        }
    }

    // MARK: - Discovery (§2)

    static func items(node: String, request: IQRequest, registry: AdHocCommandRegistry) throws -> Element {
        guard node == AdHocNamespace.commands else { throw StanzaError(.itemNotFound) }
        let domain = request.to.domainpart
        return Element(
            "query", namespace: XMPPNamespace.discoItems, attributes: [("node", node)],
            children: registry.commands(for: request.from).map { command in
                Element("item", namespace: XMPPNamespace.discoItems, attributes: [("jid", domain), ("node", command.node), ("name", command.name)])
            })
    }

    static func info(node: String, request: IQRequest, registry: AdHocCommandRegistry) throws -> Element {
        if node == AdHocNamespace.commands {
            return DiscoInfo.result(identities: [DiscoIdentity(category: "automation", type: "command-list")], features: [], node: node)
        }
        guard let command = registry.command(node: node) else { throw StanzaError(.itemNotFound) }
        guard command.isAllowed(request.from) else { throw StanzaError(.forbidden) }
        return DiscoInfo.result(
            identities: [DiscoIdentity(category: "automation", type: "command-node", name: command.name)],
            features: [AdHocNamespace.commands, XMPPNamespace.dataForms], node: node)
    }

    // MARK: - Execution (§3, §4)

    static func execute(_ request: IQRequest, registry: AdHocCommandRegistry, sessions: LockedBox<AdHocSessionTable>) async throws -> Element {
        let payload = request.payload
        guard let node = payload[attribute: "node"], !node.isEmpty else { throw StanzaError(.badRequest, text: "the command has no node") }
        guard let command = registry.command(node: node) else { throw StanzaError(.itemNotFound) }
        guard command.isAllowed(request.from) else { throw StanzaError(.forbidden) }
        var action: AdHocAction?
        if let name = payload[attribute: "action"] {
            guard let known = AdHocAction(rawValue: name) else { throw AdHocFailure.malformedAction.stanzaError }
            action = known
        }
        let now = Date()
        let resolution = sessions.withLock {
            $0.resolve(node: node, sessionID: payload[attribute: "sessionid"], action: action, requester: request.from, now: now)
        }
        let sessionID: String
        let step: AdHocStep
        switch resolution {
        case .refused(let failure):
            throw failure.stanzaError
        case .canceled(let session):
            return Self.reply(node: node, sessionID: session.id, status: "canceled")
        case .start:
            sessionID = UUID().uuidString
            step = AdHocStep(requester: request.from, domain: request.to.domainpart, stage: 0, action: .execute, form: nil)
        case .resume(let session, let chosen):
            sessionID = session.id
            step = AdHocStep(requester: request.from, domain: request.to.domainpart, stage: session.stage, action: chosen, form: DataForm(in: payload))
        }
        let outcome: AdHocOutcome
        do {
            outcome = try await command.run(step)
        } catch {
            sessions.withLock { $0.finish(sessionID) }
            throw error
        }
        switch outcome {
        case .form(let form, let actions, let defaultAction, let notes):
            let refused = sessions.withLock {
                $0.open(sessionID, node: node, owner: request.from, actions: actions, defaultAction: defaultAction, now: Date())
            }
            if let refused { throw refused.stanzaError }
            return Self.reply(node: node, sessionID: sessionID, status: "executing", actions: (actions, defaultAction), notes: notes, form: form)
        case .completed(let form, let notes):
            sessions.withLock { $0.finish(sessionID) }
            return Self.reply(node: node, sessionID: sessionID, status: "completed", notes: notes, form: form)
        }
    }

    static func reply(
        node: String, sessionID: String, status: String, actions: (Set<AdHocAction>, AdHocAction)? = nil, notes: [AdHocNote] = [], form: DataForm? = nil
    ) -> Element {
        var command = Element("command", namespace: AdHocNamespace.commands, attributes: [("node", node), ("sessionid", sessionID), ("status", status)])
        if let (allowed, defaultAction) = actions {
            // In the order §3.4 lists them, so clients draw their buttons the usual way.
            let listed = AdHocAction.allCases.filter { allowed.contains($0) && $0 != .execute && $0 != .cancel }
            command.append(
                Element(
                    "actions", namespace: AdHocNamespace.commands, attributes: [("execute", defaultAction.rawValue)],
                    children: listed.map { Element(name: $0.rawValue, namespace: AdHocNamespace.commands) }))
        }
        for note in notes {
            command.append(Element("note", namespace: AdHocNamespace.commands, attributes: [("type", note.kind.rawValue)], text: note.text))
        }
        if let form { command.append(form.element) }
        return command
    }
}
