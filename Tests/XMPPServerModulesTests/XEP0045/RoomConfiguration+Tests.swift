import Testing
import XMPPCore
@testable import XMPPServerModules

private func submitted(_ fields: [(String, [String])]) -> DataForm {
    DataForm(type: "submit", formType: RoomConfiguration.formType, fields: fields.map { DataForm.Field($0.0, values: $0.1) })
}

/// The condition `body` fails with; nil when it succeeds.
private func condition(_ body: () throws -> RoomConfiguration) -> StanzaErrorCondition? {
    do {
        _ = try body()
        return nil
    } catch {
        return (error as? StanzaError)?.condition ?? .undefinedCondition
    }
}

@Suite("RoomConfiguration (XEP-0045 §10.2 muc#roomconfig)")
struct RoomConfigurationTests {
    @Test("every muc#roomconfig field is applied")
    func everyField() throws {
        let form = submitted([
            ("muc#roomconfig_roomname", ["A Dark Cave"]),
            ("muc#roomconfig_roomdesc", ["The place for all good witches!"]),
            ("muc#roomconfig_lang", ["en"]),
            ("muc#roomconfig_persistentroom", ["1"]),
            ("muc#roomconfig_publicroom", ["0"]),
            ("muc#roomconfig_membersonly", ["true"]),
            ("muc#roomconfig_moderatedroom", ["1"]),
            ("muc#roomconfig_passwordprotectedroom", ["1"]),
            ("muc#roomconfig_roomsecret", ["cauldronburn"]),
            ("muc#roomconfig_maxusers", ["20"]),
            ("muc#roomconfig_whois", ["anyone"]),
            ("muc#maxhistoryfetch", ["10"]),
            ("muc#roomconfig_allowinvites", ["1"]),
            ("muc#roomconfig_changesubject", ["1"]),
            ("muc#roomconfig_enablelogging", ["0"]),
            ("muc#roomconfig_allowpm", ["moderators"]),
            ("muc#roomconfig_presencebroadcast", ["moderator", "participant"]),
            ("muc#roomconfig_pubsub", ["xmpp:pubsub.shakespeare.lit?;node=princely_musings"]),
        ])
        let result = try RoomConfiguration().applying(form, historyLimit: 50)
        #expect(result.name == "A Dark Cave")
        #expect(result.description == "The place for all good witches!")
        #expect(result.language == "en")
        #expect(result.persistent)
        #expect(!result.isPublic)
        #expect(result.membersOnly)
        #expect(result.moderated)
        #expect(result.password == "cauldronburn")
        #expect(result.maxOccupants == 20)
        #expect(result.whois == .anyone)
        #expect(result.historyLength == 10)
        #expect(result.allowInvites)
        #expect(result.changeSubject)
        #expect(!result.archived)
        #expect(result.allowPrivateMessages == .moderators)
        #expect(result.presenceBroadcast == [.moderator, .participant])
        #expect(result.pubsubNode == "xmpp:pubsub.shakespeare.lit?;node=princely_musings")
    }

    @Test("fields left out keep their values; unknown fields are ignored; an empty submit changes nothing")
    func partial() throws {
        var start = RoomConfiguration()
        start.name = "Cave"
        start.moderated = true
        let result = try start.applying(submitted([("muc#roomconfig_roomdesc", ["d"]), ("x-unknown#field", ["whatever"])]), historyLimit: 50)
        #expect(result.name == "Cave")
        #expect(result.moderated)
        #expect(result.description == "d")
        #expect(try start.applying(DataForm(type: "submit"), historyLimit: 50) == start)
    }

    @Test("an empty room name field clears the name")
    func clearName() throws {
        var start = RoomConfiguration()
        start.name = "Cave"
        #expect(try start.applying(submitted([("muc#roomconfig_roomname", [])]), historyLimit: 50).name == "")
    }

