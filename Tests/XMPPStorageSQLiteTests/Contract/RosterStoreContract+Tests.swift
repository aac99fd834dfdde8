import Foundation
import Testing
import XMPPCore
import XMPPStorage

@Suite("RosterStore contract")
struct RosterStoreContractTests {
    @Test("items are stored, replaced and listed in address order, under their bare JID", arguments: Backend.allCases)
    func items(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let store = storage.rosters
            let empty = try await store.roster(of: alice)
            #expect(empty.version == 0 && empty.items.isEmpty)

            let juliet = try JID("juliet@example.net")
            #expect(try await store.setItem(RosterItem(jid: juliet, name: "Juliet", groups: ["Friends", "Family"], state: SubscriptionState(to: true, from: true)), of: alice) == 1)
            // A full JID names the same contact as its bare JID (RFC 6121 §2.1.2.5).
            #expect(try await store.setItem(RosterItem(jid: try JID("benvolio@example.net/phone"), state: SubscriptionState(to: true)), of: alice) == 2)

            let roster = try await store.roster(of: alice)
            #expect(roster.version == 2)
            #expect(roster.items.map(\.jid.description) == ["benvolio@example.net", "juliet@example.net"])
            let stored = try #require(try await store.item(of: alice, contact: juliet))
            #expect(stored.name == "Juliet")
            #expect(stored.groups == ["Friends", "Family"])
            #expect(stored.state == SubscriptionState(to: true, from: true))
            #expect(try await store.item(of: alice, contact: try JID("benvolio@example.net"))?.jid.description == "benvolio@example.net")
            #expect(try await store.item(of: alice, contact: try JID("juliet@example.net/balcony"))?.name == "Juliet")

            // Replacing an item replaces all of it: name and groups may go away.
            #expect(try await store.setItem(RosterItem(jid: juliet, state: .none), of: alice) == 3)
            let replaced = try #require(try await store.item(of: alice, contact: juliet))
            #expect(replaced.name == nil && replaced.groups.isEmpty && replaced.state == .none)
            #expect(try await store.roster(of: alice).items.count == 2)
        }
    }

    @Test("group names are kept exactly, in order, whatever characters they hold", arguments: Backend.allCases)
    func groupNames(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let contact = try JID("juliet@example.net")
            // XML text may hold a newline; a group's name is its text (RFC 6121 §2.1.2.4).
            let groups = ["Zeta", "two\nlines", "Ümlaut ✓", "Alpha"]
            try await storage.rosters.setItem(RosterItem(jid: contact, groups: groups), of: alice)
            #expect(try await storage.rosters.item(of: alice, contact: contact)?.groups == groups)
            try await storage.rosters.setItem(RosterItem(jid: contact, groups: ["solo"]), of: alice)
            #expect(try await storage.rosters.item(of: alice, contact: contact)?.groups == ["solo"])
        }
    }

    @Test("every change takes the next version; removals leave a marker for roster versioning", arguments: Backend.allCases)
    func versions(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let store = storage.rosters
            let (a, b) = (try JID("a@example.net"), try JID("b@example.net"))
            #expect(try await store.setItem(RosterItem(jid: a), of: alice) == 1)
            #expect(try await store.setItem(RosterItem(jid: b), of: alice) == 2)
            #expect(try await store.removeItem(a, of: alice) == 3)
            // Removing what is not there changes nothing, not even the version.
            #expect(try await store.removeItem(a, of: alice) == nil)
            #expect(try await store.removeItem(try JID("never@example.net"), of: alice) == nil)
            #expect(try await store.roster(of: alice).version == 3)
            #expect(try await store.item(of: alice, contact: a) == nil)
            #expect(try await store.allRecords(of: alice).map(\.jid) == [b])

            let fromStart = try #require(try await store.changes(of: alice, since: 0))
            #expect(fromStart.version == 3 && fromStart.changed.map(\.jid) == [b] && fromStart.removed == [a])
            let sinceTwo = try #require(try await store.changes(of: alice, since: 2))
            #expect(sinceTwo.changed.isEmpty && sinceTwo.removed == [a])
            let current = try #require(try await store.changes(of: alice, since: 3))
            #expect(current.version == 3 && current.changed.isEmpty && current.removed.isEmpty)
            // A version the server never handed out: the client must get the whole roster.
            #expect(try await store.changes(of: alice, since: 4) == nil)
            #expect(try await store.changes(of: alice, since: -1) == nil)

            // Adding a removed contact back reports it as changed, no longer as removed.
            #expect(try await store.setItem(RosterItem(jid: a, name: "again"), of: alice) == 4)
            let readded = try #require(try await store.changes(of: alice, since: 3))
            #expect(readded.changed.map(\.name) == ["again"] && readded.removed.isEmpty)
            // Changes come in the order they were made, each contact once.
            try await store.setItem(RosterItem(jid: b, name: "b2"), of: alice)
            let both = try #require(try await store.changes(of: alice, since: 2))
            #expect(both.changed.map(\.jid) == [a, b] && both.removed.isEmpty)
        }
    }

    /// Every state of RFC 6121 Appendix A that a roster item can be in.
    static let states: [SubscriptionState] = [
        .none, SubscriptionState(to: true), SubscriptionState(from: true), SubscriptionState(to: true, from: true),
        SubscriptionState(pendingOut: true), SubscriptionState(pendingIn: true), SubscriptionState(pendingOut: true, pendingIn: true),
        SubscriptionState(to: true, pendingIn: true), SubscriptionState(from: true, pendingOut: true),
        SubscriptionState(preApproved: true), SubscriptionState(to: true, preApproved: true),
        SubscriptionState(pendingOut: true, preApproved: true), SubscriptionState(pendingIn: true, preApproved: true),
    ]

    @Test("every subscription state, pending and pre-approved included, reads back as written", arguments: Backend.allCases)
    func subscriptionStates(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            for (index, state) in Self.states.enumerated() {
                try await storage.rosters.setItem(RosterItem(jid: try JID("c\(index)@example.net"), state: state), of: alice)
            }
            for (index, state) in Self.states.enumerated() {
                let item = try await storage.rosters.item(of: alice, contact: try JID("c\(index)@example.net"))
                #expect(item?.state == state, "\(state)")
            }
        }
    }

    @Test("a record kept only for a pending request is not part of the roster", arguments: Backend.allCases)
    func pendingOnlyRecords(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let store = storage.rosters
            let romeo = try JID("romeo@example.net")
            let request = "<presence from='romeo@example.net' type='subscribe'><status>hi</status></presence>"
            let version = try await store.setItem(RosterItem(jid: romeo, state: SubscriptionState(pendingIn: true), inRoster: false, pendingRequest: request), of: alice)
            #expect(try await store.roster(of: alice).items.isEmpty)
            #expect(try await store.allRecords(of: alice).map(\.pendingRequest) == [request])
            #expect(try await store.item(of: alice, contact: romeo)?.inRoster == false)
            // A client holding an older version must not be shown it: it counts as removed.
            let changes = try #require(try await store.changes(of: alice, since: version - 1))
            #expect(changes.changed.isEmpty && changes.removed == [romeo])

            // The user adds the contact: now it is in the roster, and the request is still kept.
            try await store.setItem(RosterItem(jid: romeo, name: "Romeo", state: SubscriptionState(pendingIn: true), pendingRequest: request), of: alice)
            #expect(try await store.roster(of: alice).items.map(\.pendingRequest) == [request])
        }
    }

    @Test("rosters are per account and go with the account", arguments: Backend.allCases)
    func isolation(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let bob = try await Fixture.account("bob@example.com", in: storage)
            let juliet = try JID("juliet@example.net")
            try await storage.rosters.setItem(RosterItem(jid: juliet, name: "for alice"), of: alice)
            try await storage.rosters.setItem(RosterItem(jid: juliet, name: "alice again"), of: alice)
            #expect(try await storage.rosters.setItem(RosterItem(jid: juliet, name: "for bob"), of: bob) == 1)
            #expect(try await storage.rosters.item(of: bob, contact: juliet)?.name == "for bob")
            #expect(try await storage.rosters.removeItem(juliet, of: bob) == 2)
            #expect(try await storage.rosters.item(of: alice, contact: juliet)?.name == "alice again")

            #expect(try await storage.accounts.deleteAccount(alice))
            try await Fixture.account("alice@example.com", in: storage)
            let fresh = try await storage.rosters.roster(of: alice)
            #expect(fresh.version == 0 && fresh.items.isEmpty)
            #expect(try await storage.rosters.changes(of: alice, since: 1) == nil)
            #expect(try await storage.rosters.roster(of: bob).version == 2)
        }
    }
}
