import Foundation
import XMPPCore
import XMPPSASL
import XMPPStorage

/// XEP-0227: a server's users in the portable import/export format, for moving between
/// servers. Accounts carry their SCRAM keys (never a password), rosters (with pending
/// subscription requests), vCards, private XML and offline messages.
public enum PortableData {
    static let namespace = "urn:xmpp:pie:0"
    /// The namespace of XEP-0227 before version 1.0, which ejabberd still writes.
    static let legacyNamespace = "http://www.xmpp.org/extensions/xep-0227.html#ns"
    static let scramNamespace = "urn:xmpp:pie:0#scram"
    static let xincludeNamespace = "http://www.w3.org/2001/XInclude"
    static let rosterNamespace = "jabber:iq:roster"
    static let privateNamespace = "jabber:iq:private"
    static let vcardNamespace = "vcard-temp"

    /// What an export or an import held, for the operator to compare.
    public struct Counts: Sendable, Hashable, CustomStringConvertible {
        public var users = 0
        public var credentials = 0
        public var rosterItems = 0
        public var subscriptionRequests = 0
        public var vcards = 0
        public var privateXML = 0
        public var offlineMessages = 0

        mutating func add(_ other: Counts) {
            self.users += other.users
            self.credentials += other.credentials
            self.rosterItems += other.rosterItems
            self.subscriptionRequests += other.subscriptionRequests
            self.vcards += other.vcards
            self.privateXML += other.privateXML
            self.offlineMessages += other.offlineMessages
        }

        public var description: String {
            "\(self.users) users, \(self.credentials) SCRAM credentials, \(self.rosterItems) roster items, \(self.subscriptionRequests) subscription requests, "
                + "\(self.vcards) vCards, \(self.privateXML) private XML documents, \(self.offlineMessages) offline messages"
        }
    }

    /// One user's data, gathered from the tables before it is written.
    struct User {
        var credentials: [SCRAMCredentials] = []
        var roster: [StoredRosterItem] = []
        var accountData: [(key: String, value: String)] = []
        var offline: [(stamp: Date, stanza: String)] = []
    }

    /// Writes every account of `domains` (all when empty) from a backend that exports its
    /// tables. What does not fit the format (archives, PEP nodes, rooms) stays behind.
    public static func export(from storage: any StorageExporting, domains: Set<String>) async throws -> (xml: String, counts: Counts) {
        var users: [StorageOwner: User] = [:]
        func wanted(_ owner: StorageOwner) -> Bool { domains.isEmpty || domains.contains(owner.domain) }
        for table in [StorageTable.accounts, .scramCredentials, .rosterItems, .accountData, .offlineMessages] {
            try await storage.export(table, batchSize: 1000) { records in
                for record in records {
                    switch record {
                    case .account(let owner, _, _) where wanted(owner):
                        users[owner] = users[owner] ?? User()
                    case .credentials(let owner, let credentials) where users[owner] != nil:
                        users[owner]?.credentials.append(credentials)
                    case .rosterItem(let item) where users[item.owner] != nil && !item.removed:
                        users[item.owner]?.roster.append(item)
                    case .accountData(let owner, let key, let value) where users[owner] != nil:
                        users[owner]?.accountData.append((key, value))
                    case .offlineMessage(let owner, let stamp, let stanza) where users[owner] != nil:
                        users[owner]?.offline.append((stamp, stanza))
                    default:
                        break
                    }
                }
            }
        }
        var counts = Counts()
        var serverData = Element(name: "server-data", namespace: Self.namespace)
        for domain in Set(users.keys.map(\.domain)).sorted() {
            var host = Element("host", namespace: Self.namespace, attributes: [("jid", domain)])
            for owner in users.keys.filter({ $0.domain == domain }).sorted(by: { $0.localpart < $1.localpart }) {
                guard let user = users[owner] else { continue }
                host.append(self.element(owner.localpart, user, counts: &counts))
            }
            serverData.append(host)
        }
        let text = "<?xml version='1.0' encoding='UTF-8'?>\n" + XMLSerializer(defaultNamespace: "").string(serverData) + "\n"
        return (text, counts)
    }

    private static func element(_ name: String, _ user: User, counts: inout Counts) -> Element {
        counts.users += 1
        var element = Element("user", namespace: Self.namespace, attributes: [("name", name)])
        for credentials in user.credentials.sorted(by: { $0.hash.rawValue < $1.hash.rawValue }) {
            counts.credentials += 1
            element.append(
                Element("scram-credentials", namespace: Self.scramNamespace, attributes: [("mechanism", "SCRAM-\(credentials.hash.rawValue)")], children: [
                    Element("iter-count", namespace: Self.scramNamespace, text: String(credentials.iterations)),
                    Element("salt", namespace: Self.scramNamespace, text: Base64.encode(credentials.salt)),
                    Element("server-key", namespace: Self.scramNamespace, text: Base64.encode(credentials.serverKey)),
                    Element("stored-key", namespace: Self.scramNamespace, text: Base64.encode(credentials.storedKey)),
                ]))
        }
        var roster = Element(name: "query", namespace: Self.rosterNamespace)
        var requests: [Element] = []
        for item in user.roster {
            if item.inRoster {
                counts.rosterItems += 1
                var entry = Element("item", namespace: Self.rosterNamespace, attributes: [("jid", item.contact), ("subscription", item.subscription)])
                if let name = item.name { entry[attribute: "name"] = name }
                if item.ask { entry[attribute: "ask"] = "subscribe" }
                for group in item.groups { entry.append(Element("group", namespace: Self.rosterNamespace, text: group)) }
                roster.append(entry)
            }
            // XEP-0227 §4.8: a request not yet answered travels as the presence that made it.
            if item.pendingIn {
                counts.subscriptionRequests += 1
                let request = item.pendingRequest.flatMap { Element.parse($0) } ?? Element("presence", namespace: XMPPNamespace.client, attributes: [("type", "subscribe")])
                var presence = request
                presence[attribute: "from"] = item.contact
                presence[attribute: "to"] = "\(item.owner.localpart)@\(item.owner.domain)"
                requests.append(presence)
            }
        }
        if !roster.children.isEmpty { element.append(roster) }
        element.append(contentsOf: requests)
        var privateStorage = Element(name: "query", namespace: Self.privateNamespace)
        for (key, value) in user.accountData {
            if key == AccountDataKey.vcard, let vcard = Element.parse(value) {
                counts.vcards += 1
                element.append(vcard)
            } else if key.hasPrefix(AccountDataKey.privateXML("")), let stored = Element.parse(value) {
                counts.privateXML += 1
                privateStorage.append(stored)
            }
        }
        if !privateStorage.children.isEmpty { element.append(privateStorage) }
        if !user.offline.isEmpty {
            var offline = Element(name: "offline-messages", namespace: Self.namespace)
            for message in user.offline {
                guard let stanza = Element.parse(message.stanza) else { continue }
                counts.offlineMessages += 1
                offline.append(stanza)
            }
            element.append(offline)
        }
        return element
    }
}
