import Foundation
import Testing
import XMPPCore
import XMPPStorage

@Suite("ArchiveStore contract")
struct ArchiveStoreContractTests {
    static let juliet = "juliet@example.net"
    static let romeo = "romeo@example.net"

    /// Ten messages a minute apart: m1…m10, odd ones with Juliet, even ones with Romeo.
    static func fill(_ storage: any StorageBackend, for account: JID) async throws {
        for index in 1...10 {
            let peer = try JID(index % 2 == 1 ? Self.juliet : Self.romeo)
            let message = ArchivedMessage(
                id: "m\(index)", timestamp: Fixture.epoch.addingTimeInterval(Double(index) * 60), with: peer, stanza: "<message id='s\(index)'/>")
            try await storage.archive.append(message, body: "body number \(index)", for: account)
        }
    }

    static func ids(_ page: ArchivePage) -> [String] { page.items.map(\.id) }

    @Test("appended messages come back whole, in order, filtered by peer and time", arguments: Backend.allCases)
    func filters(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            try await Self.fill(storage, for: alice)
            let all = try await storage.archive.query(ArchiveQuery(), for: alice)
            #expect(Self.ids(all) == (1...10).map { "m\($0)" } && all.complete)
            let first = try #require(all.items.first)
            #expect(first.with.description == Self.juliet && first.stanza == "<message id='s1'/>")
            #expect(Fixture.closeEnough(first.timestamp, Fixture.epoch.addingTimeInterval(60)))

            let withJuliet = try await storage.archive.query(ArchiveQuery(with: try JID(Self.juliet)), for: alice)
            #expect(Self.ids(withJuliet) == ["m1", "m3", "m5", "m7", "m9"])
            // start and end are inclusive (XEP-0313 §4.1.1).
            let window = ArchiveQuery(start: Fixture.epoch.addingTimeInterval(3 * 60), end: Fixture.epoch.addingTimeInterval(5 * 60))
            #expect(Self.ids(try await storage.archive.query(window, for: alice)) == ["m3", "m4", "m5"])
            let combined = ArchiveQuery(with: try JID(Self.romeo), start: Fixture.epoch.addingTimeInterval(5 * 60))
            #expect(Self.ids(try await storage.archive.query(combined, for: alice)) == ["m6", "m8", "m10"])
        }
    }

    @Test("messageCount says how many messages one account's archive holds", arguments: Backend.allCases)
    func messageCount(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let bob = try await Fixture.account("bob@example.com", in: storage)
            #expect(try await storage.archive.messageCount(for: alice) == 0)
            try await Self.fill(storage, for: alice)
            #expect(try await storage.archive.messageCount(for: alice) == 10)
            #expect(try await storage.archive.messageCount(for: bob) == 0)
            try await storage.archive.purge(account: alice)
            #expect(try await storage.archive.messageCount(for: alice) == 0)
        }
    }

    @Test("the peer is kept as a bare JID, and a query names it bare", arguments: Backend.allCases)
    func barePeer(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let message = ArchivedMessage(id: "x", timestamp: Fixture.epoch, with: try JID("juliet@example.net/balcony"), stanza: "<message/>")
            try await storage.archive.append(message, body: nil, for: alice)
            let page = try await storage.archive.query(ArchiveQuery(with: try JID(Self.juliet)), for: alice)
            #expect(page.items.map(\.with.description) == [Self.juliet])
        }
    }

    @Test("full-text search ignores case, takes % and _ literally, and never matches a message without a body", arguments: Backend.allCases)
    func fulltext(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let peer = try JID(Self.juliet)
            let bodies: [String?] = ["Hello World", "100% sure", "snake_case", "hello again", nil, "1000 sure", "snakeXcase"]
            for (index, body) in bodies.enumerated() {
                try await storage.archive.append(ArchivedMessage(id: "t\(index)", timestamp: Fixture.epoch, with: peer, stanza: "<message/>"), body: body, for: alice)
            }
            func search(_ text: String) async throws -> [String] {
                Self.ids(try await storage.archive.query(ArchiveQuery(fulltext: text), for: alice))
            }
            #expect(try await search("HELLO") == ["t0", "t3"])
            #expect(try await search("0%") == ["t1"])
            #expect(try await search("e_c") == ["t2"])
            #expect(try await search("nothing like it").isEmpty)
        }
    }

    @Test("full-text search ignores case beyond ASCII, the same way on every machine", arguments: Backend.allCases)
    func fulltextUnicode(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let peer = try JID(Self.juliet)
            let bodies = ["Été à Paris", "L'ÉTÉ", "ete sans accent", "ΣΟΦΙΑ", "Straße"]
            for (index, body) in bodies.enumerated() {
                try await storage.archive.append(ArchivedMessage(id: "u\(index)", timestamp: Fixture.epoch, with: peer, stanza: "<message/>"), body: body, for: alice)
            }
            func search(_ text: String) async throws -> [String] {
                Self.ids(try await storage.archive.query(ArchiveQuery(fulltext: text), for: alice))
            }
            #expect(try await search("été") == ["u0", "u1"])
            #expect(try await search("ÉTÉ") == ["u0", "u1"])
            #expect(try await search("ete") == ["u2"])
            #expect(try await search("σοφ") == ["u3"])
            // Lower-casing, not full case folding: ß does not become "ss" (SQL cannot index that either).
            #expect(try await search("STRASSE").isEmpty)
            #expect(try await search("straße") == ["u4"])
        }
    }

    @Test("paging forwards and backwards by ID (XEP-0059)", arguments: Backend.allCases)
    func paging(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            try await Self.fill(storage, for: alice)
            let archive = storage.archive
            // Forwards: from the start, then after the last ID of each page.
            var forwards: [[String]] = []
            var after: String? = nil
            while true {
                let page = try await archive.query(ArchiveQuery(after: after, limit: 4), for: alice)
                forwards.append(Self.ids(page))
                if page.complete { break }
                after = page.items.last?.id
                #expect(forwards.count < 5, "paging forwards never ends")
                if forwards.count >= 5 { break }
            }
            #expect(forwards == [["m1", "m2", "m3", "m4"], ["m5", "m6", "m7", "m8"], ["m9", "m10"]])

            // Backwards: "" is the end of the archive; each page is still oldest first.
            var backwards: [[String]] = []
            var before = ""
            while true {
                let page = try await archive.query(ArchiveQuery(before: before, limit: 4), for: alice)
                backwards.append(Self.ids(page))
                if page.complete { break }
                before = page.items.first?.id ?? ""
                #expect(backwards.count < 5, "paging backwards never ends")
                if backwards.count >= 5 { break }
            }
            #expect(backwards == [["m7", "m8", "m9", "m10"], ["m3", "m4", "m5", "m6"], ["m1", "m2"]])

            // A page that ends exactly at the end of the results is complete.
            let exact = try await archive.query(ArchiveQuery(after: "m6", limit: 4), for: alice)
            #expect(Self.ids(exact) == ["m7", "m8", "m9", "m10"] && exact.complete)
            // Both bounds: the messages strictly between them.
            let between = try await archive.query(ArchiveQuery(after: "m2", before: "m6"), for: alice)
            #expect(Self.ids(between) == ["m3", "m4", "m5"])
            // Paging within a filter counts only what matches.
            let filtered = try await archive.query(ArchiveQuery(with: try JID(Self.romeo), after: "m3", limit: 2), for: alice)
            #expect(Self.ids(filtered) == ["m4", "m6"] && !filtered.complete)
            let filteredBack = try await archive.query(ArchiveQuery(with: try JID(Self.romeo), before: "m6", limit: 5), for: alice)
            #expect(Self.ids(filteredBack) == ["m2", "m4"] && filteredBack.complete)
            // max=0 asks only whether there is anything (XEP-0059 §2.6): no items, not complete.
            let count = try await archive.query(ArchiveQuery(limit: 0), for: alice)
            #expect(count.items.isEmpty && !count.complete)
            // A negative limit from a careless caller is zero, never a crash or everything.
            let negative = try await archive.query(ArchiveQuery(limit: -1), for: alice)
            #expect(negative.items.isEmpty && !negative.complete)
        }
    }

    @Test("an ID the account's archive does not hold is an error", arguments: Backend.allCases)
    func unknownIDs(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let bob = try await Fixture.account("bob@example.com", in: storage)
            try await Self.fill(storage, for: alice)
            try await storage.archive.append(ArchivedMessage(id: "bobs", timestamp: Fixture.epoch, with: try JID(Self.juliet), stanza: "<message/>"), body: nil, for: bob)
            await #expect(throws: ArchiveError.unknownID("nope")) { try await storage.archive.query(ArchiveQuery(after: "nope"), for: alice) }
            await #expect(throws: ArchiveError.unknownID("nope")) { try await storage.archive.query(ArchiveQuery(before: "nope"), for: alice) }
            // Another account's ID is unknown here: paging never crosses archives.
            await #expect(throws: ArchiveError.unknownID("bobs")) { try await storage.archive.query(ArchiveQuery(after: "bobs"), for: alice) }
            #expect(Self.ids(try await storage.archive.query(ArchiveQuery(), for: bob)) == ["bobs"])
        }
    }

    @Test("a stanza-id is unique within an account's archive, not across archives", arguments: Backend.allCases)
    func uniqueIDs(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let bob = try await Fixture.account("bob@example.com", in: storage)
            let message = ArchivedMessage(id: "same", timestamp: Fixture.epoch, with: try JID(Self.juliet), stanza: "<message/>")
            try await storage.archive.append(message, body: nil, for: alice)
            try await storage.archive.append(message, body: nil, for: bob)
            // A second message under the same ID would make paging by that ID ambiguous.
            await #expect(throws: StorageError.self) { try await storage.archive.append(message, body: nil, for: alice) }
            #expect(try await storage.archive.query(ArchiveQuery(), for: alice).items.count == 1)
        }
    }

    @Test("expiry removes what is older than the date, in every archive; purge empties one", arguments: Backend.allCases)
    func expiryAndPurge(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let bob = try await Fixture.account("bob@example.com", in: storage)
            try await Self.fill(storage, for: alice)
            try await Self.fill(storage, for: bob)
            // m1…m3 are older than the fourth minute in both archives; m4 itself stays.
            #expect(try await storage.archive.expire(before: Fixture.epoch.addingTimeInterval(4 * 60)) == 6)
            #expect(Self.ids(try await storage.archive.query(ArchiveQuery(limit: 3), for: alice)) == ["m4", "m5", "m6"])
            #expect(try await storage.archive.expire(before: Fixture.epoch) == 0)
            #expect(try await storage.archive.purge(account: alice) == 7)
            #expect(try await storage.archive.query(ArchiveQuery(), for: alice).items.isEmpty)
            #expect(try await storage.archive.query(ArchiveQuery(), for: bob).items.count == 7)
            #expect(try await storage.accounts.deleteAccount(bob))
            try await Fixture.account("bob@example.com", in: storage)
            #expect(try await storage.archive.query(ArchiveQuery(), for: bob).items.isEmpty)
        }
    }

    @Test("a room archive needs no account; a message is found by ID and replaced in place, keeping its time and position; full text follows the new body", arguments: Backend.allCases)
    func lookupAndReplace(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            // A room's archive: no account of that name exists, and none needs to.
            let room = try JID("room@conference.example.com")
            for index in 1...10 {
                let peer = try JID(index % 2 == 1 ? Self.juliet : Self.romeo)
                let message = ArchivedMessage(
                    id: "m\(index)", timestamp: Fixture.epoch.addingTimeInterval(Double(index) * 60), with: peer, stanza: "<message id='s\(index)'/>")
                try await storage.roomArchive.append(message, body: "body number \(index)", for: room)
            }
            let found = try #require(try await storage.roomArchive.message(id: "m4", for: room))
            #expect(found.stanza == "<message id='s4'/>" && found.with.description == Self.romeo)
            #expect(try await storage.roomArchive.message(id: "m4", for: try JID("other@conference.example.com")) == nil)
            #expect(try await storage.roomArchive.message(id: "nope", for: room) == nil)

            #expect(try await storage.roomArchive.replace(id: "m4", stanza: "<message><retracted/></message>", body: nil, for: room))
            #expect(try await !storage.roomArchive.replace(id: "nope", stanza: "<message/>", body: nil, for: room))
            let page = try await storage.roomArchive.query(ArchiveQuery(), for: room)
            #expect(Self.ids(page) == (1...10).map { "m\($0)" })
            let replaced = try #require(page.items.first { $0.id == "m4" })
            #expect(replaced.stanza == "<message><retracted/></message>")
            #expect(Fixture.closeEnough(replaced.timestamp, Fixture.epoch.addingTimeInterval(4 * 60)))
            // The old body is no longer searchable.
            #expect(Self.ids(try await storage.roomArchive.query(ArchiveQuery(fulltext: "number 4"), for: room)).isEmpty)
        }
    }
}
