import Testing
import XMPPCore
import XMPPServer

@Suite("admins: the bare JIDs allowed to administer")
struct AdminsConfigurationTests {
    @Test("a list of bare JIDs is read and prepared (normalised)")
    func readsBareJIDs() throws {
        let configuration = try ConfigurationLoader.load(yaml: "admins: [admin@localhost, Root@Example.ORG]")
        #expect(configuration.admins == ["admin@localhost", "Root@Example.ORG"])
        let expected: Set<JID> = [try JID("admin@localhost"), try JID("root@example.org")]
        #expect(try configuration.preparedAdmins() == expected)
    }

    @Test("a full JID, a bare domain or a malformed address is refused with its index")
    func refusesOthers() {
        for (yaml, path) in [
            ("admins: [ok@localhost, admin@localhost/laptop]", "admins[1]"), ("admins: [localhost]", "admins[0]"), ("admins: ['a@b@c']", "admins[0]"),
        ] {
            #expect {
                _ = try ConfigurationLoader.load(yaml: yaml)
            } throws: { error in
                "\(error)".contains(path) && "\(error)".contains("bare JID")
            }
        }
    }
}
