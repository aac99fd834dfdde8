import Benchmark
import XMPPCore
import XMPPSASL
import XMPPServer

/// Stanzas as clients and servers really send them (Conversations, Gajim, Prosody), for the
/// parse and serialise benchmarks.
let corpus: [String] = [
    "<message xmlns='jabber:client' to='juliet@capulet.example' from='romeo@montague.example/orchard' type='chat' id='ktx72v49'><body>Art thou not Romeo, and a Montague?</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/><origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546014'/><markable xmlns='urn:xmpp:chat-markers:0'/></message>",
    "<presence xmlns='jabber:client' from='romeo@montague.example/orchard'><show>away</show><status>In the orchard</status><priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>",
    "<iq xmlns='jabber:client' type='result' id='roster_1' to='juliet@capulet.example/balcony'><query xmlns='jabber:iq:roster' ver='ver11'><item jid='romeo@montague.example' name='Romeo' subscription='both'><group>Friends</group></item><item jid='mercutio@montague.example' name='Mercutio' subscription='from'/><item jid='benvolio@montague.example' name='Benvolio' subscription='both'/></query></iq>",
    "<message xmlns='jabber:client' to='juliet@capulet.example' from='romeo@montague.example/orchard' type='chat' id='m2'><body>Wherefore art thou? &lt;3 &amp; more</body><stanza-id xmlns='urn:xmpp:sid:0' id='5f3dbc5e-723b-4fa6-a7c7-8d1b1e2f3f4a' by='juliet@capulet.example'/></message>",
    "<iq xmlns='jabber:client' type='get' id='ping-7' from='capulet.example' to='juliet@capulet.example/balcony'><ping xmlns='urn:xmpp:ping'/></iq>",
]
let streamHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='capulet.example' version='1.0'>"
let corpusBytes = Array(corpus.joined().utf8)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3))

    Benchmark("Parse corpus (\(corpusBytes.count) bytes, \(corpus.count) stanzas)") { benchmark in
        for _ in benchmark.scaledIterations {
            var parser = XMLStreamParser()
            parser.feed(streamHeader.utf8)
            parser.feed(corpusBytes)
            var elements = 0
            while let event = try? parser.nextEvent() {
                if case .element = event { elements += 1 }
            }
            blackHole(elements)
        }
    }

    let parsed: [Element] = {
        var parser = XMLStreamParser()
        parser.feed(streamHeader.utf8)
        parser.feed(corpusBytes)
        var elements: [Element] = []
        while let event = try? parser.nextEvent() {
            if case .element(let element) = event { elements.append(element) }
        }
        return elements
    }()
    Benchmark("Serialize corpus (\(corpus.count) stanzas)") { benchmark in
        let serializer = XMLSerializer.stream(contentNamespace: XMPPNamespace.client)
        for _ in benchmark.scaledIterations {
            for element in parsed { blackHole(serializer.string(element)) }
        }
    }

    Benchmark("JID preparation (ASCII and Unicode, full JIDs)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? JID("Romeo@Montague.Example/Orchard"))
            blackHole(try? JID("juliet@capulet.example/balcony"))
            blackHole(try? JID("müller@bücher.example/Résidence"))
        }
    }

    // Router lookups: the session table the router consults for every stanza to a local JID.
    let sessions = SessionManager(conflictPolicy: .kickOld, maxSessionsPerAccount: 10)
    let accounts = (0..<10_000).compactMap { try? JID("user\($0)@capulet.example") }
    for account in accounts {
        for resource in ["phone", "laptop"] {
            _ = sessions.bind(account: account, requested: resource) { ClientSession(detachedJID: $0) }
        }
    }
    let fullJIDs = accounts.compactMap { try? JID(localpart: $0.localpart, domainpart: $0.domainpart, resourcepart: "phone") }
    Benchmark("Router lookups (10k accounts × 2 resources: full JID, then bare JID recipients)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            blackHole(sessions.session(for: fullJIDs[index]))
            blackHole(sessions.messageRecipients(of: accounts[index]))
            index = (index + 1) % accounts.count
        }
    }

    // SCRAM-SHA-1 server side, client-first to server-final, with stored 4096-iteration keys.
    // Fixed nonces make the client's messages the same every time, so only the server works.
    guard let credentials = try? SCRAMCredentials.derive(password: "pencil", hash: .sha1, iterations: 4096) else { return }
    var client = SCRAMClient(hash: .sha1, username: "user", password: "pencil", clientNonce: "fyko+d2lbbFgONRv9qkxdawL")
    let clientFirst = client.clientFirstMessage()
    var probe = SCRAMServer(mechanism: .scramSHA1, channelBinding: .none, serverNonce: "3rfcNHYJY1ZVvWVs7j")
    _ = probe.receivedClientFirst(clientFirst)
    guard case .challenge(let serverFirst) = probe.credentialsFetched(credentials),
        let clientFinal = try? client.receivedServerFirst(serverFirst)
    else { return }
    Benchmark("SCRAM-SHA-1 server side of one login (stored keys, 4096 iterations)") { benchmark in
        for _ in benchmark.scaledIterations {
            var server = SCRAMServer(mechanism: .scramSHA1, channelBinding: .none, serverNonce: "3rfcNHYJY1ZVvWVs7j")
            blackHole(server.receivedClientFirst(clientFirst))
            blackHole(server.credentialsFetched(credentials))
            blackHole(server.receivedClientFinal(clientFinal))
        }
    }
}
