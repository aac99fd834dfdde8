import ArgumentParser
import XMPPCore
import XMPPServer
import XMPPStorage

/// `starling roster list|add|remove`: an operator's view of a user's roster.
struct RosterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roster",
        abstract: "List and edit a user's roster (connected clients see the change at their next roster request).",
        subcommands: [List.self, Add.self, Remove.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the roster of an account.")
        @Argument(help: "The account, for example alice@localhost.") var jid: String
        @OptionGroup var options: ConfigurationOptions

        func run() async throws {
            try await AccountCommand.run(self.options) { manager in
                let account = try manager.account(self.jid)
                let storage = try RosterCommand.storage(manager)
                let (version, items) = try await storage.roster(of: account)
                print("roster of \(account) (version \(version)): \(items.count) item\(items.count == 1 ? "" : "s")")
                for item in items {
                    var line = "\(item.jid)  subscription=\(item.state.subscription)"
                    if item.state.pendingOut { line += " ask=subscribe" }
                    if item.state.pendingIn { line += " pending-in" }
                    if let name = item.name { line += "  name=\"\(name)\"" }
                    if !item.groups.isEmpty { line += "  groups=\(item.groups.joined(separator: ","))" }
                    print(line)
                }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add or change a contact.")
        @Argument(help: "The account.") var jid: String
        @Argument(help: "The contact's address.") var contact: String
        @Option(help: "A display name.") var name: String?
        @Option(help: "A group; repeat for several.") var group: [String] = []
        @Option(help: "none, to, from or both (both is how two accounts become contacts without asking).") var subscription: String?
        @OptionGroup var options: ConfigurationOptions

        func run() async throws {
            if let subscription, !["none", "to", "from", "both"].contains(subscription) {
                throw ValidationError("--subscription must be none, to, from or both")
            }
            try await AccountCommand.run(self.options) { manager in
                let account = try manager.account(self.jid)
                let contact: JID
                do {
                    contact = try JID(self.contact).bare
                } catch {
                    throw CLIError("the contact is not a valid address: \(error)")
                }
                let storage = try RosterCommand.storage(manager)
                var item = try await storage.item(of: account, contact: contact) ?? RosterItem(jid: contact)
                item.inRoster = true
                if let name = self.name { item.name = name.isEmpty ? nil : name }
                if !self.group.isEmpty { item.groups = self.group }
                if let subscription = self.subscription { item.state = SubscriptionState(subscription: subscription) }
                let version = try await storage.setItem(item, of: account)
                print("\(contact) is in the roster of \(account) with subscription \(item.state.subscription) (version \(version))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a contact.")
        @Argument(help: "The account.") var jid: String
        @Argument(help: "The contact's address.") var contact: String
        @OptionGroup var options: ConfigurationOptions

        func run() async throws {
            try await AccountCommand.run(self.options) { manager in
                let account = try manager.account(self.jid)
                guard let contact = try? JID(self.contact).bare else { throw CLIError("the contact is not a valid address") }
                guard try await RosterCommand.storage(manager).removeItem(contact, of: account) != nil else {
                    throw CLIError("\(contact) is not in the roster of \(account)")
                }
                print("removed \(contact) from the roster of \(account)")
            }
        }
    }

    static func storage(_ manager: AccountManager) throws -> any RosterStore {
        guard let backend = manager.backend else { throw CLIError("no storage") }
        return backend.rosters
    }
}
