import Testing
@testable import XMPPServer

@Suite("ModuleOptions")
struct ModuleOptionsTests {
    private func options(_ yaml: String) throws -> ModuleOptions {
        let configuration = try ConfigurationLoader.load(yaml: "modules: {muc: \(yaml)}")
        return ModuleOptions(path: "modules.muc", values: configuration.modules.sections["muc"] ?? [:])
    }

    @Test("typed reads take written values, defaults for absent or null keys")
    func typedReads() throws {
        let muc = try self.options("{domain: rooms.example, public: false, max: 30, admins: [a@x, b@x], policy: open, history: null}")
        #expect(muc.string("domain") == "rooms.example")
        #expect(muc.bool("public", default: true) == false)
        #expect(muc.int("max", default: 200, range: 1...1000) == 30)
        #expect(muc.strings("admins") == ["a@x", "b@x"])
        #expect(muc.choice("policy", ["open", "admins"], default: "admins") == "open")
        #expect(muc.int("history", default: 20, range: 0...100) == 20)
        #expect(muc.bool("absent", default: true) == true)
        #expect(muc.problems.isEmpty)
    }

    @Test("a value of the wrong type or range keeps the default and is reported with its path")
    func mistakes() throws {
        let muc = try self.options("{public: maybe, max: 5000, admins: a@x, policy: closed, domain: [x]}")
        #expect(muc.bool("public", default: true) == true)
        #expect(muc.int("max", default: 200, range: 1...1000) == 200)
        #expect(muc.strings("admins") == nil)
        #expect(muc.choice("policy", ["open", "admins"], default: "admins") == "admins")
        #expect(muc.string("domain") == nil)
        #expect(muc.problems.map(\.path) == ["modules.muc.public", "modules.muc.max", "modules.muc.admins", "modules.muc.policy", "modules.muc.domain"])
    }

    @Test("keys the module never read are unknown, named with the keys it did read")
    func unknownKeys() throws {
        let muc = try self.options("{domain: rooms.example, domian: rooms.example}")
        _ = muc.string("domain")
        #expect(muc.problems.map(\.path) == ["modules.muc.domian"])
        #expect(muc.problems.first?.message.contains("domain") == true)
    }
}
