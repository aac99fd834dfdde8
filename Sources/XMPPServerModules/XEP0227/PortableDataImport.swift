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
    }

    public struct ImportError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The `<server-data/>` of a file, with XInclude (§5) references read from the files they
    /// name, relative to the including file. An included file's root may be `<server-data/>`,
    /// `<host/>` or `<user/>`; a file that includes itself, however indirectly, is refused.
    public static func read(file path: String) throws -> Element {
        try self.read(file: path, chain: [])
    }

    private static func read(file path: String, chain: [String]) throws -> Element {
        let canonical = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        guard !chain.contains(canonical) else { throw ImportError(description: "\(path): included again by a file it includes") }
        guard chain.count < 8 else { throw ImportError(description: "\(path): XInclude nested more than 8 deep") }
        let chain = chain + [canonical]
        let root = try self.parse(file: path)
        switch root.name {
        case "server-data":
            var serverData = Element(name: "server-data", namespace: Self.namespace)
            for child in root.elements {
                if self.isInclude(child) {
                    serverData.append(contentsOf: try self.included(child, from: path, chain: chain).children(named: "host"))
                } else if child.name == "host" {
                    serverData.append(try self.resolvingIncludes(ofHost: child, from: path, chain: chain))
                }
            }
            return serverData
        case "host":
            return Element(name: "server-data", namespace: Self.namespace, children: [.element(try self.resolvingIncludes(ofHost: root, from: path, chain: chain))])
        default:
            // A user on its own: its host is the one that includes it.
            let host = Element("host", namespace: Self.namespace, attributes: [("jid", "")], children: [root])
            return Element("server-data", namespace: Self.namespace, children: [host])
        }
    }

    /// The file's root element with everything in it.
    private static func parse(file path: String) throws -> Element {
        guard let data = FileManager.default.contents(atPath: path) else { throw ImportError(description: "\(path): cannot read the file") }
        var parser = XMLStreamParser(
            limits: XMLParserLimits(maxStanzaBytes: max(data.count, 1024), maxDepth: 128, maxAttributeValueBytes: 16 * 1024 * 1024, maxHeaderBytes: 65_536))
        parser.feed(Array(data))
        // The root arrives as a stream header, its children as elements.
        guard case .streamOpened(let header) = try? parser.nextEvent() else {
            throw ImportError(description: "\(path): not an XML document with a <server-data xmlns='\(Self.namespace)'> root")
        }
        guard ["server-data", "host", "user"].contains(header.name), header.namespace == Self.namespace || header.namespace == Self.legacyNamespace else {
            throw ImportError(description: "\(path): the root is <\(header.name)>, not <server-data xmlns='\(Self.namespace)'> (XEP-0227)")
        }
        var root = Element(name: header.name, namespace: Self.namespace, attributes: header.attributes.filter { $0.namespace == nil })
        while true {
            let event: XMLStreamEvent?
            do {
                event = try parser.nextEvent()
            } catch {
                throw ImportError(description: "\(path): \(error)")
            }
            switch event {
            case .element(let child):
                root.append(child)
            case .streamClosed:
                return root
            case .none where root.children.isEmpty && Self.isEmptyElement(data):
                // `<user name='…' password='…'/>`: the parser saw a header that never closes.
                return root
            case .streamOpened, .none:
                throw ImportError(description: "\(path): the document ends before </\(header.name)>")
            }
        }
    }

    /// Whether the document is one empty element (after an XML declaration, if any).
    private static func isEmptyElement(_ data: Data) -> Bool {
        var text = Substring(String(decoding: data, as: UTF8.self)).drop { $0.isWhitespace }
        if text.hasPrefix("<?xml"), let end = text.range(of: "?>") { text = text[end.upperBound...] }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.hasPrefix("<") && trimmed.hasSuffix("/>") && trimmed.dropFirst().firstIndex(of: "<") == nil
    }

    private static func isInclude(_ element: Element) -> Bool {
        element.name == "include" && element.namespace == Self.xincludeNamespace
    }

    /// What an `<xi:include href='…'/>` names, read as a file of its own.
    private static func included(_ include: Element, from path: String, chain: [String]) throws -> Element {
        guard let href = include[attribute: "href"], !href.isEmpty, !href.contains("://") else {
            throw ImportError(description: "\(path): an XInclude without a relative href")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try self.read(file: href.hasPrefix("/") ? href : (directory as NSString).appendingPathComponent(href), chain: chain)
    }

    /// A host with its included users in place: those of included hosts with its name, or
    /// with none (a file holding just users).
    private static func resolvingIncludes(ofHost element: Element, from path: String, chain: [String]) throws -> Element {
        let jid = element[attribute: "jid"] ?? ""
        var host = Element("host", namespace: Self.namespace, attributes: [("jid", jid)])
        for child in element.elements {
            if self.isInclude(child) {
                for other in try self.included(child, from: path, chain: chain).children(named: "host") {
                    guard other[attribute: "jid"] == jid || other[attribute: "jid"] == "" else {
                        throw ImportError(description: "\(path): includes users of \(other[attribute: "jid"] ?? "") in the host \(jid)")
                    }
                    host.append(contentsOf: other.children(named: "user"))
                }
            } else if child.name == "user" {
                host.append(child)
            }
        }
        return host
    }

    /// Imports every user of the hosts this server serves; users that exist are left as they
    /// are. Every user's credentials are read first: a malformed one stops the import before
    /// anything is written.
    public static func importUsers(_ serverData: Element, hosts: Set<String>, into storage: any StorageBackend) async throws -> ImportReport {
        var report = ImportReport()
        var planned: [(account: JID, localpart: String, credentials: [SCRAMCredentials], user: Element)] = []
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
                planned.append((account, localpart, try self.credentials(of: user), user))
            }
        }
        for (account, localpart, credentials, user) in planned {
            do {
                try await storage.accounts.createAccount(account, credentials: credentials, skeleton: UsernamePolicy.confusableSkeleton(localpart))
            } catch let error as StorageError {
                report.skipped.append("\(account): \(error)")
                continue
            }
            var counts = Counts()
            do {
                try await self.importData(of: user, account: account, into: storage, counts: &counts)
            } catch {
                // Half an account would be skipped as "already there" by the next run: none is left.
                _ = try? await storage.accounts.deleteAccount(account)
                report.skipped.append("\(account): its data could not be stored (\(error)); the account was not kept")
                continue
            }
            counts.users = 1
            counts.credentials = credentials.count
            report.counts.add(counts)
            if credentials.isEmpty { report.withoutCredentials.append(account.description) }
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
            // ejabberd (23.01) writes its stored values, already base64, in base64 again: keys of
            // the wrong length that decode once more to the right one say so, for the salt too.
            let twice = scram.child(named: "server-key").flatMap { Base64.decode($0.text) }.map { $0.count != hash.outputByteCount } ?? false
            func decoded(_ name: String) -> [UInt8]? {
                guard let once = scram.child(named: name).flatMap({ Base64.decode($0.text) }) else { return nil }
                return twice ? Base64.decode(String(decoding: once, as: UTF8.self)) : once
            }
            guard let iterations = scram.child(named: "iter-count").flatMap({ Int($0.text) }), iterations > 0,
                let salt = decoded("salt"), let serverKey = decoded("server-key"), let storedKey = decoded("stored-key"),
                serverKey.count == hash.outputByteCount, storedKey.count == hash.outputByteCount
            else {
                throw ImportError(description: "user \(user[attribute: "name"] ?? ""): malformed \(mechanism) credentials")
            }
            result.append(SCRAMCredentials(hash: hash, salt: salt, iterations: iterations, storedKey: storedKey, serverKey: serverKey))
        }
        if result.isEmpty, let password = user[attribute: "password"], password.hasPrefix("scram:") {
            // ejabberd's form: scram:<StoredKey>,<ServerKey>,<salt>,<iterations> in base64, the
            // hash told by the keys' length.
            let parts = password.dropFirst("scram:".count).split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 4, let storedKey = Base64.decode(String(parts[0])), let serverKey = Base64.decode(String(parts[1])),
                let salt = Base64.decode(String(parts[2])), let iterations = Int(parts[3]), iterations > 0,
                storedKey.count == serverKey.count, let hash = SCRAMHash.allCases.first(where: { $0.outputByteCount == storedKey.count })
            else {
                throw ImportError(description: "user \(user[attribute: "name"] ?? ""): malformed scram: password")
            }
            result.append(SCRAMCredentials(hash: hash, salt: salt, iterations: iterations, storedKey: storedKey, serverKey: serverKey))
        } else if result.isEmpty, let password = user[attribute: "password"], !password.isEmpty {
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
                    // A request already read for the contact (the file may list it first) is kept.
                    let pending = try await storage.rosters.item(of: account, contact: contact)
                    var state = SubscriptionState(subscription: entry[attribute: "subscription"] ?? "none", ask: entry[attribute: "ask"] == "subscribe")
                    state.pendingIn = pending?.state.pendingIn ?? false
                    let groups = entry.children(named: "group").map(\.text).filter { !$0.isEmpty }
                    let item = RosterItem(jid: contact, name: entry[attribute: "name"], groups: groups, state: state, pendingRequest: pending?.pendingRequest)
                    try await storage.rosters.setItem(item, of: account)
                    counts.rosterItems += 1
                }
            // In jabber:client as XEP-0227 shows it, or in the file's namespace as Prosody writes it.
            case (XMPPNamespace.client, "presence") where child.stanzaType == "subscribe",
                (Self.namespace, "presence") where child.stanzaType == "subscribe",
                (Self.legacyNamespace, "presence") where child.stanzaType == "subscribe":
                guard let contact = child.from?.bare else { continue }
                var item = try await storage.rosters.item(of: account, contact: contact) ?? RosterItem(jid: contact, inRoster: false)
                item.state.pendingIn = true
                var request = Element("presence", namespace: XMPPNamespace.client, attributes: [("type", "subscribe"), ("from", contact.description)])
                request[attribute: "to"] = account.description
                for var detail in child.elements {
                    if detail.namespace == Self.namespace || detail.namespace == Self.legacyNamespace { detail.namespace = XMPPNamespace.client }
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
            case (Self.namespace, "offline-messages"), (Self.legacyNamespace, "offline-messages"):
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
