import Foundation
import Logging

/// The admin HTTP API's calls (docs/admin-api.yaml describes them), each one an
/// `AdminOperations` call: this type only maps paths and JSON to operations and errors to
/// statuses, so the API cannot do anything another admin front cannot.
public struct AdminAPI: Sendable {
    public static let prefix = "/admin/api/v1"
    /// The largest JSON body a call takes (a password, an announcement).
    public static let maximumBodyBytes = 64 * 1024

    let operations: AdminOperations

    public init(operations: AdminOperations) {
        self.operations = operations
    }

    /// A call, after the guard admitted it.
    public struct Call: Sendable {
        public var method: String
        /// Percent-decoded segments after the prefix.
        public var segments: [String]
        public var query: [String: String]
        public var body: [UInt8]

        public init(method: String, segments: [String], query: [String: String] = [:], body: [UInt8] = []) {
            self.method = method
            self.segments = segments
            self.query = query
            self.body = body
        }
    }

    /// What a call answers: a status and a JSON body (none for 204).
    public struct Reply: Sendable, Equatable {
        public var status: Int
        public var json: [UInt8]?

        static func ok(_ value: some Encodable, status: Int = 200) throws -> Reply {
            Reply(status: status, json: try AdminAPI.encode(value))
        }

        static let noContent = Reply(status: 204, json: nil)

        static func error(_ status: Int, _ code: String, _ message: String) -> Reply {
            Reply(status: status, json: (try? AdminAPI.encode(ErrorBody(error: code, message: message))) ?? [])
        }
    }

    struct ErrorBody: Codable {
        var error: String
        var message: String
    }

    /// Runs one call; never throws: every failure is a reply with a status.
    public func handle(_ call: Call) async -> Reply {
        do {
            return try await self.route(call)
        } catch let failure as AdminError {
            return Self.reply(for: failure)
        } catch let failure as BadBody {
            return .error(400, "bad_body", failure.message)
        } catch {
            return .error(500, "internal", "the call failed; the server log says why")
        }
    }