    @Test("a password-protected room without a password is not acceptable")
    func passwordWithoutSecret() {
        #expect(condition { try RoomConfiguration().applying(submitted([("muc#roomconfig_passwordprotectedroom", ["1"])]), historyLimit: 50) } == .notAcceptable)
        #expect(condition {
            try RoomConfiguration().applying(submitted([("muc#roomconfig_passwordprotectedroom", ["1"]), ("muc#roomconfig_roomsecret", [""])]), historyLimit: 50)
        } == .notAcceptable)
    }

    @Test("a protected room keeps its password when the secret is left out; switching protection off drops it")
    func passwordKeptAndDropped() throws {
        var start = RoomConfiguration()
        start.password = "cauldronburn"
        #expect(try start.applying(submitted([("muc#roomconfig_passwordprotectedroom", ["1"])]), historyLimit: 50).password == "cauldronburn")
        #expect(try start.applying(submitted([("muc#roomconfig_passwordprotectedroom", ["0"]), ("muc#roomconfig_roomsecret", ["x"])]), historyLimit: 50).password == nil)
        #expect(try start.applying(submitted([("muc#roomconfig_roomsecret", ["newer"])]), historyLimit: 50).password == "newer")
    }

    @Test("values that make no sense are a bad request", arguments: [
        ("muc#roomconfig_persistentroom", "maybe"),
        ("muc#roomconfig_membersonly", "yes"),
        ("muc#roomconfig_moderatedroom", ""),
        ("muc#roomconfig_passwordprotectedroom", "2"),
        ("muc#roomconfig_maxusers", "many"),
        ("muc#roomconfig_maxusers", "-5"),
        ("muc#roomconfig_whois", "everybody"),
        ("muc#maxhistoryfetch", "-1"),
        ("muc#maxhistoryfetch", "lots"),
        ("muc#roomconfig_allowpm", "friends"),
        ("muc#roomconfig_presencebroadcast", "none"),
        ("muc#roomconfig_presencebroadcast", "outcast"),
    ])
    func badValues(_ field: String, _ value: String) {
        #expect(condition { try RoomConfiguration().applying(submitted([(field, [value])]), historyLimit: 50) } == .badRequest)
    }

    @Test("maxusers none, empty or 0 lift the room's own limit")
    func noLimit() throws {
        var start = RoomConfiguration()
        start.maxOccupants = 10
        for value in ["none", "", "0"] {
            #expect(try start.applying(submitted([("muc#roomconfig_maxusers", [value])]), historyLimit: 50).maxOccupants == nil)
        }
    }

    @Test("the history length is capped by the service's limit; the older field name works too")
    func historyCap() throws {
        #expect(try RoomConfiguration().applying(submitted([("muc#maxhistoryfetch", ["500"])]), historyLimit: 50).historyLength == 50)
        #expect(try RoomConfiguration().applying(submitted([("muc#roomconfig_historylength", ["7"])]), historyLimit: 50).historyLength == 7)
        #expect(try RoomConfiguration().applying(submitted([("muc#maxhistoryfetch", ["0"])]), historyLimit: 50).historyLength == 0)
    }

    @Test("presence broadcast takes any set of roles, the empty set included")
    func presenceBroadcast() throws {
        #expect(try RoomConfiguration().applying(submitted([("muc#roomconfig_presencebroadcast", ["moderator"])]), historyLimit: 50).presenceBroadcast == [.moderator])
        #expect(try RoomConfiguration().applying(submitted([("muc#roomconfig_presencebroadcast", [])]), historyLimit: 50).presenceBroadcast == [])
    }

    @Test("enablearchiving is a synonym of enablelogging")
    func archiving() throws {
        #expect(try RoomConfiguration().applying(submitted([("muc#roomconfig_enablearchiving", ["0"])]), historyLimit: 50).archived == false)
    }

    @Test("the form offered carries the current values and the owner and admin lists")
    func offeredForm() throws {
        var configuration = RoomConfiguration()
        configuration.name = "Cave"
        configuration.password = "pw"
        configuration.maxOccupants = 30
        let form = configuration.form(owners: [address("crone1@shakespeare.lit")], admins: [address("wiccarocks@shakespeare.lit")], historyLimit: 50)
        #expect(form.type == "form")
        #expect(form.formType == RoomConfiguration.formType)
        #expect(form.value("muc#roomconfig_roomname") == "Cave")
        #expect(form.bool("muc#roomconfig_passwordprotectedroom") == true)
        #expect(form.value("muc#roomconfig_roomsecret") == "pw")
        #expect(form.value("muc#roomconfig_maxusers") == "30")
        #expect(form.values("muc#roomconfig_roomowners") == ["crone1@shakespeare.lit"])
        #expect(form.values("muc#roomconfig_roomadmins") == ["wiccarocks@shakespeare.lit"])
        #expect(form.values("muc#roomconfig_presencebroadcast") == ["visitor", "participant", "moderator"])
        // Submitting the offered form back unchanged changes nothing.
        var back = form
        back.type = "submit"
        #expect(try configuration.applying(back, historyLimit: 50) == configuration)
    }

    @Test("status codes of §10.2.1: 170/171 for logging, 172/173 for anonymity, 104 for anything else")
    func statusCodes() {
        let old = RoomConfiguration()
        var logging = old
        logging.archived = false
        #expect(logging.statusCodes(comparedTo: old) == [171])
        #expect(old.statusCodes(comparedTo: logging) == [170])
        var open = old
        open.whois = .anyone
        #expect(open.statusCodes(comparedTo: old) == [172])
        #expect(old.statusCodes(comparedTo: open) == [173])
        var both = open
        both.archived = false
        #expect(both.statusCodes(comparedTo: old) == [171, 172])
        var renamed = old
        renamed.name = "new"
        #expect(renamed.statusCodes(comparedTo: old) == [104])
        #expect(old.statusCodes(comparedTo: old) == [])
    }

    @Test("disco features come in muc_* pairs (§6.4)")
    func features() {
        let defaults = RoomConfiguration()
        #expect(defaults.features == ["muc_temporary", "muc_public", "muc_open", "muc_unmoderated", "muc_semianonymous", "muc_unsecured"])
        var other = defaults
        other.persistent = true
        other.isPublic = false
        other.membersOnly = true
        other.moderated = true
        other.whois = .anyone
        other.password = "pw"
        #expect(other.features == ["muc_persistent", "muc_hidden", "muc_membersonly", "muc_moderated", "muc_nonanonymous", "muc_passwordprotected"])
    }

    @Test("muc#roominfo carries the FORM_TYPE, occupants and subject")
    func roomInfo() {
        let info = RoomConfiguration().roomInfo(occupants: 3, subject: "Fire Burn")
        #expect(info.type == "result")
        #expect(info.formType == "http://jabber.org/protocol/muc#roominfo")
        #expect(info.value("muc#roominfo_occupants") == "3")
        #expect(info.value("muc#roominfo_subject") == "Fire Burn")
    }
}
