import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0045 Multi-User Chat: a chat-room service at `conference.<host>` for every hosted
/// domain, with room archives (XEP-0313), occupant ids (XEP-0421), self-ping (XEP-0410) and
/// moderation (XEP-0425).
public struct MultiUserChatModule: ServerModule {
    public let name = "muc"
    static let schema = ModuleSchema(module: "muc")
    private let storage = LockedBox<ModuleStorage?>(nil)
    private let services = LockedBox<[MUCService]>([])

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let options = registrar.options("muc")
        guard options.bool("enabled", default: true) else { return }
        let prefix = options.string("prefix") ?? "conference"
        var settings = MUCSettings()
        settings.creation = RoomCreationPolicy(rawValue: options.choice("create", RoomCreationPolicy.allCases.map(\.rawValue), default: "local")) ?? .local
        settings.limits.maxOccupants = options.int("max_occupants", default: 10_000, range: 1...1_000_000)
        settings.limits.maxHistory = options.int("max_history", default: 50, range: 0...1_000)
        settings.limits.presenceBurst = options.int("presence_burst", default: 0, range: 0...1_000_000)
        settings.maxRoomsPerUser = options.int("max_rooms_per_user", default: 100, range: 1...1_000_000)
        settings.defaults.historyLength = min(options.int("default_history", default: 20, range: 0...1_000), settings.limits.maxHistory)
        settings.defaults.archived = options.bool("default_archive", default: true)
        settings.defaults.persistent = options.bool("default_persistent", default: false)
        settings.defaults.isPublic = options.bool("default_public", default: true)

        for host in registrar.context.hosts.sorted() {
            let service = MUCService(
                domain: HostedService.domain(configured: nil, prefix: prefix, host: host), settings: settings, context: registrar.context, storage: self.storage)
            registrar.addService(HostedService(
                domain: service.domain, host: host, identity: DiscoIdentity(category: "conference", type: "text", name: "Chat rooms"),
                features: [MUCNamespace.muc, MUCNamespace.unique, XMPPNamespace.discoInfo, XMPPNamespace.discoItems],
                handler: { stanza in await service.receive(stanza) }))
            self.services.withLock { $0.append(service) }
            registrar.reportGauge(.mucRooms) { service.liveCounts.rooms }
            registrar.reportGauge(.mucOccupants) { service.liveCounts.occupants }
            registrar.addRoomDirectory(service)
        }
        let services = self.services
        registrar.onEvent { event in
            guard case .shuttingDown = event else { return }
            for service in services.withLock({ $0 }) { await service.shutDown() }
        }
    }

    public func start(context: ModuleContext) async throws {
        let storage = try await ModuleStorage.open(Self.schema, in: context.storage)
        self.storage.withLock { $0 = storage }
    }

    public func stop() async {
        for service in self.services.withLock({ $0 }) { await service.stop() }
    }
}
