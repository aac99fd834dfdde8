import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// Who may create rooms on a service.
enum RoomCreationPolicy: String, CaseIterable, Sendable {
    /// Accounts of this server.
    case local
    /// The server's administrators.
    case admins
    /// Nobody: rooms come from the administrators' tools only.
    case nobody
    /// Anyone, local or federated.
    case anyone
}

/// What the operator set for the MUC services (`modules: {muc: {...}}`).
struct MUCSettings: Sendable {
    var creation = RoomCreationPolicy.local
    var limits = RoomLimits()
    var maxRoomsPerUser = 100
    var defaults = RoomConfiguration()
}

/// One MUC service domain (`conference.<host>`): takes what the router hands it, keeps the
/// rooms in memory while they are used, and does their storage and archive work.
final class MUCService: Sendable {
    let domain: String
    let settings: MUCSettings
    let context: ModuleContext
    private let storage: LockedBox<ModuleStorage?>
    private let rooms = LockedBox<RoomDirectory?>(nil)

    init(domain: String, settings: MUCSettings, context: ModuleContext, storage: LockedBox<ModuleStorage?>) {
        self.domain = domain
        self.settings = settings
        self.context = context
        self.storage = storage
    }

    private var directory: RoomDirectory {
        self.rooms.withLock { rooms in
            if let rooms { return rooms }
            let created = RoomDirectory(service: self)
            rooms = created
            return created
        }
    }

    /// The module's documents once the module started.
    var documents: ModuleStorage? { self.storage.withLock { $0 } }

    /// Rooms in memory and their occupants; none before the first stanza made the directory.
    var liveCounts: (rooms: Int, occupants: Int) { self.rooms.withLock { $0 }?.liveCounts() ?? (0, 0) }

    /// Rooms in memory by name, as after their last batch.
    func liveRooms() -> [String: Room] { self.rooms.withLock { $0 }?.liveRooms() ?? [:] }

    func liveRoom(_ name: String) -> Room? { self.rooms.withLock { $0 }?.liveRoom(name) }

    /// Destroys the room `name` in its turn (an administrator's request); false when there is none.
    func destroyRoom(_ name: String, reason: String?) async -> Bool {
        await self.directory.destroy(name, reason: reason)
    }

    func stop() async {
        await self.rooms.withLock { $0 }?.stop()
    }

    func shutDown() async {
        await self.rooms.withLock { $0 }?.shutDown()
    }

    /// The service handler: stanzas for the domain itself or for a room in it.
    func receive(_ stanza: Element) async {
        guard let to = stanza.to else { return }
        guard let name = to.localpart else {
            await self.serviceStanza(stanza)
            return
        }
        self.directory.dispatch(stanza, to: name)
    }

    // MARK: - Keys of the module's documents

    static let roomsCollection = "rooms"
    /// Public persistent rooms by key, valued by their names: the listing needs no room loaded.
    static let directoryCollection = "directory"
    /// `owner\0key`: how many rooms someone owns, without loading them.
    static let ownedCollection = "owned"

    func key(_ name: String) -> String { "\(self.domain)\u{0}\(name)" }

    func roomJID(_ name: String) -> JID? { try? JID(localpart: name, domainpart: self.domain) }

    // MARK: - Rooms

    /// The stored room `name`, with its recent history from the archive; nil when there is none.
    func load(_ name: String) async -> Room? {
        guard let jid = self.roomJID(name), let documents = self.documents else { return nil }
        let record: RoomRecord?
        do {
            record = try await documents.value(RoomRecord.self, collection: Self.roomsCollection, key: self.key(name))
        } catch {
            self.context.logger.error("cannot load a room", metadata: ["room": "\(jid)", "error": "\(error)"])
            return nil
        }
        guard let record else { return nil }
        var history: [HistoryEntry] = []
        let keep = min(record.configuration.historyLength, self.settings.limits.maxHistory)
        if record.configuration.archived, keep > 0, let page = try? await self.context.storage.roomArchive.query(ArchiveQuery(before: "", limit: keep), for: jid) {
            history = page.items.compactMap { item in
                guard let message = Element.parse(item.stanza) else { return nil }
                return HistoryEntry(message: message, stanzaID: item.id, stamp: item.timestamp, characters: item.stanza.utf8.count)
            }
        }
        return Room(jid: jid, record: record, limits: self.settings.limits, history: history)
    }

