import Foundation
import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPSASL
import XMPPServerModules
import XMPPStorage

@Suite("XEP-0227 export and import")
struct PortableDataIntegrationTests {
    /// A SQLite store in a fresh directory, as `starling export` opens it.
    static func sourceStorage() async throws -> (any StorageBackend, String) {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = NSTemporaryDirectory() + "starling-export-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let storage = try XMPPServer.openStorage(configuration)
        try await XMPPServer.waitUntilOpened(storage)
        return (storage, configuration.dataDirectory)
    }

    @Test("an export imported into another server: the old password logs in, and roster, vCard, private XML, a pending request and offline messages are there")
    func roundTrip() async throws {
        let (source, directory) = try await Self.sourceStorage()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let accounts = AccountManager(store: source.accounts, hosts: ["localhost"])
        let alice = try await accounts.create("alice@localhost", password: "alice-password")
        _ = try await accounts.create("bob@localhost", password: "bob-password")
        try await source.rosters.setItem(RosterItem(jid: try JID("bob@localhost"), name: "Bob", groups: ["Friends"], state: SubscriptionState(to: true, from: true)), of: alice)
        // In the roster, subscribed to, and asking for alice's presence: the request must survive.
        try await source.rosters.setItem(
            RosterItem(jid: try JID("dave@example.org"), name: "Dave", state: SubscriptionState(to: true, pendingIn: true),
                pendingRequest: "<presence type='subscribe' from='dave@example.org' to='alice@localhost'/>"),
            of: alice)
        try await source.rosters.setItem(
            RosterItem(jid: try JID("carol@example.org"), state: SubscriptionState(pendingIn: true), inRoster: false,
                pendingRequest: "<presence type='subscribe' from='carol@example.org' to='alice@localhost'><status>it is carol</status></presence>"),
            of: alice)
        try await source.accountData.setValue("<vCard xmlns='vcard-temp'><FN>Alice &amp; co</FN></vCard>", for: alice, key: "vcard-temp")
        try await source.accountData.setValue("<notes xmlns='urn:example:notes'>remember</notes>", for: alice, key: "private:urn:example:notes")
        let stamp = Date(timeIntervalSince1970: 1_700_000_000)
        _ = try await source.offline.store(
            "<message from='bob@localhost/phone' to='alice@localhost' type='chat' id='m1'><body>while you were away</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2023-11-14T22:13:20Z'/></message>",
            stamp: stamp, for: alice, quota: 100)
        let exporting = try #require(source as? any StorageExporting)
        let (xml, exported) = try await PortableData.export(from: exporting, domains: [])
        await source.close()
        #expect(exported.users == 2 && exported.rosterItems == 2 && exported.subscriptionRequests == 2 && exported.vcards == 1)
        #expect(exported.privateXML == 1 && exported.offlineMessages == 1 && exported.credentials == 6)
        #expect(!xml.contains("alice-password"))
        let file = directory + "/export.xml"
        try xml.write(toFile: file, atomically: true, encoding: .utf8)

        try await withServer { server in
            let report = try await PortableData.importUsers(try PortableData.read(file: file), hosts: ["localhost"], into: server.server.storage)
            #expect(report.counts == exported, "imported \(report.counts), exported \(exported)")
            #expect(report.skipped.isEmpty && report.withoutCredentials.isEmpty)
            // Importing again changes nothing and says why.
            let again = try await PortableData.importUsers(try PortableData.read(file: file), hosts: ["localhost"], into: server.server.storage)
            #expect(again.counts.users == 0 && again.skipped.count == 2)

            let client = try await server.login("alice", password: "alice-password")
            let bob = try #require(try await client.rosterEntry("bob@localhost"))
            #expect(bob[attribute: "subscription"] == "both" && bob[attribute: "name"] == "Bob" && bob.child(named: "group")?.text == "Friends")
            let vcard = try await client.iq("get", to: nil, payload: Element(name: "vCard", namespace: "vcard-temp"))
            #expect(vcard.child(named: "vCard")?.child(named: "FN")?.text == "Alice & co")
            let privateQuery = Element("query", namespace: "jabber:iq:private", children: [Element(name: "notes", namespace: "urn:example:notes")])
            let stored = try await client.iq("get", to: nil, payload: privateQuery)
            #expect(stored.child(named: "query")?.child(named: "notes")?.text == "remember")
            try await client.sendPresence()
            let request = try await client.awaitStanza("carol's request", where: SubscriptionStanzas.isPresence("subscribe", from: "carol@example.org"))
            #expect(request.child(named: "status")?.text == "it is carol")
            _ = try await client.awaitStanza("dave's request", where: SubscriptionStanzas.isPresence("subscribe", from: "dave@example.org"))
            #expect(try await client.rosterEntry("dave@example.org")?[attribute: "subscription"] == "to")
            let message = try await client.awaitStanza("the offline message") { $0.name == "message" && $0.id == "m1" }
            #expect(message.child(named: "body")?.text == "while you were away")
            await client.close()
        }
    }

