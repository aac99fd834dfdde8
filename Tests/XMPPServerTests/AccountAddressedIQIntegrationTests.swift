import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules

/// How a client may address an IQ meant for its own account or for the server.
enum IQAddressing: String, CaseIterable, Sendable, CustomStringConvertible {
    /// No `to` at all: RFC 6120 §10.3.3 says the server handles it for the sender's account.
    case none
    /// The account's own bare JID (RFC 6121 §8.5.1: the server answers for the account).
    case bareJID
    /// The domain, for services the server offers itself (ping, time, version).
    case domain

    var description: String { self.rawValue }
}

/// One request a client sends to its account, and how each addressing may address it.
struct AccountIQCase: Sendable, CustomStringConvertible {
    let name: String
    let type: String
    let payload: Element
    let addressings: [IQAddressing]
    /// Payloads whose content changes from one answer to the next (a clock) are compared by
    /// their element name and namespace only.
    var compareContent = true

    var description: String { self.name }

    static let all: [AccountIQCase] = [
        // profanity's autoping: an XEP-0199 ping without `to` (issue 22).
        AccountIQCase(name: "ping", type: "get", payload: Element(name: "ping", namespace: XMPPNamespace.ping), addressings: IQAddressing.allCases),
        AccountIQCase(
            name: "time", type: "get", payload: Element(name: "time", namespace: XMPPNamespace.time), addressings: IQAddressing.allCases,
            compareContent: false),
        AccountIQCase(name: "version", type: "get", payload: Element(name: "query", namespace: XMPPNamespace.version), addressings: IQAddressing.allCases),
        AccountIQCase(name: "disco#info", type: "get", payload: Element(name: "query", namespace: XMPPNamespace.discoInfo), addressings: [.none, .bareJID]),
        AccountIQCase(name: "disco#items", type: "get", payload: Element(name: "query", namespace: XMPPNamespace.discoItems), addressings: [.none, .bareJID]),
        AccountIQCase(name: "vcard-temp", type: "get", payload: Element(name: "vCard", namespace: XMPPNamespace.vcard), addressings: [.none, .bareJID]),
        AccountIQCase(
            name: "private XML storage", type: "get",
            payload: Element("query", namespace: XMPPNamespace.privateStorage, children: [Element(name: "storage", namespace: "storage:bookmarks")]),
            addressings: [.none, .bareJID]),
        AccountIQCase(name: "blocking", type: "get", payload: Element(name: "blocklist", namespace: XMPPNamespace.blocking), addressings: [.none, .bareJID]),
        AccountIQCase(name: "roster", type: "get", payload: Element(name: "query", namespace: XMPPNamespace.roster), addressings: [.none, .bareJID]),
        AccountIQCase(name: "MAM query", type: "set", payload: Element(name: "query", namespace: "urn:xmpp:mam:2"), addressings: [.none, .bareJID]),
        AccountIQCase(name: "MAM form", type: "get", payload: Element(name: "query", namespace: "urn:xmpp:mam:2"), addressings: [.none, .bareJID]),
        AccountIQCase(name: "last activity", type: "get", payload: Element(name: "query", namespace: XMPPNamespace.last), addressings: [.none, .bareJID]),
    ]
}

@Suite("IQs for the account: without 'to', to the bare JID, to the domain")
struct AccountAddressedIQIntegrationTests {
    /// Each request is answered with a result, the same however it was addressed, from the
    /// address it was sent to (none when it had no `to`: RFC 6120 §8.1.2.1).
    @Test("every addressing of an account request gets the same answer", arguments: AccountIQCase.all)
    func sameAnswer(_ request: AccountIQCase) async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            let alice = try await server.login("alice", password: "a-password", resource: "laptop")
            try await alice.sendPresence()
            let account = alice.jid.bare
            var payloads: [(IQAddressing, Element?)] = []
            for addressing in request.addressings {
                let to: JID? =
                    switch addressing {
                    case .none: nil
                    case .bareJID: account
                    case .domain: try JID(server.domain)
                    }
                let reply = try await alice.iq(request.type, to: to, payload: request.payload)
                #expect(
                    reply.stanzaType == "result",
                    "\(request.name) addressed \(addressing) was answered \(StanzaError(stanza: reply)?.condition.rawValue ?? reply.stanzaType ?? "?")")
                #expect(reply[attribute: "from"] == to?.description, "\(request.name) addressed \(addressing) was answered from \(reply[attribute: "from"] ?? "nowhere")")
                payloads.append((addressing, reply.elements.first))
            }
            guard let (firstAddressing, first) = payloads.first else { return }
            for (addressing, payload) in payloads.dropFirst() {
                if request.compareContent {
                    #expect(payload == first, "\(request.name): \(addressing) got \(String(describing: payload)), \(firstAddressing) got \(String(describing: first))")
                } else {
                    #expect(payload?.name == first?.name && payload?.namespace == first?.namespace)
                }
            }
            await alice.close()
        }
    }

    /// The fallback to the server's own handlers is for the account's owner only: another
    /// account's bare JID still gets `service-unavailable` for a namespace no account handles
    /// (RFC 6121 §8.5.1), so nobody learns the server's answers on someone else's behalf.
    @Test("a ping to another account's bare JID is not answered by the server for it")
    func otherAccount() async throws {
        try await withServer { server in
            try await server.addUser("alice", password: "a-password")
            try await server.addUser("bob", password: "b-password")
            let alice = try await server.login("alice", password: "a-password", resource: "laptop")
            let reply = try await alice.iq("get", to: try JID("bob@\(server.domain)"), payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            #expect(StanzaError(stanza: reply)?.condition == .serviceUnavailable)
            await alice.close()
        }
    }
}
