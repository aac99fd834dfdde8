import Foundation
import XMPPCore
import XMPPSASL
import XMPPStorage

/// Reading XEP-0227 files (Starling's, Prosody's, ejabberd's) into any backend, through the
/// store protocols, so the stores' own rules (confusable names, roster versions) hold.
extension PortableData {
    /// What an import did, and what it left alone and why.
    public struct ImportReport: Sendable {
        public var counts = Counts()
        /// Users not imported: already there, on a domain this server does not serve, or
        /// with a name that is not a valid localpart.
        public var skipped: [String] = []
        /// Users imported without a way to log in (no SCRAM keys or password in the file).
        public var withoutCredentials: [String] = []

        public init() {}

        public mutating func merge(_ other: ImportReport) {
            self.counts.users += other.counts.users
            self.counts.credentials += other.counts.credentials
            self.counts.rosterItems += other.counts.rosterItems
            self.counts.subscriptionRequests += other.counts.subscriptionRequests
            self.counts.vcards += other.counts.vcards
            self.counts.privateXML += other.counts.privateXML
            self.counts.offlineMessages += other.counts.offlineMessages
            self.skipped += other.skipped
            self.withoutCredentials += other.withoutCredentials
        }
    }

    public struct ImportError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The `<server-data/>` of a file, with XInclude (§5) references read from the files
    /// they name, relative to the including file.
    public static func read(file path: String, depth: Int = 0) throws -> Element {
        guard depth < 8 else { throw ImportError(description: "\(path): XInclude nested more than 8 deep") }
        guard let data = FileManager.default.contents(atPath: path) else { throw ImportError(description: "\(path): cannot read the file") }
        var parser = XMLStreamParser(
            limits: XMLParserLimits(maxStanzaBytes: max(data.count, 1024), maxDepth: 128, maxAttributeValueBytes: 16 * 1024 * 1024, maxHeaderBytes: 65_536))
        parser.feed(Array(data))
        // The root arrives as a stream header, its children (hosts) as elements.
        guard case .streamOpened(let header) = try? parser.nextEvent() else {
            throw ImportError(description: "\(path): not an XML document with a <server-data xmlns='\(Self.namespace)'> root")
        }
        guard header.name == "server-data", header.namespace == Self.namespace else {
            throw ImportError(description: "\(path): the root is <\(header.name)>, not <server-data xmlns='\(Self.namespace)'> (XEP-0227)")
        }
        var serverData = Element(name: "server-data", namespace: Self.namespace)
        while true {
            let event: XMLStreamEvent?
            do {
                event = try parser.nextEvent()
            } catch {
                throw ImportError(description: "\(path): \(error)")
            }
            switch event {
            case .element(let child):
                let resolved = try self.resolvingIncludes(child, in: path, depth: depth)
                if resolved.name == "host" { serverData.append(resolved) } else { serverData.append(contentsOf: resolved.children(named: "host")) }
            case .streamClosed:
                return serverData
            case .streamOpened, .none:
                throw ImportError(description: "\(path): the document ends before </server-data>")
            }
        }
    }

    /// An `<xi:include href='…'/>` becomes what the named file holds: hosts for a server-data
    /// level include, users for a host level one.
    private static func resolvingIncludes(_ element: Element, in path: String, depth: Int) throws -> Element {
        let directory = (path as NSString).deletingLastPathComponent
        func included(_ include: Element) throws -> [Element] {
            guard let href = include[attribute: "href"], !href.contains("://") else {
                throw ImportError(description: "\(path): an XInclude without a relative href")
            }
            let target = href.hasPrefix("/") ? href : (directory as NSString).appendingPathComponent(href)
            return try self.read(file: target, depth: depth + 1).children(named: "host")
        }
        if element.name == "include", element.namespace == Self.xincludeNamespace {
            var hosts = Element(name: "included", namespace: Self.namespace)
            for host in try included(element) { hosts.append(host) }
            return hosts
        }
        guard element.name == "host" else { return Element(name: "ignored", namespace: Self.namespace) }
        var host = Element("host", namespace: Self.namespace, attributes: [("jid", element[attribute: "jid"] ?? "")])
        for child in element.elements {
            if child.name == "include", child.namespace == Self.xincludeNamespace {
                for other in try included(child) where other[attribute: "jid"] == host[attribute: "jid"] {
                    for user in other.children(named: "user") { host.append(user) }
                }
            } else if child.name == "user" {
                host.append(child)
            }
        }
        return host
    }

