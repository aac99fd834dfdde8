import ArgumentParser
import Foundation
import XMPPServer

/// `starling token`: bearer tokens for the admin HTTP API, kept hashed in the database.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke admin API tokens.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print it once (the database keeps only its digest).")

        @Option(name: .long, help: "read (see only) or write (see and change).")
        var scope: String

        @Option(name: .long, help: "What the token is for, shown by `starling token list`.")
        var label: String = ""

        @Option(name: .long, help: "Lifetime: a number of days (30d) or hours (12h), at most 366d.")
        var expires: String = "90d"

        @OptionGroup var options: ConfigurationOptions

        func validate() throws {
            guard AdminScope(rawValue: self.scope) != nil else {
                throw ValidationError("--scope must be read or write, not \(self.scope)")
            }
            _ = try Lifetime.parse(self.expires)
            guard self.label.count <= 200, !self.label.contains(where: \.isNewline) else {
                throw ValidationError("--label must be one line of at most 200 characters")
            }
        }

        func run() async throws {
            guard let scope = AdminScope(rawValue: self.scope) else { throw ValidationError("--scope must be read or write") }
            let lifetime = try Lifetime.parse(self.expires)
            try await StorageCommand.run(self.options) { storage in
                let (token, record) = try await AdminTokenStore(backend: storage).create(scope: scope, label: self.label, lifetime: lifetime)
                print(token)
                FileHandle.standardError.write(
                    Data("token \(record.id) (\(record.scope.rawValue)) expires \(ISO8601DateFormatter().string(from: record.expiresAt)); it is shown only now\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")

        @OptionGroup var options: ConfigurationOptions

        func run() async throws {
            try await StorageCommand.run(self.options) { storage in
                let records = try await AdminTokenStore(backend: storage).list()
                if records.isEmpty { print("no tokens") }
                let format = ISO8601DateFormatter()
                let now = Date()
                for record in records {
                    let state = record.isExpired(at: now) ? "expired" : "expires"
                    print("\(record.id)  \(record.scope.rawValue)  \(state) \(format.string(from: record.expiresAt))  \(record.label)")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id (the part after sta_).")

        @Argument(help: "The token's id, as `starling token list` shows it.")
        var id: String

        @OptionGroup var options: ConfigurationOptions

        func validate() throws {
            guard AdminToken.isID(self.id) else {
                throw ValidationError("\(self.id) is not a token id: ids are 16 lowercase hex digits, as `starling token list` shows them")
            }
        }

        func run() async throws {
            try await StorageCommand.run(self.options) { storage in
                guard try await AdminTokenStore(backend: storage).revoke(id: self.id) else {
                    throw CLIError("no token has the id \(self.id)")
                }
                print("revoked \(self.id)")
            }
        }
    }
}

/// A token lifetime as an operator writes it.
enum Lifetime {
    static func parse(_ text: String) throws -> TimeInterval {
        let units: [Character: TimeInterval] = ["d": 86_400, "h": 3_600]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count > 0,
            TimeInterval(count) * unit <= AdminTokenStore.longestLifetime
        else {
            throw ValidationError("--expires must be days (30d) or hours (12h), more than 0 and at most 366d, not \(text)")
        }
        return TimeInterval(count) * unit
    }
}