    @Test("files from elsewhere: a plain password becomes SCRAM keys, XInclude is followed, other domains and bad names are skipped, broken files are refused")
    func foreignFiles() async throws {
        let directory = NSTemporaryDirectory() + "starling-import-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory + "/users", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            <?xml version='1.0' encoding='UTF-8'?>
            <server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>
              <host jid='localhost'><xi:include href='users/romeo.xml'/><xi:include href='users/benvolio.xml'/></host>
              <host jid='elsewhere.example'><user name='mercutio' password='x'/></host>
            </server-data>
            """.write(toFile: directory + "/main.xml", atomically: true, encoding: .utf8)
        try """
            <server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>
              <user name='romeo' password='romeo-password'><query xmlns='jabber:iq:roster'><item jid='juliet@example.org' subscription='to'/></query>
                <presence type='subscribe' from='nurse@example.org'><status>as Prosody writes it</status></presence></user>
              <user name='bad name' password='x'/>
              <user name='tybalt'/>
            </host></server-data>
            """.write(toFile: directory + "/users/romeo.xml", atomically: true, encoding: .utf8)
        // §5's layout: an included file may hold just a user.
        try "<user xmlns='urn:xmpp:pie:0' name='benvolio' password='benvolio-password'/>".write(toFile: directory + "/users/benvolio.xml", atomically: true, encoding: .utf8)
        try "<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='loop.xml'/></server-data>"
            .write(toFile: directory + "/loop.xml", atomically: true, encoding: .utf8)
        try "<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='x'>".write(toFile: directory + "/broken.xml", atomically: true, encoding: .utf8)
        try "<other xmlns='urn:example'/>".write(toFile: directory + "/other.xml", atomically: true, encoding: .utf8)

        #expect(throws: PortableData.ImportError.self) { try PortableData.read(file: directory + "/broken.xml") }
        #expect(throws: PortableData.ImportError.self) { try PortableData.read(file: directory + "/other.xml") }
        #expect(throws: PortableData.ImportError.self) { try PortableData.read(file: directory + "/missing.xml") }
        #expect(throws: PortableData.ImportError.self) { try PortableData.read(file: directory + "/loop.xml") }
        try await withServer { server in
            let report = try await PortableData.importUsers(try PortableData.read(file: directory + "/main.xml"), hosts: ["localhost"], into: server.server.storage)
            #expect(report.counts.users == 3 && report.counts.rosterItems == 1 && report.counts.subscriptionRequests == 1)
            #expect(report.withoutCredentials == ["tybalt@localhost"])
            #expect(report.skipped.count == 2, "\(report.skipped)")
            let benvolio = try await server.login("benvolio", password: "benvolio-password")
            await benvolio.close()
            let romeo = try await server.login("romeo", password: "romeo-password")
            #expect(try await romeo.rosterEntry("juliet@example.org")?[attribute: "subscription"] == "to")
            // A request in the file's own namespace (Prosody's export) arrives as a jabber:client one.
            try await romeo.sendPresence()
            let request = try await romeo.awaitStanza("the nurse's request", where: SubscriptionStanzas.isPresence("subscribe", from: "nurse@example.org"))
            #expect(request.child(named: "status", namespace: XMPPNamespace.client)?.text == "as Prosody writes it")
            await romeo.close()
        }
    }

    @Test("ejabberd's export shape: the pre-1.0 namespace, a main file that includes the host's, scram: passwords")
    func ejabberdShape() async throws {
        let directory = NSTemporaryDirectory() + "starling-ejabberd-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = try SCRAMCredentials.derive(password: "ejabberd-password", hash: .sha1, iterations: 4096)
        let scram = "scram:\(Base64.encode(keys.storedKey)),\(Base64.encode(keys.serverKey)),\(Base64.encode(keys.salt)),4096"
        let legacy = "http://www.xmpp.org/extensions/xep-0227.html#ns"
        try "<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='\(legacy)' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='localhost.xml'/></server-data>"
            .write(toFile: directory + "/main.xml", atomically: true, encoding: .utf8)
        try """
            <?xml version='1.0' encoding='UTF-8'?><server-data xmlns='\(legacy)'><host jid='localhost'>
            <user name='hamlet' password='\(scram)'><offline-messages><message xmlns='jabber:client' from='horatio@localhost/x' to='hamlet@localhost' id='o1'><body>the ghost</body></message></offline-messages></user>
            <user name='ophelia' password='scram:not,keys'/>
            </host></server-data>
            """.write(toFile: directory + "/localhost.xml", atomically: true, encoding: .utf8)
        // A malformed scram: password stops the import before anything is written.
        try await withServer { server in
            await #expect(throws: PortableData.ImportError.self) {
                try await PortableData.importUsers(try PortableData.read(file: directory + "/main.xml"), hosts: ["localhost"], into: server.server.storage)
            }
            #expect(try await server.server.storage.accounts.accountExists(try JID("hamlet@localhost")) == false)
            // ejabberd 23.01's <scram-credentials/>: its stored base64 values in base64 again.
            func twice(_ bytes: [UInt8]) -> String { Base64.encode(Array(Base64.encode(bytes).utf8)) }
            let laertes = try SCRAMCredentials.derive(password: "laertes-password", hash: .sha1, iterations: 4096)
            try """
                <?xml version='1.0' encoding='UTF-8'?><server-data xmlns='\(legacy)'><host jid='localhost'>
                <user name='hamlet' password='\(scram)'><offline-messages><message xmlns='jabber:client' from='horatio@localhost/x' to='hamlet@localhost' id='o1'><body>the ghost</body></message></offline-messages></user>
                <user name='laertes'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count>
                <salt>\(twice(laertes.salt))</salt><server-key>\(twice(laertes.serverKey))</server-key><stored-key>\(twice(laertes.storedKey))</stored-key></scram-credentials></user>
                </host></server-data>
                """.write(toFile: directory + "/localhost.xml", atomically: true, encoding: .utf8)
            let report = try await PortableData.importUsers(try PortableData.read(file: directory + "/main.xml"), hosts: ["localhost"], into: server.server.storage)
            #expect(report.counts.users == 2 && report.counts.credentials == 2 && report.counts.offlineMessages == 1)
            let laertesClient = try await server.login("laertes", password: "laertes-password", mechanisms: [.scramSHA1])
            await laertesClient.close()
            let hamlet = try await server.login("hamlet", password: "ejabberd-password", mechanisms: [.scramSHA1])
            try await hamlet.sendPresence()
            let message = try await hamlet.awaitStanza("the offline message") { $0.name == "message" && $0.id == "o1" }
            #expect(message.child(named: "body")?.text == "the ghost")
            await hamlet.close()
        }
    }
}