    /// Imports every user of the hosts this server serves; users that exist are left as they are.
    public static func importUsers(_ serverData: Element, hosts: Set<String>, into storage: any StorageBackend) async throws -> ImportReport {
        var report = ImportReport()
        for host in serverData.children(named: "host") {
            let domain = host[attribute: "jid"] ?? ""
            for user in host.children(named: "user") {
                let name = user[attribute: "name"] ?? ""
                guard hosts.contains(domain) else {
                    report.skipped.append("\(name)@\(domain): this server does not serve \(domain)")
                    continue
                }
                guard let account = try? JID(localpart: name, domainpart: domain), let localpart = account.localpart else {
                    report.skipped.append("\(name)@\(domain): not a valid account address")
                    continue
                }
                let credentials = try self.credentials(of: user)
                do {
                    try await storage.accounts.createAccount(account, credentials: credentials, skeleton: UsernamePolicy.confusableSkeleton(localpart))
                } catch let error as StorageError {
                    report.skipped.append("\(account): \(error)")
                    continue
                }
                report.counts.users += 1
                report.counts.credentials += credentials.count
                if credentials.isEmpty { report.withoutCredentials.append(account.description) }
                try await self.importData(of: user, account: account, into: storage, counts: &report.counts)
            }
        }
        return report
    }

    /// SCRAM keys for the hashes Starling knows; else a password in the file, turned into them.
    private static func credentials(of user: Element) throws -> [SCRAMCredentials] {
        var result: [SCRAMCredentials] = []
        for scram in user.children(named: "scram-credentials") where scram.namespace == Self.scramNamespace {
            guard let mechanism = scram[attribute: "mechanism"], mechanism.hasPrefix("SCRAM-"),
                let hash = SCRAMHash(rawValue: String(mechanism.dropFirst("SCRAM-".count))), !result.contains(where: { $0.hash == hash })
            else { continue }
            guard let iterations = scram.child(named: "iter-count").flatMap({ Int($0.text) }), iterations > 0,
                let salt = scram.child(named: "salt").flatMap({ Base64.decode($0.text) }),
                let serverKey = scram.child(named: "server-key").flatMap({ Base64.decode($0.text) }),
                let storedKey = scram.child(named: "stored-key").flatMap({ Base64.decode($0.text) }),
                serverKey.count == hash.outputByteCount, storedKey.count == hash.outputByteCount
            else {
                throw ImportError(description: "user \(user[attribute: "name"] ?? ""): malformed \(mechanism) credentials")
            }
            result.append(SCRAMCredentials(hash: hash, salt: salt, iterations: iterations, storedKey: storedKey, serverKey: serverKey))
        }
        if result.isEmpty, let password = user[attribute: "password"], !password.isEmpty {
            do {
                result = try SCRAMCredentials.deriveAll(password: password)
            } catch {
                throw ImportError(description: "user \(user[attribute: "name"] ?? ""): the password cannot be used: \(error)")
            }
        }
        return result
    }

    private static func importData(of user: Element, account: JID, into storage: any StorageBackend, counts: inout Counts) async throws {
        for child in user.elements {
            switch (child.namespace, child.name) {
            case (Self.rosterNamespace, "query"):
                for entry in child.children(named: "item") {
                    guard let contact = entry[attribute: "jid"].flatMap({ try? JID($0) }) else { continue }
                    let state = SubscriptionState(subscription: entry[attribute: "subscription"] ?? "none", ask: entry[attribute: "ask"] == "subscribe")
                    let groups = entry.children(named: "group").map(\.text).filter { !$0.isEmpty }
                    try await storage.rosters.setItem(RosterItem(jid: contact, name: entry[attribute: "name"], groups: groups, state: state), of: account)
                    counts.rosterItems += 1
                }
            // In jabber:client as XEP-0227 shows it, or in the file's namespace as Prosody writes it.
            case (XMPPNamespace.client, "presence") where child.stanzaType == "subscribe",
                (Self.namespace, "presence") where child.stanzaType == "subscribe":
                guard let contact = child.from?.bare else { continue }
                var item = try await storage.rosters.item(of: account, contact: contact) ?? RosterItem(jid: contact, inRoster: false)
                item.state.pendingIn = true
                var request = Element("presence", namespace: XMPPNamespace.client, attributes: [("type", "subscribe"), ("from", contact.description)])
                request[attribute: "to"] = account.description
                for var detail in child.elements {
                    if detail.namespace == Self.namespace { detail.namespace = XMPPNamespace.client }
                    request.append(detail)
                }
                item.pendingRequest = request.storedText
                try await storage.rosters.setItem(item, of: account)
                counts.subscriptionRequests += 1
            case (Self.vcardNamespace, "vCard"):
                try await storage.accountData.setValue(child.storedText, for: account, key: AccountDataKey.vcard)
                counts.vcards += 1
            case (Self.privateNamespace, "query"):
                for stored in child.elements {
                    try await storage.accountData.setValue(stored.storedText, for: account, key: AccountDataKey.privateXML(stored.namespace))
                    counts.privateXML += 1
                }
            case (Self.namespace, "offline-messages"):
                for message in child.elements where message.name == "message" {
                    let stamp = message.child(named: "delay", namespace: XMPPNamespace.delay)?[attribute: "stamp"].flatMap(XMPPDateTime.parse) ?? Date()
                    _ = try await storage.offline.store(message.storedText, stamp: stamp, for: account, quota: .max)
                    counts.offlineMessages += 1
                }
            default:
                continue
            }
        }
    }
}
