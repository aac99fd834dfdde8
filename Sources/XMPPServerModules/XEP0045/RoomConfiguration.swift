import XMPPCore

/// What an owner sets about a room through the `muc#roomconfig` form (XEP-0045 §10.2).
struct RoomConfiguration: Codable, Sendable, Hashable {
    enum Whois: String, Codable, Sendable, CaseIterable { case moderators, anyone }
    /// Who may send private messages to occupants (`muc#roomconfig_allowpm`).
    enum PrivateMessages: String, Codable, Sendable, CaseIterable { case anyone, participants, moderators, none }

    var name = ""
    var description = ""
    var language = ""
    var persistent = false
    var isPublic = true
    var membersOnly = false
    var moderated = false
    var password: String?
    /// nil: no limit below the service's.
    var maxOccupants: Int?
    var whois = Whois.moderators
    var historyLength = 20
    var allowInvites = false
    var changeSubject = false
    var archived = true
    var allowPrivateMessages = PrivateMessages.anyone
    /// Roles whose presence is broadcast (`muc#roomconfig_presencebroadcast`); in a room of
    /// thousands, owners keep only moderators' presence to make joins and changes cheap.
    var presenceBroadcast: Set<MUCRole> = [.moderator, .participant, .visitor]
    /// XEP-0045 §10.2: the pubsub node associated with the room, if any.
    var pubsubNode = ""

    static let formType = "http://jabber.org/protocol/muc#roomconfig"
    static let maxOccupantChoices = [10, 20, 30, 50, 100, 200, 500, 1000]

    /// Configuration values the form offers, for the owner to fill in (§10.2).
    func form(owners: [JID], admins: [JID], historyLimit: Int) -> DataForm {
        typealias Field = DataForm.Field
        func flag(_ value: Bool) -> [String] { [value ? "1" : "0"] }
        return DataForm(type: "form", title: "Configuration of the room", formType: Self.formType, fields: [
            Field("muc#roomconfig_roomname", type: "text-single", label: "Name", values: [self.name]),
            Field("muc#roomconfig_roomdesc", type: "text-single", label: "Description", values: [self.description]),
            Field("muc#roomconfig_lang", type: "text-single", label: "Language", values: [self.language]),
            Field("muc#roomconfig_persistentroom", type: "boolean", label: "Keep the room when it is empty", values: flag(self.persistent)),
            Field("muc#roomconfig_publicroom", type: "boolean", label: "List the room in the directory", values: flag(self.isPublic)),
            Field("muc#roomconfig_membersonly", type: "boolean", label: "Only members may enter", values: flag(self.membersOnly)),
            Field("muc#roomconfig_moderatedroom", type: "boolean", label: "Only participants with voice may speak", values: flag(self.moderated)),
            Field("muc#roomconfig_passwordprotectedroom", type: "boolean", label: "A password is needed to enter", values: flag(self.password != nil)),
            Field("muc#roomconfig_roomsecret", type: "text-private", label: "Password", values: [self.password ?? ""]),
            Field("muc#roomconfig_maxusers", type: "list-single", label: "Most occupants at once", values: [self.maxOccupants.map(String.init) ?? "none"],
                  options: [("No limit", "none")] + Self.maxOccupantChoices.map { ("\($0)", "\($0)") }),
            Field("muc#roomconfig_whois", type: "list-single", label: "Who may see real addresses", values: [self.whois.rawValue],
                  options: [("Moderators", "moderators"), ("Anyone", "anyone")]),
            Field("muc#maxhistoryfetch", type: "text-single", label: "Messages sent to newcomers (at most \(historyLimit))", values: ["\(self.historyLength)"]),
            Field("muc#roomconfig_allowinvites", type: "boolean", label: "Occupants may invite others", values: flag(self.allowInvites)),
            Field("muc#roomconfig_changesubject", type: "boolean", label: "Occupants may change the subject", values: flag(self.changeSubject)),
            Field("muc#roomconfig_enablelogging", type: "boolean", label: "Keep an archive of the messages", values: flag(self.archived)),
            Field("muc#roomconfig_allowpm", type: "list-single", label: "Who may send private messages", values: [self.allowPrivateMessages.rawValue],
                  options: PrivateMessages.allCases.map { ($0.rawValue, $0.rawValue) }),
            Field("muc#roomconfig_presencebroadcast", type: "list-multi", label: "Roles whose presence is broadcast",
                  values: MUCRole.allCases.filter { self.presenceBroadcast.contains($0) }.map(\.rawValue),
                  options: [("Moderators", "moderator"), ("Participants", "participant"), ("Visitors", "visitor")]),
            Field("muc#roomconfig_pubsub", type: "text-single", label: "Associated pubsub node", values: [self.pubsubNode]),
            Field("muc#roomconfig_roomowners", type: "jid-multi", label: "Owners", values: owners.map(\.description)),
            Field("muc#roomconfig_roomadmins", type: "jid-multi", label: "Administrators", values: admins.map(\.description)),
        ])
    }