    /// Takes one stanza for the room `name` (nil when it does not exist) and returns the room
    /// as it is afterwards (nil when it does not exist or was destroyed).
    func handle(_ input: RoomInput, room: Room?, name: String) async -> Room? {
        guard let jid = self.roomJID(name) else {
            if case .destroy(_, let done) = input { done(false) }
            return nil
        }
        let stanza: Element
        switch input {
        case .stanza(let element): stanza = element
        case .shutdown:
            guard var room else { return nil }
            for case .send(let element) in room.shutDown() { await self.context.route(element) }
            return room
        case .destroy(let reason, let done):
            guard var room else {
                done(false)
                return nil
            }
            // The owner's destroy path (§10.9), without the owner: the room's own rules make the presence.
            let actions = room.destroyAll(reason: reason, alternate: nil, password: nil)
            let after = await self.perform(actions, room: room, name: name)
            done(true)
            return after
        }
        var existing = room
        if existing == nil { existing = await self.create(jid, name: name, for: stanza) }
        guard var room = existing else { return nil }
        let clock = Room.Clock(now: Date(), newID: { UUID().uuidString.lowercased() })
        let actions: [RoomAction]
        if let payload = stanza.iqPayload, stanza.to?.resourcepart == nil, payload.namespace == MessageArchiveModule.namespace {
            actions = await self.archiveQuery(stanza, payload: payload, room: room)
        } else if let (id, reason, legacy) = Self.moderation(stanza), let from = stanza.from {
            let original = try? await self.context.storage.roomArchive.message(id: id, for: jid)
            actions = room.moderate(stanza, stanzaID: id, original: original.flatMap { Element.parse($0.stanza) }, reason: reason, legacy: legacy, from: from)
        } else {
            actions = room.receive(stanza, clock: clock)
        }
        return await self.perform(actions, room: room, name: name)
    }

    /// Carries out a room's actions in order; returns the room, or nil when it was destroyed.
    private func perform(_ actions: [RoomAction], room: Room, name: String) async -> Room? {
        let jid = room.jid
        var destroyed = false
        for action in actions {
            switch action {
            case .send(let element): await self.context.route(element)
            case .save: await self.save(room, name: name)
            case .archive(let message, let stanzaID, let stamp):
                let record = ArchivedMessage(id: stanzaID, timestamp: stamp, with: jid, stanza: message.storedText)
                do {
                    try await self.context.storage.roomArchive.append(record, body: message.child(named: "body")?.text, for: jid)
                } catch {
                    self.context.logger.error("cannot archive a room message", metadata: ["room": "\(jid)", "error": "\(error)"])
                }
            case .retractArchived(let stanzaID, let tombstone):
                _ = try? await self.context.storage.roomArchive.replace(id: stanzaID, stanza: tombstone.storedText, body: nil, for: jid)
            case .destroyed:
                destroyed = true
                await self.forget(room, name: name)
            }
        }
        return destroyed ? nil : room
    }

    /// Creates a room for a first presence when the service's policy lets its sender;
    /// anything else for a room that does not exist gets `item-not-found`.
    private func create(_ jid: JID, name: String, for stanza: Element) async -> Room? {
        guard let from = stanza.from else { return nil }
        switch (stanza.stanzaKind, stanza.stanzaType) {
        case (.presence, nil) where stanza.to?.resourcepart != nil:
            break
        case (.presence, _):
            return nil
        default:
            if !stanza.isErrorStanza, stanza.stanzaType != "result" {
                await self.context.route(stanza.errorReply(StanzaError(.itemNotFound, text: "no such room")))
            }
            return nil
        }
        let allowed: Bool
        switch self.settings.creation {
        case .local: allowed = self.context.isLocal(from)
        case .admins: allowed = self.context.isAdmin(from)
        case .nobody: allowed = false
        case .anyone: allowed = true
        }
        guard allowed else {
            await self.context.route(stanza.errorReply(StanzaError(.notAllowed, text: "you may not create rooms on this service")))
            return nil
        }
        if let documents = self.documents,
            let owned = try? await documents.list(Self.ownedCollection, ModuleDocumentRange(prefix: "\(from.bare)\u{0}", limit: self.settings.maxRoomsPerUser)),
            owned.count >= self.settings.maxRoomsPerUser
        {
            await self.context.route(stanza.errorReply(StanzaError(.resourceConstraint, text: "you own \(owned.count) rooms, the most this service allows")))
            return nil
        }
        let speaksMUC = stanza.child(named: "x", namespace: MUCNamespace.muc) != nil
        let room = Room.created(jid: jid, by: from, secret: OccupantID.newSecret(), defaults: self.settings.defaults, limits: self.settings.limits, speaksMUC: speaksMUC)
        self.context.logger.info("room created", metadata: ["room": "\(jid)", "owner": "\(from.bare)"])
        if !speaksMUC { await self.save(room, name: name) }
        return room
    }

