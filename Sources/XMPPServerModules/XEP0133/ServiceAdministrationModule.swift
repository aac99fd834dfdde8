import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0133: service administration as ad-hoc commands for the configured `admins`, each a
/// thin form over `AdminOperations`; also the message of the day (sent at every login), the
/// welcome message (sent to new accounts) and the last login times they report.
public struct ServiceAdministrationModule: ServerModule {
    public let name = "service-admin"
    static let formType = "http://jabber.org/protocol/admin"
    private let commands: AdHocCommandRegistry
    let messages = ServerMessages()

    /// `commands` is the ad-hoc module's registry the commands go into.
    public init(commands: AdHocCommandRegistry) {
        self.commands = commands
    }

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let messages = self.messages
        let kit = AdminCommandKit(context: context, messages: messages)
        for command in kit.accountCommands + kit.userInformationCommands + kit.serverCommands {
            self.commands.add(command)
        }
        registrar.onEvent { event in
            switch event {
            case .initialPresence(let session):
                await messages.recordLogin(of: session.jid)
                guard let motd = await messages.message(.motd, domain: session.jid.domainpart) else { return }
                session.deliver(AdminOperations.headline(from: session.jid.domainpart, to: session.jid, subject: motd.subject, body: motd.body))
            case .accountCreated(let account):
                guard let welcome = await messages.message(.welcome, domain: account.domainpart) else { return }
                // A normal message, so that offline storage keeps it for the first login.
                var message = AdminOperations.headline(from: account.domainpart, to: account, subject: welcome.subject, body: welcome.body)
                message[attribute: "type"] = "normal"
                await context.route(message)
            default:
                break
            }
        }
    }

    public func start(context: ModuleContext) async throws {
        try await self.messages.open(in: context.storage)
    }
}

/// What this module stores: the message of the day and the welcome message per hosted
/// domain, and each account's last login (in a per-account collection, so it goes with the
/// account).
final class ServerMessages: Sendable {
    static let schema = ModuleSchema(module: "service-admin")
    private static let messagesCollection = "messages"
    private static let lastLoginCollection = ModuleAccountDocuments.collectionPrefix + "last-login"

    enum Kind: String {
        case motd, welcome
    }

    struct Message: Codable, Sendable, Hashable {
        var subject: String?
        var body: String
    }

    private struct LastLogin: Codable {
        var at: Date
    }

    private let storage = LockedBox<ModuleStorage?>(nil)

    func open(in backend: any StorageBackend) async throws {
        let storage = try await ModuleStorage.open(Self.schema, in: backend)
        self.storage.withLock { $0 = storage }
    }

    private var store: ModuleStorage {
        get throws {
            guard let storage = self.storage.withLock({ $0 }) else { throw StanzaError(.internalServerError, text: "the module has not started") }
            return storage
        }
    }

    func message(_ kind: Kind, domain: String) async -> Message? {
        try? await self.store.value(Message.self, collection: Self.messagesCollection, key: "\(kind.rawValue)\u{0}\(domain)")
    }

    /// Sets the message, or deletes it with nil.
    func setMessage(_ kind: Kind, domain: String, to message: Message?) async throws {
        let key = "\(kind.rawValue)\u{0}\(domain)"
        if let message {
            try await self.store.setValue(message, collection: Self.messagesCollection, key: key)
        } else {
            _ = try await self.store.delete(Self.messagesCollection, key: key)
        }
    }

    func recordLogin(of session: JID) async {
        try? await self.store.setValue(LastLogin(at: Date()), collection: Self.lastLoginCollection, key: "\(session.bare)\u{0}")
    }

    func lastLogin(of account: JID) async -> Date? {
        (try? await self.store.value(LastLogin.self, collection: Self.lastLoginCollection, key: "\(account.bare)\u{0}"))?.at
    }
}
