import Foundation
import NIOConcurrencyHelpers
import Testing
import XMPPClient
import XMPPCore
import XMPPServer
import XMPPServerModules

/// A service on its own subdomain, as chat rooms and pubsub will be: it echoes messages back
/// from the JID they were sent to and answers pings to any JID of its domain.
private struct EchoService: ServerModule {
    let name = "echo-service"
    let domain: String

    func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let options = registrar.options("echo")
        registrar.addService(
            HostedService(
                domain: options.string("domain") ?? self.domain, host: "localhost", identity: DiscoIdentity(category: "conference", type: "text", name: "Echo rooms"),
                features: ["urn:example:echo"]
            ) { stanza in
                guard let from = stanza.from, let to = stanza.to, !stanza.isErrorStanza else { return }
                switch stanza.name {
                case "message":
                    let body = stanza.child(named: "body")?.text ?? ""
                    let echo = Element(
                        "message", namespace: XMPPNamespace.client, attributes: [("from", to.description), ("to", from.description), ("type", "chat")],
                        children: [Element("body", namespace: XMPPNamespace.client, text: "echo: \(body)")])
                    await context.route(echo)
                case "iq" where stanza.iqPayload?.namespace == XMPPNamespace.ping:
                    await context.route(stanza.iqResult())
                case "iq" where stanza.stanzaType == "get" || stanza.stanzaType == "set":
                    await context.route(stanza.errorReply(StanzaError(.featureNotImplemented)))
                default:
                    break
                }
            })
    }
}

/// Records when it was started and stopped, and whether storage was still open at stop.
private final class LifecycleProbe: @unchecked Sendable {
    private let lock = NIOLock()
    private var events: [String] = []

    func record(_ event: String) { self.lock.withLock { self.events.append(event) } }
    var recorded: [String] { self.lock.withLock { self.events } }
}

private struct LifecycleModule: ServerModule {
    let name = "lifecycle-probe"
    let probe: LifecycleProbe
    let context = NIOLockedValueBox<ModuleContext?>(nil)

    func register(with registrar: ModuleRegistrar) {
        self.probe.record("register")
    }

    func start(context: ModuleContext) async throws {
        self.context.withLockedValue { $0 = context }
        self.probe.record("start")
    }

    func stop() async {
        // Storage is still open when modules stop: a query here must succeed.
        guard let context = self.context.withLockedValue({ $0 }) else { return self.probe.record("stop without start") }
        do {
            _ = try await context.storage.accounts.accountExists(JID("probe@localhost"))
            self.probe.record("stop, storage open")
        } catch {
            self.probe.record("stop, storage failed: \(error)")
        }
    }
}

private let discoItems = XMPPNamespace.discoItems
private let discoInfo = XMPPNamespace.discoInfo

@Suite("Route table: services on their own domains")
struct RouteTableIntegrationTests {
    @Test("a service is listed in its host's disco#items and the router answers its disco#info")
    func serviceDiscovery() async throws {
        try await withServer(extraModules: [EchoService(domain: "echo.localhost")]) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let items = try await alice.iq("get", to: JID("localhost"), payload: Element(name: "query", namespace: discoItems))
            let listed = try #require(items.child(named: "query")?.children(named: "item").first { $0[attribute: "jid"] == "echo.localhost" })
            #expect(listed[attribute: "name"] == "Echo rooms")

            let info = try await alice.iq("get", to: JID("echo.localhost"), payload: Element(name: "query", namespace: discoInfo))
            #expect(info.stanzaType == "result")
            let query = try #require(info.child(named: "query"))
            let identity = try #require(query.child(named: "identity"))
            #expect(identity[attribute: "category"] == "conference" && identity[attribute: "type"] == "text")
            #expect(query.children(named: "feature").compactMap { $0[attribute: "var"] } == ["urn:example:echo"])
        }
    }

    @Test("stanzas to a JID with a resource in the service's domain reach the service, and its answers come back")
    func serviceStanzas() async throws {
        try await withServer(extraModules: [EchoService(domain: "echo.localhost")]) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            try await alice.sendPresence()
            let room = try JID("room@echo.localhost/res")
            try await alice.sendMessage(to: room, body: "hello", id: "m1")
            let echo = try await alice.receive { $0.name == "message" && $0[attribute: "from"] == room.description }
            #expect(echo.child(named: "body")?.text == "echo: hello")

            let pong = try await alice.iq("get", to: room, payload: Element(name: "ping", namespace: XMPPNamespace.ping))
            #expect(pong.stanzaType == "result")
            #expect(pong[attribute: "from"] == room.description)
            // disco#info to a JID inside the domain is the service's, not the router's.
            let roomInfo = try await alice.iq("get", to: JID("room@echo.localhost"), payload: Element(name: "query", namespace: discoInfo))
            #expect(StanzaError(stanza: roomInfo)?.condition == .featureNotImplemented)
        }
    }

    @Test("a service domain that is already a host stops the server from starting")
    func serviceDomainTaken() async throws {
        await #expect(throws: ConfigurationError.self) {
            let server = try await TestServer(extraModules: [EchoService(domain: "localhost")])
            await server.stop()
        }
        await #expect(throws: ConfigurationError.self) {
            let server = try await TestServer(extraModules: [EchoService(domain: "twice.localhost"), EchoService(domain: "twice.localhost")])
            await server.stop()
        }
    }

    @Test("a module reads its own configuration section; unknown keys and sections nobody reads stop the start with their paths")
    func moduleOptions() async throws {
        let configuration = try ConfigurationLoader.load(yaml: "modules: {echo: {domain: rooms.localhost}}")
        try await withServer(configure: { $0.modules.sections = configuration.modules.sections }, extraModules: [EchoService(domain: "echo.localhost")]) { server in
            try await server.addUser("alice", password: "alice-password")
            let alice = try await server.login("alice", password: "alice-password")
            let info = try await alice.iq("get", to: JID("rooms.localhost"), payload: Element(name: "query", namespace: discoInfo))
            #expect(info.child(named: "query")?.child(named: "identity")?[attribute: "type"] == "text")
        }
        let mistakes = try ConfigurationLoader.load(yaml: "modules: {echo: {domian: rooms.localhost}, nobody: {x: 1}}")
        do {
            let server = try await TestServer(configure: { $0.modules.sections = mistakes.modules.sections }, extraModules: [EchoService(domain: "echo.localhost")])
            await server.stop()
            Issue.record("the server started with a misspelt option")
        } catch let errors as ConfigurationErrors {
            #expect(errors.errors.map(\.path) == ["modules.echo.domian", "modules.nobody"])
        }
        // The same mistakes, found without starting anything (`starling check`).
        var checked = ServerConfiguration()
        checked.modules.sections = mistakes.modules.sections
        let problems = XMPPServer.moduleProblems(configuration: checked, modules: [EchoService(domain: "echo.localhost")])
        #expect(problems.map(\.path) == ["modules.echo.domian", "modules.nobody"])
        #expect(XMPPServer.moduleProblems(configuration: ServerConfiguration(), modules: [EchoService(domain: "echo.localhost")]).isEmpty)
    }

    @Test("modules start before the server listens and stop at shutdown while storage is still open")
    func moduleLifecycle() async throws {
        let probe = LifecycleProbe()
        let server = try await TestServer(extraModules: [LifecycleModule(probe: probe)])
        #expect(probe.recorded == ["register", "start"])
        await server.stop()
        #expect(probe.recorded == ["register", "start", "stop, storage open"])
    }
}