    /// Applies a submitted form; fields left out keep their values, unknown fields are
    /// ignored (XEP-0004 §3.4), a value that makes no sense is refused as a whole.
    func applying(_ form: DataForm, historyLimit: Int) throws(StanzaError) -> RoomConfiguration {
        var result = self
        func bool(_ name: String) throws(StanzaError) -> Bool? {
            guard form.contains(name) else { return nil }
            guard let value = form.bool(name) else { throw StanzaError(.badRequest, text: "\(name) must be a boolean") }
            return value
        }
        if let value = form.value("muc#roomconfig_roomname") ?? (form.contains("muc#roomconfig_roomname") ? "" : nil) { result.name = value }
        if let value = form.value("muc#roomconfig_roomdesc") ?? (form.contains("muc#roomconfig_roomdesc") ? "" : nil) { result.description = value }
        if let value = form.value("muc#roomconfig_lang") { result.language = value }
        if let value = try bool("muc#roomconfig_persistentroom") { result.persistent = value }
        if let value = try bool("muc#roomconfig_publicroom") { result.isPublic = value }
        if let value = try bool("muc#roomconfig_membersonly") { result.membersOnly = value }
        if let value = try bool("muc#roomconfig_moderatedroom") { result.moderated = value }
        if let value = try bool("muc#roomconfig_allowinvites") { result.allowInvites = value }
        if let value = try bool("muc#roomconfig_changesubject") { result.changeSubject = value }
        if let value = try bool("muc#roomconfig_enablelogging") { result.archived = value }
        if let value = try bool("muc#roomconfig_enablearchiving") { result.archived = value }
        let secret = form.value("muc#roomconfig_roomsecret").flatMap { $0.isEmpty ? nil : $0 }
        switch try bool("muc#roomconfig_passwordprotectedroom") {
        case true?:
            guard let password = secret ?? result.password else { throw StanzaError(.notAcceptable, text: "a password-protected room needs a password") }
            result.password = password
        case false?: result.password = nil
        case nil: if form.contains("muc#roomconfig_roomsecret") { result.password = secret }
        }
        if let value = form.value("muc#roomconfig_maxusers") {
            if value == "none" || value.isEmpty || value == "0" {
                result.maxOccupants = nil
            } else {
                guard let number = Int(value), number > 0 else { throw StanzaError(.badRequest, text: "muc#roomconfig_maxusers must be a number or none") }
                result.maxOccupants = number
            }
        }
        if let value = form.value("muc#roomconfig_whois") {
            guard let whois = Whois(rawValue: value) else { throw StanzaError(.badRequest, text: "muc#roomconfig_whois must be moderators or anyone") }
            result.whois = whois
        }
        if let value = form.value("muc#maxhistoryfetch") ?? form.value("muc#roomconfig_historylength") {
            guard let number = Int(value), number >= 0 else { throw StanzaError(.badRequest, text: "the history length must be a whole number") }
            result.historyLength = min(number, historyLimit)
        }
        if let value = form.value("muc#roomconfig_allowpm") {
            guard let choice = PrivateMessages(rawValue: value) else { throw StanzaError(.badRequest, text: "muc#roomconfig_allowpm must be anyone, participants, moderators or none") }
            result.allowPrivateMessages = choice
        }
        if form.contains("muc#roomconfig_presencebroadcast") {
            var roles: Set<MUCRole> = []
            for value in form.values("muc#roomconfig_presencebroadcast") {
                guard let role = MUCRole(rawValue: value), role != .none else { throw StanzaError(.badRequest, text: "unknown role \(value) in muc#roomconfig_presencebroadcast") }
                roles.insert(role)
            }
            result.presenceBroadcast = roles
        }
        if let value = form.value("muc#roomconfig_pubsub") ?? (form.contains("muc#roomconfig_pubsub") ? "" : nil) { result.pubsubNode = value }
        return result
    }

    /// The `muc_*` features of disco#info (XEP-0045 §6.4).
    var features: [String] {
        [
            self.persistent ? "muc_persistent" : "muc_temporary",
            self.isPublic ? "muc_public" : "muc_hidden",
            self.membersOnly ? "muc_membersonly" : "muc_open",
            self.moderated ? "muc_moderated" : "muc_unmoderated",
            self.whois == .anyone ? "muc_nonanonymous" : "muc_semianonymous",
            self.password != nil ? "muc_passwordprotected" : "muc_unsecured",
        ]
    }

    /// The `muc#roominfo` extended information (XEP-0045 §6.4, XEP-0128).
    func roomInfo(occupants: Int, subject: String) -> DataForm {
        typealias Field = DataForm.Field
        var fields = [
            Field("muc#roominfo_description", label: "Description", values: [self.description]),
            Field("muc#roomconfig_roomname", label: "Name", values: [self.name]),
            Field("muc#roominfo_occupants", label: "Occupants", values: ["\(occupants)"]),
            Field("muc#roominfo_subject", label: "Subject", values: [subject]),
            Field("muc#roomconfig_changesubject", label: "Occupants may change the subject", values: [self.changeSubject ? "1" : "0"]),
            Field("muc#maxhistoryfetch", label: "Messages sent to newcomers", values: ["\(self.historyLength)"]),
        ]
        if !self.language.isEmpty { fields.append(Field("muc#roominfo_lang", label: "Language", values: [self.language])) }
        if !self.pubsubNode.isEmpty { fields.append(Field("muc#roominfo_pubsub", label: "Associated pubsub node", values: [self.pubsubNode])) }
        return DataForm(type: "result", formType: "http://jabber.org/protocol/muc#roominfo", fields: fields)
    }

    /// XEP-0045 §10.2.1 status codes for a change: 170/171 (archiving), 172–174 (anonymity).
    func statusCodes(comparedTo old: RoomConfiguration) -> [Int] {
        var codes: [Int] = []
        if self.archived != old.archived { codes.append(self.archived ? 170 : 171) }
        if self.whois != old.whois { codes.append(self.whois == .anyone ? 172 : 173) }
        if codes.isEmpty, self != old { codes.append(104) }
        return codes
    }
}
