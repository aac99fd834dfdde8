import ArgumentParser
import XMPPServer

/// `starling archive purge JID`: delete a user's message archive (XEP-0313).
struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "archive", abstract: "Manage message archives.", subcommands: [Purge.self])

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every archived message of an account.")
        @Argument(help: "The account.") var jid: String
        @OptionGroup var options: ConfigurationOptions

        func run() async throws {
            try await AccountCommand.run(self.options) { manager in
                let account = try manager.account(self.jid)
                guard let backend = manager.backend else { throw CLIError("no storage") }
                let removed = try await backend.archive.purge(account: account)
                print("deleted \(removed) archived message\(removed == 1 ? "" : "s") of \(account)")
            }
        }
    }
}
