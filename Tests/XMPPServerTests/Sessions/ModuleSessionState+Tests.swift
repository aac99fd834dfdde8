import Testing
import XMPPServer

@Suite("ModuleSessionState")
struct ModuleSessionStateTests {
    static let activeList = SessionStateKey<String>("privacy.active")
    static let sameName = SessionStateKey<String>("privacy.active")
    static let enabled = SessionStateKey<Bool>("carbons.enabled")

    @Test("values are kept per key, typed, and keys with the same name do not collide")
    func typedSlots() {
        var state = ModuleSessionState()
        #expect(state[Self.activeList] == nil)
        state[Self.activeList] = "work"
        state[Self.enabled] = true
        #expect(state[Self.activeList] == "work")
        #expect(state[Self.sameName] == nil)
        #expect(state[Self.enabled] == true)
        state[Self.activeList] = nil
        #expect(state[Self.activeList] == nil)
        #expect(state[Self.enabled] == true)
    }
}
