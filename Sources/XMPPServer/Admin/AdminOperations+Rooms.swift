import Foundation
import XMPPCore

extension AdminOperations {
    // MARK: - Chat rooms

    /// The chat-room services the modules registered, by domain.
    private var roomDirectories: [any AdminRoomDirectory] { self.core.router.registrar?.roomDirectories ?? [] }

    /// The domains of the chat-room services, in order.
    public var roomServices: [String] { self.roomDirectories.map(\.domain).sorted() }

    /// The rooms of one service (all of them when nil), in JID order, `limit` (1…1000) after
    /// `after`.
    public func listRooms(service: String? = nil, after: String? = nil, limit: Int = 100) async throws(AdminError) -> AdminRoomPage {
        var directories = self.roomDirectories
        if let service {
            directories = directories.filter { $0.domain == service }
            guard !directories.isEmpty else { throw .invalid("\(service) is not a chat-room service of this server") }
        }
        var rooms: [AdminRoom] = []
        for directory in directories {
            do {
                rooms += try await directory.rooms()
            } catch {
                throw .storage("\(error)")
            }
        }
        rooms.sort { $0.jid < $1.jid }
        let start = after.map { after in rooms.firstIndex { $0.jid > after } ?? rooms.endIndex } ?? rooms.startIndex
        let page = rooms[start...].prefix(min(max(limit, 1), 1000))
        let more = start + page.count < rooms.endIndex
        return AdminRoomPage(rooms: Array(page), total: rooms.count, next: more ? page.last?.jid : nil)
    }

    /// A room's configuration, subject, occupants and affiliations.
    public func room(_ address: String) async throws(AdminError) -> AdminRoomDetails {
        let (directory, name) = try self.roomAddress(address)
        let details: AdminRoomDetails?
        do {
            details = try await directory.room(named: name)
        } catch {
            throw .storage("\(error)")
        }
        guard let details else { throw .notFound("there is no room \(address)") }
        return details
    }

    /// Destroys a room as an administrator, whoever owns it: its occupants get the destroy
    /// presence (XEP-0045 §10.9) with `reason`, and what is stored of it goes.
    public func destroyRoom(_ address: String, reason: String? = nil) async throws(AdminError) {
        let (directory, name) = try self.roomAddress(address)
        guard await directory.destroy(named: name, reason: reason) else { throw .notFound("there is no room \(address)") }
        self.core.logger.notice("room destroyed by an administrator", metadata: ["room": "\(name)@\(directory.domain)"])
    }

    /// Rooms in memory and their occupants, over every service.
    public var roomActivity: (rooms: Int, occupants: Int) {
        self.roomDirectories.reduce(into: (rooms: 0, occupants: 0)) { total, directory in
            let activity = directory.activity
            total.rooms += activity.rooms
            total.occupants += activity.occupants
        }
    }

    /// The service and the room name of a room's bare JID.
    private func roomAddress(_ address: String) throws(AdminError) -> (any AdminRoomDirectory, String) {
        let jid: JID
        do {
            jid = try JID(address)
        } catch {
            throw .invalid("not a valid address: \(error.description)")
        }
        guard let name = jid.localpart, jid.resourcepart == nil else { throw .invalid("\(address) is not a room: a room is name@service") }
        guard let directory = self.roomDirectories.first(where: { $0.domain == jid.domainpart }) else {
            throw .invalid("\(jid.domainpart) is not a chat-room service of this server")
        }
        return (directory, name)
    }
}
