import Testing
@testable import XMPPStorageSQLite

@Suite("SQLite roster group encoding")
struct SQLiteRosterGroupsTests {
    @Test("rows written in the first format (names joined by newlines) still read as before")
    func firstFormat() {
        #expect(SQLiteStorage.decodeGroups("Friends\nFamily") == ["Friends", "Family"])
        #expect(SQLiteStorage.decodeGroups("Friends") == ["Friends"])
        #expect(SQLiteStorage.decodeGroups("").isEmpty)
    }

    @Test("the current format keeps every list of names as it was", arguments: [
        [], [""], ["Friends"], ["two\nlines", "Family"], ["", "a"], ["Ümlaut ✓"],
    ])
    func roundTrip(_ groups: [String]) {
        #expect(SQLiteStorage.decodeGroups(SQLiteStorage.encodeGroups(groups)) == groups)
    }
}
