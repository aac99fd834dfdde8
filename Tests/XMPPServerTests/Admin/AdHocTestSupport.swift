import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules

let commandsNamespace = "http://jabber.org/protocol/commands"
let adminNode = "http://jabber.org/protocol/admin#"

/// A server whose administrator is admin@localhost.
func withAdminServer(_ body: (TestServer) async throws -> Void) async throws {
    try await withServer(configure: { $0.admins = ["admin@localhost"] }) { server in
        try await server.addUser("admin", password: "admin-password")
        try await body(server)
    }
}

extension XMPPClient {
    /// Sends a `<command/>` to the server and returns the answer (result or error).
    func command(_ node: String, action: String? = nil, sessionID: String? = nil, form: DataForm? = nil) async throws -> Element {
        var command = Element("command", namespace: commandsNamespace, attributes: [("node", node)])
        if let action { command[attribute: "action"] = action }
        if let sessionID { command[attribute: "sessionid"] = sessionID }
        if let form { command.append(form.element) }
        return try await self.iq("set", to: try JID(self.jid.domainpart), payload: command)
    }

    /// Runs a one-form command: execute, then complete with the fields filled in.
    func runCommand(_ name: String, _ values: [String: [String]]) async throws -> Element {
        let first = try await self.command(adminNode + name)
        guard let command = first.child(named: "command", namespace: commandsNamespace), command[attribute: "status"] == "executing",
            let sessionID = command[attribute: "sessionid"]
        else { return first }
        let fields = values.sorted { $0.key < $1.key }.map { DataForm.Field($0.key, values: $0.value) }
        let form = DataForm(type: "submit", formType: "http://jabber.org/protocol/admin", fields: fields)
        return try await self.command(adminNode + name, action: "complete", sessionID: sessionID, form: form)
    }

    /// The nodes listed under the commands node.
    func commandNodes() async throws -> [String] {
        let query = Element("query", namespace: XMPPNamespace.discoItems, attributes: [("node", commandsNamespace)])
        let answer = try await self.iq("get", to: try JID(self.jid.domainpart), payload: query)
        return answer.child(named: "query", namespace: XMPPNamespace.discoItems)?.children(named: "item").compactMap { $0[attribute: "node"] } ?? []
    }
}

extension Element {
    var commandStatus: String? { self.child(named: "command", namespace: commandsNamespace)?[attribute: "status"] }
    var commandNotes: [String] {
        self.child(named: "command", namespace: commandsNamespace)?.children(named: "note").map { "\($0[attribute: "type"] ?? "info"): \($0.text)" } ?? []
    }
    var commandForm: DataForm? { self.child(named: "command", namespace: commandsNamespace).flatMap { DataForm(in: $0) } }
}