    private func route(_ call: Call) async throws -> Reply {
        let operations = self.operations
        guard let route = Self.routes.first(where: { $0.method == call.method && $0.matches(call.segments) }) else {
            let known = Self.routes.filter { $0.matches(call.segments) }
            if known.isEmpty { return .error(404, "not_found", "no such call; see docs/admin-api.yaml") }
            return .error(405, "method_not_allowed", "use \(known.map(\.method).joined(separator: " or ")) here")
        }
        // The one path parameter, an account's or a room's address, where the route has one.
        let address = zip(route.template, call.segments).first { $0.0.hasPrefix("{") }?.1 ?? ""
        switch route.operation {
        case .status:
            return try .ok(try await operations.statistics())
        case .listAccounts:
            let limit = try Self.limit(call.query["limit"])
            return try .ok(try await operations.listAccounts(domain: call.query["domain"], search: call.query["search"], after: call.query["after"], limit: limit ?? 100))
        case .createAccount:
            let request = try Self.decode(NewAccount.self, call.body)
            let account = try await operations.createAccount(request.jid, password: request.password)
            return try .ok(try await self.details(account.description), status: 201)
        case .account:
            return try .ok(try await self.details(address))
        case .deleteAccount:
            try await operations.deleteAccount(address)
            return .noContent
        case .setPassword:
            let request = try Self.decode(NewPassword.self, call.body)
            guard try await operations.accountExists(address) else { throw AdminError.notFound("there is no account \(address)") }
            try await operations.changePassword(address, password: request.password)
            return .noContent
        case .setDisabled:
            let request = try Self.decode(DisabledState.self, call.body)
            try await operations.setDisabled(address, request.disabled)
            return try .ok(try await self.details(address))
        case .roster:
            let items = try await operations.roster(of: address).filter(\.inRoster).map {
                AdminRosterItem(jid: $0.jid.description, name: $0.name, groups: $0.groups, subscription: $0.state.subscription, pending: $0.state.pendingOut)
            }
            return try .ok(items)
        case .fastTokens:
            return try .ok(try await operations.fastTokenClients(of: address))
        case .revokeFASTTokens:
            return try .ok(Revoked(revoked: try await operations.revokeFASTTokens(of: address)))
        case .sessions:
            return try .ok(try await operations.listSessions(of: call.query["account"]))
        case .kick:
            // A resource may hold any character, "/" included, so it travels in the query.
            let target = call.query["resource"].map { "\(address)/\($0)" } ?? address
            return try .ok(Ended(ended: try await operations.kick(target)))
        case .announce:
            let request = try Self.decode(Announcement.self, call.body)
            guard !request.body.isEmpty else { throw BadBody("body must not be empty") }
            if let domain = request.domain, !operations.hosts.contains(domain) { throw AdminError.invalid("this server does not serve \(domain)") }
            return try .ok(Sent(sessions: operations.announce(subject: request.subject, body: request.body, domain: request.domain)))
        case .listRooms:
            let limit = try Self.limit(call.query["limit"])
            return try .ok(try await operations.listRooms(service: call.query["service"], after: call.query["after"], limit: limit ?? 100))
        case .room:
            return try .ok(try await operations.room(address))
        case .destroyRoom:
            // The reason may come in a JSON body or, for clients that send no body with DELETE, in the query.
            let reason = call.body.isEmpty ? call.query["reason"] : try Self.decode(RoomDestruction.self, call.body).reason
            try await operations.destroyRoom(address, reason: reason.flatMap { $0.isEmpty ? nil : $0 })
            return .noContent
        case .logLevel:
            return try .ok(LogLevel(level: operations.logLevel.rawValue))
        case .setLogLevel:
            let request = try Self.decode(LogLevel.self, call.body)
            guard let level = Logger.Level(rawValue: request.level) else {
                throw BadBody("level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            operations.logLevel = level
            return try .ok(LogLevel(level: level.rawValue))
        case .reload:
            return try .ok(try operations.reload())
        case .listInvitations:
            return try .ok(try await operations.listInvitations())
        case .createInvitation:
            let request = try Self.decode(NewInvitation.self, call.body)
            let lifetime = request.expiresInHours.map { TimeInterval($0) * 3_600 }
            let invitation = try await operations.createInvitation(
                domain: request.domain, rosterOf: request.rosterOf, uses: request.uses ?? 1, lifetime: lifetime, createdBy: "admin-api")
            return try .ok(invitation, status: 201)
        case .revokeInvitation:
            try await operations.revokeInvitation(address)
            return .noContent
        }
    }

    /// A page size from the query, when given.
    private static func limit(_ text: String?) throws -> Int? {
        try text.map { text -> Int in
            guard let limit = Int(text), (1...1000).contains(limit) else { throw BadBody("limit must be a whole number from 1 to 1000") }
            return limit
        }
    }

    private func details(_ address: String) async throws -> AdminAccountDetails {
        let usage = try await self.operations.storageUsage(of: address)
        let sessions = try await self.operations.listSessions(of: address)
        return AdminAccountDetails(
            jid: usage.account, disabled: try self.operations.isDisabled(address), sessions: sessions,
            offlineMessages: usage.offlineMessages, archivedMessages: usage.archivedMessages, moduleData: usage.moduleData)
    }

    static func reply(for failure: AdminError) -> Reply {
        switch failure {
        case .invalid(let message): .error(400, "invalid", message)
        case .notFound(let message): .error(404, "not_found", message)
        case .conflict(let message): .error(409, "conflict", message)
        case .storage: .error(503, "storage", "storage failed; the server log says why")
        case .badConfiguration: .error(422, "bad_configuration", failure.description)
        }
    }

    // MARK: - Routes

    enum Operation: Sendable {
        case status, listAccounts, createAccount, account, deleteAccount, setPassword, setDisabled, roster, fastTokens, revokeFASTTokens
        case sessions, kick, announce, listRooms, room, destroyRoom, logLevel, setLogLevel, reload
        case listInvitations, createInvitation, revokeInvitation
    }

    struct Route: Sendable {
        var method: String
        /// Segments after the prefix; `{name}` matches any one segment.
        var template: [String]
        var operation: Operation

        init(_ method: String, _ path: String, _ operation: Operation) {
            self.method = method
            self.template = path.split(separator: "/").map(String.init)
            self.operation = operation
        }

        func matches(_ segments: [String]) -> Bool {
            self.template.count == segments.count && zip(self.template, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
    }

    /// Every call the API answers; a test holds this list and docs/admin-api.yaml to each other.
    static let routes: [Route] = [
        Route("GET", "status", .status),
        Route("GET", "accounts", .listAccounts),
        Route("POST", "accounts", .createAccount),
        Route("GET", "accounts/{jid}", .account),
        Route("DELETE", "accounts/{jid}", .deleteAccount),
        Route("PUT", "accounts/{jid}/password", .setPassword),
        Route("PUT", "accounts/{jid}/disabled", .setDisabled),
        Route("GET", "accounts/{jid}/roster", .roster),
        Route("GET", "accounts/{jid}/fast-tokens", .fastTokens),
        Route("DELETE", "accounts/{jid}/fast-tokens", .revokeFASTTokens),
        Route("GET", "sessions", .sessions),
        Route("DELETE", "sessions/{jid}", .kick),
        Route("POST", "announcements", .announce),
        Route("GET", "rooms", .listRooms),
        Route("GET", "rooms/{jid}", .room),
        Route("DELETE", "rooms/{jid}", .destroyRoom),
        Route("GET", "log-level", .logLevel),
        Route("PUT", "log-level", .setLogLevel),
        Route("POST", "reload", .reload),
        Route("GET", "invitations", .listInvitations),
        Route("POST", "invitations", .createInvitation),
        Route("DELETE", "invitations/{id}", .revokeInvitation),
    ]

    // MARK: - JSON

    struct BadBody: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    static func decode<Value: Decodable>(_ type: Value.Type, _ body: [UInt8]) throws -> Value {
        guard !body.isEmpty else { throw BadBody("this call needs a JSON body") }
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch DecodingError.keyNotFound(let key, _) {
            throw BadBody("the body lacks \(key.stringValue)")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw BadBody("\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
        } catch {
            throw BadBody("the body is not the JSON object this call takes")
        }
    }

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(value))
    }

    struct NewAccount: Codable {
        var jid: String
        var password: String
    }

    struct NewInvitation: Codable {
        var domain: String?
        var rosterOf: String?
        var uses: Int?
        var expiresInHours: Int?
    }

    struct NewPassword: Codable {
        var password: String
    }

    struct DisabledState: Codable {
        var disabled: Bool
    }

    struct Announcement: Codable {
        var subject: String?
        var body: String
        var domain: String?
    }

    struct RoomDestruction: Codable {
        var reason: String?
    }

    struct LogLevel: Codable {
        var level: String
    }

    struct Ended: Codable {
        var ended: Int
    }

    struct Revoked: Codable {
        var revoked: Int
    }

    struct Sent: Codable {
        var sessions: Int
    }
}

/// An account with what it has on the server now.
public struct AdminAccountDetails: Sendable, Hashable, Codable {
    public var jid: String
    public var disabled: Bool
    public var sessions: [AdminSession]
    public var offlineMessages: Int
    public var archivedMessages: Int
    /// What modules keep for the account (`pep_nodes`, `pep_items`).
    public var moduleData: [String: Int]
}

/// A roster entry as the admin fronts show it.
public struct AdminRosterItem: Sendable, Hashable, Codable {
    public var jid: String
    public var name: String?
    public var groups: [String]
    /// none, to, from or both (RFC 6121 §2.1.2.5).
    public var subscription: String
    /// A subscription request of the account waits for the contact's answer.
    public var pending: Bool
}