    /// Stores a persistent room's record with its listing and ownership entries; a room that
    /// stopped being persistent loses them.
    private func save(_ room: Room, name: String) async {
        guard let documents = self.documents else { return }
        let key = self.key(name)
        let record = room.record
        let persistent = record.configuration.persistent && record.configured
        let listed = persistent && record.configuration.isPublic
        let owners = record.jids(with: .owner).map { "\($0)\u{0}\(key)" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            let text = String(decoding: try encoder.encode(record), as: UTF8.self)
            let roomName = record.configuration.name
            try await documents.transaction { documents in
                // The ownership index follows the record: the stored one's entries go, the new one's come.
                try Self.dropOwnership(of: key, documents)
                guard persistent else {
                    try documents.delete(Self.roomsCollection, key: key)
                    try documents.delete(Self.directoryCollection, key: key)
                    return
                }
                try documents.put(text, collection: Self.roomsCollection, key: key)
                if listed { try documents.put(roomName, collection: Self.directoryCollection, key: key) } else { try documents.delete(Self.directoryCollection, key: key) }
                for owner in owners { try documents.put("", collection: Self.ownedCollection, key: owner) }
            }
        } catch {
            self.context.logger.error("cannot store a room", metadata: ["room": "\(room.jid)", "error": "\(error)"])
        }
    }

    /// Deletes the ownership entries of the room as stored: only persistent rooms have them,
    /// and the stored record names their owners.
    private static func dropOwnership(of key: String, _ documents: any ModuleDocuments) throws {
        guard let stored = try documents.document(Self.roomsCollection, key: key),
            let record = try? JSONDecoder().decode(RoomRecord.self, from: Data(stored.value.utf8))
        else { return }
        for owner in record.jids(with: .owner) { try documents.delete(Self.ownedCollection, key: "\(owner)\u{0}\(key)") }
    }

    /// A destroyed room leaves nothing behind: record, listing, ownership and archive.
    private func forget(_ room: Room, name: String) async {
        let key = self.key(name)
        do {
            try await self.documents?.transaction { documents in
                try Self.dropOwnership(of: key, documents)
                try documents.delete(Self.roomsCollection, key: key)
                try documents.delete(Self.directoryCollection, key: key)
            }
            try await self.context.storage.roomArchive.purge(account: room.jid)
        } catch {
            self.context.logger.error("cannot remove a destroyed room", metadata: ["room": "\(room.jid)", "error": "\(error)"])
        }
        self.context.logger.info("room destroyed", metadata: ["room": "\(room.jid)"])
    }

    // MARK: - Archive (XEP-0313 on the room) and moderation (XEP-0425)

    private func archiveQuery(_ stanza: Element, payload: Element, room: Room) async -> [RoomAction] {
        guard let from = stanza.from else { return [] }
        guard room.mayReadArchive(from) else { return room.error(stanza, StanzaError(.forbidden, text: "only members may read this room's archive")) }
        guard room.configuration.archived else { return room.error(stanza, StanzaError(.featureNotImplemented, text: "this room keeps no archive")) }
        switch (stanza.stanzaType, payload.name) {
        case ("get", "query"):
            return [.send(stanza.iqResult(payload: MessageArchiveModule.queryForm))]
        case ("set", "query"):
            do {
                let query = try MessageArchiveModule.parseQuery(payload)
                let page = try await self.context.storage.roomArchive.query(query, for: room.jid)
                let queryID = payload[attribute: "queryid"]
                return MessageArchiveModule.resultMessages(page, queryID: queryID, from: room.jid, to: from).map { .send($0) }
                    + [.send(stanza.iqResult(payload: MessageArchiveModule.fin(page, queryID: queryID)))]
            } catch let error as StanzaError {
                return room.error(stanza, error)
            } catch ArchiveError.unknownID {
                return room.error(stanza, StanzaError(.itemNotFound, text: "no message with that ID in the archive"))
            } catch {
                self.context.logger.error("cannot query a room archive", metadata: ["room": "\(room.jid)", "error": "\(error)"])
                return room.error(stanza, StanzaError(.internalServerError))
            }
        default:
            return room.error(stanza, StanzaError(.featureNotImplemented))
        }
    }

