import Foundation
import Testing
import XMPPCore
import XMPPStorage

@Suite("OfflineStore contract")
struct OfflineStoreContractTests {
    @Test("messages come back oldest first with their stamps, and go when delivered", arguments: Backend.allCases)
    func storeFetchRemove(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let store = storage.offline
            #expect(try await store.messages(for: alice).isEmpty)
            // Stamps out of order on purpose: the order is the order of arrival.
            let stamps = [Fixture.epoch.addingTimeInterval(60.25), Fixture.epoch, Fixture.epoch.addingTimeInterval(30.5)]
            for (index, stamp) in stamps.enumerated() {
                #expect(try await store.store("<message id='m\(index)'/>", stamp: stamp, for: alice, quota: 10))
            }
            #expect(try await store.count(for: alice) == 3)
            let messages = try await store.messages(for: alice)
            #expect(messages.map(\.stanza) == ["<message id='m0'/>", "<message id='m1'/>", "<message id='m2'/>"])
            #expect(zip(messages, stamps).allSatisfy { Fixture.closeEnough($0.stamp, $1) })
            #expect(messages.map(\.id) == messages.map(\.id).sorted() && Set(messages.map(\.id)).count == 3)

            // Delivery removes what was delivered, through the last delivered ID, and no more.
            try await store.remove(throughID: messages[1].id, for: alice)
            #expect(try await store.messages(for: alice).map(\.stanza) == ["<message id='m2'/>"])
            #expect(try await store.count(for: alice) == 1)
            // A message stored after delivery began gets a later ID than everything before it.
            #expect(try await store.store("<message id='m3'/>", stamp: Fixture.epoch, for: alice, quota: 10))
            let later = try await store.messages(for: alice)
            #expect(later.map(\.stanza) == ["<message id='m2'/>", "<message id='m3'/>"])
            #expect(later[1].id > messages[2].id)
        }
    }

    @Test("the quota counts per account", arguments: Backend.allCases)
    func quota(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let bob = try await Fixture.account("bob@example.com", in: storage)
            let store = storage.offline
            for index in 0..<2 {
                #expect(try await store.store("<message id='a\(index)'/>", stamp: Fixture.epoch, for: alice, quota: 2))
            }
            #expect(try await store.store("<message id='a2'/>", stamp: Fixture.epoch, for: alice, quota: 2) == false)
            #expect(try await store.count(for: alice) == 2)
            #expect(try await store.store("<message id='b0'/>", stamp: Fixture.epoch, for: bob, quota: 2))
            #expect(try await store.count(for: bob) == 1)
            // A zero quota keeps nothing.
            let carol = try await Fixture.account("carol@example.com", in: storage)
            #expect(try await store.store("<message/>", stamp: Fixture.epoch, for: carol, quota: 0) == false)
            #expect(try await store.count(for: carol) == 0)
        }
    }

    @Test("one account's delivery never removes another's messages; deleting the account removes its own", arguments: Backend.allCases)
    func isolation(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let bob = try await Fixture.account("bob@example.com", in: storage)
            let store = storage.offline
            #expect(try await store.store("<message to='alice'/>", stamp: Fixture.epoch, for: alice, quota: 10))
            #expect(try await store.store("<message to='bob'/>", stamp: Fixture.epoch, for: bob, quota: 10))
            try await store.remove(throughID: Int64.max, for: alice)
            #expect(try await store.count(for: alice) == 0)
            #expect(try await store.messages(for: bob).map(\.stanza) == ["<message to='bob'/>"])
            #expect(try await storage.accounts.deleteAccount(bob))
            try await Fixture.account("bob@example.com", in: storage)
            #expect(try await store.count(for: bob) == 0)
        }
    }
}

@Suite("AccountDataStore contract")
struct AccountDataStoreContractTests {
    @Test("set, get, replace and delete by key", arguments: Backend.allCases)
    func setGetDelete(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let store = storage.accountData
            #expect(try await store.value(for: alice, key: "vcard") == nil)
            try await store.setValue("<vCard/>", for: alice, key: "vcard")
            try await store.setValue("<query xmlns='jabber:iq:private'/>", for: alice, key: "private")
            #expect(try await store.value(for: alice, key: "vcard") == "<vCard/>")
            try await store.setValue("<vCard><FN>Alice</FN></vCard>", for: alice, key: "vcard")
            #expect(try await store.value(for: alice, key: "vcard") == "<vCard><FN>Alice</FN></vCard>")
            // Keys are exact: no case folding.
            #expect(try await store.value(for: alice, key: "VCARD") == nil)
            // An empty document is a document, not an absence.
            try await store.setValue("", for: alice, key: "empty")
            #expect(try await store.value(for: alice, key: "empty") == "")
            try await store.setValue(nil, for: alice, key: "vcard")
            #expect(try await store.value(for: alice, key: "vcard") == nil)
            // Deleting what is not there is fine.
            try await store.setValue(nil, for: alice, key: "vcard")
            #expect(try await store.value(for: alice, key: "private") == "<query xmlns='jabber:iq:private'/>")
            // Large and non-ASCII values come back byte for byte.
            let large = String(repeating: "ünïcødé ✓ ", count: 20_000)
            try await store.setValue(large, for: alice, key: "large")
            #expect(try await store.value(for: alice, key: "large") == large)
        }
    }

    @Test("accounts never see each other's data, and an account's data goes with it", arguments: Backend.allCases)
    func isolation(_ backend: Backend) async throws {
        try await backend.withStorage { storage in
            let alice = try await Fixture.account("alice@example.com", in: storage)
            let bob = try await Fixture.account("bob@example.com", in: storage)
            let otherAlice = try await Fixture.account("alice@example.org", in: storage)
            let store = storage.accountData
            try await store.setValue("alice's", for: alice, key: "vcard")
            try await store.setValue("bob's", for: bob, key: "vcard")
            #expect(try await store.value(for: otherAlice, key: "vcard") == nil)
            // A full JID is its account.
            #expect(try await store.value(for: try JID("alice@example.com/phone"), key: "vcard") == "alice's")
            try await store.setValue(nil, for: bob, key: "vcard")
            #expect(try await store.value(for: alice, key: "vcard") == "alice's")
            #expect(try await storage.accounts.deleteAccount(alice))
            try await Fixture.account("alice@example.com", in: storage)
            #expect(try await store.value(for: alice, key: "vcard") == nil)
        }
    }
}
