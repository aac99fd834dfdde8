import ArgumentParser
import Foundation

/// `starling rooms [JID]`: the running server's chat rooms, or one room, through its admin API.
struct RoomsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rooms", abstract: "List the chat rooms of the running server, or show one room's occupants.")

    @Argument(help: "A room (name@service) to show; none to list them all.")
    var room: String?

    @OptionGroup var api: AdminAPIOptions

    func run() async throws {
        let client = try self.api.client()
        guard let room else {
            let page = try await client.call("GET", "/rooms?limit=1000") as? [String: Any]
            let rooms = page?["rooms"] as? [[String: Any]] ?? []
            if rooms.isEmpty { print("no rooms") }
            for room in rooms {
                let name = (room["name"] as? String).flatMap { $0.isEmpty ? nil : "\"\($0)\"" } ?? ""
                print("\(room["jid"] as? String ?? "?")  \(room["occupants"] as? Int ?? 0) occupants  \(room["persistent"] as? Bool == true ? "persistent" : "temporary")  \(name)")
            }
            return
        }
        guard let details = try await client.call("GET", "/rooms/\(AdminAPIClient.segment(room))") as? [String: Any] else { throw CLIError("the admin API sent no room") }
        print("\(details["jid"] as? String ?? room)  subject: \(details["subject"] as? String ?? "")")
        for occupant in details["occupants"] as? [[String: Any]] ?? [] {
            print("  \(occupant["nick"] as? String ?? "?")  \(occupant["role"] as? String ?? "?")/\(occupant["affiliation"] as? String ?? "?")  \(occupant["jid"] as? String ?? "")")
        }
    }
}

/// `starling destroy-room JID [--reason TEXT]`: destroys a room as an administrator.
struct DestroyRoomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "destroy-room", abstract: "Destroy a chat room of the running server; its occupants are told the reason.")

    @Argument(help: "The room (name@service).")
    var room: String

    @Option(name: .long, help: "Why, as the occupants will read it.")
    var reason: String?

    @OptionGroup var api: AdminAPIOptions

    func run() async throws {
        var json: [String: Any] = [:]
        if let reason { json["reason"] = reason }
        _ = try await self.api.client().call("DELETE", "/rooms/\(AdminAPIClient.segment(self.room))", json: json)
        print("destroyed \(self.room)")
    }
}
