import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// The service as the admin fronts see it (`AdminOperations` rooms): stored rooms are read
/// from module storage without loading them, rooms in memory as they were after their last
/// batch, and destruction goes through the room's queue like any stanza.
extension MUCService: AdminRoomDirectory {
    func rooms() async throws -> [AdminRoom] {
        var rooms: [String: AdminRoom] = [:]
        let prefix = "\(self.domain)\u{0}"
        for document in try await self.documents?.list(Self.roomsCollection, ModuleDocumentRange(prefix: prefix)) ?? [] {
            let name = String(document.key.dropFirst(prefix.count))
            guard let record = try? JSONDecoder().decode(RoomRecord.self, from: Data(document.value.utf8)), let jid = self.roomJID(name) else { continue }
            rooms[name] = Self.summary(jid: jid, configuration: record.configuration, occupants: 0)
        }
        for (name, room) in self.liveRooms() {
            rooms[name] = Self.summary(jid: room.jid, configuration: room.configuration, occupants: room.occupantCount)
        }
        return rooms.keys.sorted().compactMap { rooms[$0] }
    }

    func room(named name: String) async throws -> AdminRoomDetails? {
        if let room = self.liveRoom(name) { return Self.details(of: room) }
        guard let documents = self.documents, let jid = self.roomJID(name),
            let record = try await documents.value(RoomRecord.self, collection: Self.roomsCollection, key: self.key(name))
        else { return nil }
        return Self.details(of: Room(jid: jid, record: record, limits: self.settings.limits))
    }

    func destroy(named name: String, reason: String?) async -> Bool {
        await self.destroyRoom(name, reason: reason)
    }

    var activity: (rooms: Int, occupants: Int) { self.liveCounts }

    private static func summary(jid: JID, configuration: RoomConfiguration, occupants: Int) -> AdminRoom {
        AdminRoom(
            jid: jid.description, name: configuration.name, occupants: occupants, persistent: configuration.persistent, isPublic: configuration.isPublic,
            passwordProtected: configuration.password != nil, membersOnly: configuration.membersOnly)
    }

    static func details(of room: Room) -> AdminRoomDetails {
        let settings = room.configuration
        let configuration = AdminRoomConfiguration(
            name: settings.name, description: settings.description, language: settings.language, persistent: settings.persistent,
            isPublic: settings.isPublic, membersOnly: settings.membersOnly, moderated: settings.moderated, passwordProtected: settings.password != nil,
            realJIDsVisibleTo: settings.whois.rawValue, maxOccupants: settings.maxOccupants, archived: settings.archived,
            historyLength: settings.historyLength, occupantsMayInvite: settings.allowInvites, occupantsMayChangeSubject: settings.changeSubject,
            privateMessages: settings.allowPrivateMessages.rawValue)
        let occupants = room.occupants.values.sorted { $0.nick < $1.nick }.map { occupant in
            AdminRoomOccupant(
                nick: occupant.nick, role: occupant.role.rawValue, affiliation: room.record.affiliation(of: occupant.bareJID).rawValue,
                jid: occupant.bareJID.description, sessions: occupant.sessions.map(\.description))
        }
        let affiliations = room.record.affiliations.sorted { $0.key < $1.key }.map { jid, entry in
            AdminRoomAffiliation(jid: jid, affiliation: entry.affiliation.rawValue, nick: entry.nick, reason: entry.reason)
        }
        return AdminRoomDetails(
            jid: room.jid.description, configuration: configuration, subject: room.record.subject, subjectBy: room.record.subjectBy,
            locked: room.locked, occupants: occupants, affiliations: affiliations)
    }
}