    /// A XEP-0425 request: `<moderate id=…>` (version 1), or `<apply-to><moderate>` (version 0).
    static func moderation(_ stanza: Element) -> (id: String, reason: String?, legacy: Bool)? {
        guard stanza.stanzaKind == .iq, stanza.stanzaType == "set", stanza.to?.resourcepart == nil, let payload = stanza.iqPayload else { return nil }
        if payload.name == "moderate", payload.namespace == MUCNamespace.moderate, let id = payload[attribute: "id"] {
            return (id, payload.child(named: "reason")?.text, false)
        }
        if payload.name == "apply-to", payload.namespace == MUCNamespace.fasten, let id = payload[attribute: "id"],
            let moderate = payload.child(named: "moderate", namespace: MUCNamespace.moderateLegacy)
        {
            return (id, moderate.child(named: "reason")?.text, true)
        }
        return nil
    }

    // MARK: - The service itself

    private func serviceStanza(_ stanza: Element) async {
        guard stanza.stanzaKind == .iq, stanza.stanzaType == "get" || stanza.stanzaType == "set" else {
            if stanza.stanzaKind == .message { await self.context.route(stanza.errorReply(StanzaError(.serviceUnavailable, text: "send messages to a room"))) }
            return
        }
        let payload = stanza.iqPayload
        switch (stanza.stanzaType, payload?.namespace) {
        case ("get", XMPPNamespace.discoItems) where payload?[attribute: "node"] == nil:
            await self.context.route(stanza.iqResult(payload: await self.roomList(request: payload)))
        case ("get", MUCNamespace.unique):
            let name = UUID().uuidString.lowercased()
            await self.context.route(stanza.iqResult(payload: Element("unique", namespace: MUCNamespace.unique, text: name)))
        case ("get", XMPPNamespace.discoInfo):
            await self.context.route(stanza.errorReply(StanzaError(.itemNotFound, text: "no such node")))
        default:
            await self.context.route(stanza.errorReply(StanzaError(.serviceUnavailable)))
        }
    }

    /// Public rooms (§6.3): persistent ones from storage, temporary ones from memory, paged
    /// with XEP-0059 when asked (`max`, `after`).
    private func roomList(request: Element?) async -> Element {
        let set = request?.child(named: "set", namespace: "http://jabber.org/protocol/rsm")
        let max = set?.child(named: "max").flatMap { Int($0.text) }.map { Swift.max(0, Swift.min($0, 1000)) } ?? 1000
        let after = set?.child(named: "after")?.text
        var rooms: [String: String] = [:]
        let prefix = "\(self.domain)\u{0}"
        if let stored = try? await self.documents?.list(Self.directoryCollection, ModuleDocumentRange(prefix: prefix)) {
            for document in stored { rooms[String(document.key.dropFirst(prefix.count))] = document.value }
        }
        for (name, title) in self.directory.listedLiveRooms() { rooms[name] = title }
        let names = rooms.keys.sorted().filter { name in after.map { name > $0 } ?? true }
        let page = names.prefix(max)
        var query = Element("query", namespace: XMPPNamespace.discoItems)
        for name in page {
            var item = Element("item", namespace: XMPPNamespace.discoItems, attributes: [("jid", "\(name)@\(self.domain)")])
            if let title = rooms[name], !title.isEmpty { item[attribute: "name"] = title }
            query.append(item)
        }
        if set != nil {
            var reply = Element("set", namespace: "http://jabber.org/protocol/rsm")
            if let first = page.first, let last = page.last {
                reply.append(Element("first", namespace: "http://jabber.org/protocol/rsm", text: "\(first)"))
                reply.append(Element("last", namespace: "http://jabber.org/protocol/rsm", text: "\(last)"))
            }
            reply.append(Element("count", namespace: "http://jabber.org/protocol/rsm", text: "\(names.count)"))
            query.append(reply)
        }
        return query
    }
}

extension Room {
    /// XEP-0313 on a room: members of a members-only room, anyone not banned elsewhere.
    func mayReadArchive(_ jid: JID) -> Bool {
        let affiliation = self.record.affiliation(of: jid)
        if affiliation == .outcast { return false }
        if self.configuration.membersOnly { return affiliation >= .member || self.occupant(for: jid) != nil }
        return true
    }
}
