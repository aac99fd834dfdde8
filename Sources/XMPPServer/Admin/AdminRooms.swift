import Foundation

/// A chat-room service (XEP-0045) as the admin fronts see it. The MUC module registers one per
/// service domain with `registrar.addRoomDirectory`: this target cannot name the module, which
/// lives in the target above it, so the module answers through this.
public protocol AdminRoomDirectory: Sendable {
    /// The service's domain (`conference.example.org`).
    var domain: String { get }
    /// Every room of the service in name order: persistent ones as stored, the others as they
    /// are in memory (a room in memory shows its occupants).
    func rooms() async throws -> [AdminRoom]
    /// The room with this name (a prepared localpart); nil when there is none.
    func room(named name: String) async throws -> AdminRoomDetails?
    /// Destroys the room the way an owner's destroy request does (XEP-0045 §10.9), without
    /// asking who owns it: occupants hear the destroy presence with the reason, and the stored
    /// room and its archive go. False when there was no such room.
    func destroy(named name: String, reason: String?) async -> Bool
    /// Rooms in memory now and their occupants; counted without loading anything.
    var activity: (rooms: Int, occupants: Int) { get }
}

/// A room as the admin fronts list it.
public struct AdminRoom: Sendable, Hashable, Codable {
    public var jid: String
    /// The room's name as its owners set it; may be empty.
    public var name: String
    /// Occupants now (nicknames, not sessions).
    public var occupants: Int
    public var persistent: Bool
    /// Listed in the service's directory (`muc_public`).
    public var isPublic: Bool
    public var passwordProtected: Bool
    public var membersOnly: Bool

    public init(jid: String, name: String, occupants: Int, persistent: Bool, isPublic: Bool, passwordProtected: Bool, membersOnly: Bool) {
        self.jid = jid
        self.name = name
        self.occupants = occupants
        self.persistent = persistent
        self.isPublic = isPublic
        self.passwordProtected = passwordProtected
        self.membersOnly = membersOnly
    }

    enum CodingKeys: String, CodingKey {
        case jid, name, occupants, persistent, passwordProtected, membersOnly
        case isPublic = "public"
    }
}

/// One page of rooms, in JID order; `next` continues after the last one.
public struct AdminRoomPage: Sendable, Hashable, Codable {
    public var rooms: [AdminRoom]
    /// How many rooms matched, over every page.
    public var total: Int
    public var next: String?
}

/// A room with what its owners set, who is in it and who belongs to it.
public struct AdminRoomDetails: Sendable, Hashable, Codable {
    public var jid: String
    public var configuration: AdminRoomConfiguration
    public var subject: String
    /// The nickname that set the subject, when one did.
    public var subjectBy: String?
    /// A new room waits for its owner's first configuration; nobody else may enter (§10.1.1).
    public var locked: Bool
    public var occupants: [AdminRoomOccupant]
    public var affiliations: [AdminRoomAffiliation]

    public init(
        jid: String, configuration: AdminRoomConfiguration, subject: String, subjectBy: String?, locked: Bool, occupants: [AdminRoomOccupant],
        affiliations: [AdminRoomAffiliation]
    ) {
        self.jid = jid
        self.configuration = configuration
        self.subject = subject
        self.subjectBy = subjectBy
        self.locked = locked
        self.occupants = occupants
        self.affiliations = affiliations
    }

    /// The listing's view of the same room.
    public var summary: AdminRoom {
        AdminRoom(
            jid: self.jid, name: self.configuration.name, occupants: self.occupants.count, persistent: self.configuration.persistent,
            isPublic: self.configuration.isPublic, passwordProtected: self.configuration.passwordProtected, membersOnly: self.configuration.membersOnly)
    }
}

/// What a room's owners set (the `muc#roomconfig` form, XEP-0045 §10.2), without the password.
public struct AdminRoomConfiguration: Sendable, Hashable, Codable {
    public var name: String
    public var description: String
    public var language: String
    public var persistent: Bool
    public var isPublic: Bool
    public var membersOnly: Bool
    public var moderated: Bool
    public var passwordProtected: Bool
    /// Who sees occupants' real JIDs: `moderators` (semi-anonymous) or `anyone` (non-anonymous).
    public var realJIDsVisibleTo: String
    /// nil: no limit below the service's.
    public var maxOccupants: Int?
    /// Messages are kept in the room's archive (XEP-0313).
    public var archived: Bool
    /// Messages sent to newcomers.
    public var historyLength: Int
    public var occupantsMayInvite: Bool
    public var occupantsMayChangeSubject: Bool
    /// Who may send private messages: anyone, participants, moderators or none.
    public var privateMessages: String

    public init(
        name: String, description: String, language: String, persistent: Bool, isPublic: Bool, membersOnly: Bool, moderated: Bool,
        passwordProtected: Bool, realJIDsVisibleTo: String, maxOccupants: Int?, archived: Bool, historyLength: Int, occupantsMayInvite: Bool,
        occupantsMayChangeSubject: Bool, privateMessages: String
    ) {
        self.name = name
        self.description = description
        self.language = language
        self.persistent = persistent
        self.isPublic = isPublic
        self.membersOnly = membersOnly
        self.moderated = moderated
        self.passwordProtected = passwordProtected
        self.realJIDsVisibleTo = realJIDsVisibleTo
        self.maxOccupants = maxOccupants
        self.archived = archived
        self.historyLength = historyLength
        self.occupantsMayInvite = occupantsMayInvite
        self.occupantsMayChangeSubject = occupantsMayChangeSubject
        self.privateMessages = privateMessages
    }

    enum CodingKeys: String, CodingKey {
        case name, description, language, persistent, membersOnly, moderated, passwordProtected, realJIDsVisibleTo, maxOccupants, archived
        case historyLength, occupantsMayInvite, occupantsMayChangeSubject, privateMessages
        case isPublic = "public"
    }
}

/// Someone in a room now, under one nickname (maybe from several clients).
public struct AdminRoomOccupant: Sendable, Hashable, Codable {
    public var nick: String
    /// moderator, participant or visitor (XEP-0045 §5.1).
    public var role: String
    /// owner, admin, member or none (§5.2).
    public var affiliation: String
    /// The real bare JID.
    public var jid: String
    /// The real full JIDs of the occupant's clients in the room.
    public var sessions: [String]

    public init(nick: String, role: String, affiliation: String, jid: String, sessions: [String]) {
        self.nick = nick
        self.role = role
        self.affiliation = affiliation
        self.jid = jid
        self.sessions = sessions
    }
}

/// A lasting relation to a room (§5.2): owner, admin, member or outcast (banned).
public struct AdminRoomAffiliation: Sendable, Hashable, Codable {
    public var jid: String
    public var affiliation: String
    /// A nickname registered with the room (§7.10).
    public var nick: String?
    public var reason: String?

    public init(jid: String, affiliation: String, nick: String?, reason: String?) {
        self.jid = jid
        self.affiliation = affiliation
        self.nick = nick
        self.reason = reason
    }
}
