import NIOCore
import XMPPCore
import XMPPSASL
import XMPPStream

/// Where and how a client logs in.
public struct XMPPClientConfiguration: Sendable {
    public enum Security: Sendable {
        /// Plaintext first, then STARTTLS (required unless `allowPlaintext`).
        case starttls(XMPPClientTLS)
        /// TLS from the first byte (XEP-0368).
        case directTLS(XMPPClientTLS)
    }

    public var account: JID
    public var password: String
    public var host: String
    public var port: Int
    public var security: Security
    /// Mechanisms to use, most preferred first; the first one the server offers is taken.
    public var mechanisms: [SASLMechanismName]
    public var resource: String?
    public var timeout: TimeAmount
    /// Resume this XEP-0198 session (its ID and the count of stanzas we handled) instead of binding.
    public var resume: (id: String, handled: UInt32)?
    /// Channel-binding types for -PLUS mechanisms, most preferred first; the first the server
    /// lists in XEP-0440 `<sasl-channel-binding/>` (or `tls-server-end-point` when it lists
    /// none) and this connection has is used.
    public var channelBindingTypes: [ChannelBindingType] = [.tlsExporter, .tlsServerEndPoint]
    /// Refuse a SCRAM server-first without the XEP-0474 hash. Off by default: servers that do
    /// not implement XEP-0474 are still logged in to, and a hash that is sent is always checked.
    public var requireDowngradeProtection = false
    /// Stream features as a man in the middle would edit them, applied to what the client reads
    /// after TLS: for tests of downgrade detection only.
    @_spi(Testing) public var simulatedFeatureTampering: (@Sendable (Element) -> Element)?
    /// Log in with XEP-0388 SASL2 when the server offers it (and bind with XEP-0386 Bind 2
    /// when it offers that and no `resource` is asked for: Bind 2 lets the server pick the
    /// resource). False forces RFC 6120 SASL, stream restart and binding.
    public var useSASL2 = true
    /// The Bind 2 tag: the server makes the resource from it (`tag/…`).
    public var bindTag: String? = "Starling"
    /// The SASL2 `<user-agent/>`; a stable `id` gives the same Bind 2 resource on every
    /// reconnect (and replaces the session left behind by the last one).
    public var userAgent: SASL2.UserAgent?
    /// Enable resumable XEP-0198 stream management inside Bind 2 (`streamManagementID`).
    public var inlineStreamManagement = false
    /// Enable XEP-0280 carbons inside Bind 2.
    public var inlineCarbons = false
    /// Ask for the XEP-0480 SCRAM upgrades the server lists, and carry out the tasks it
    /// offers for them (the account lacks that hash): the server gains it without a reset.
    public var scramUpgrades = true
    /// Ask for a XEP-0484 FAST token in a password login (needs `userAgent` with an id); the
    /// token arrives in `XMPPClient.fastToken`.
    public var requestFASTToken = false
    /// The FAST mechanisms to ask a token for, most preferred first: the first the server
    /// offers whose channel binding this connection has.
    public var fastMechanisms: [HTMechanism] = [.exporter, .endpoint, .unbound]
    /// Log in with this FAST token instead of the password when the server offers its
    /// mechanism; when the token is refused and `password` is not empty, the password is used.
    public var fastToken: FASTToken?
    /// Ask the server to revoke `fastToken` once it has logged in with it (XEP-0484 `invalidate`).
    public var invalidateFASTToken = false

    public init(
        account: JID,
        password: String,
        host: String,
        port: Int,
        security: Security,
        mechanisms: [SASLMechanismName] = [.scramSHA512Plus, .scramSHA256Plus, .scramSHA1Plus, .scramSHA512, .scramSHA256, .scramSHA1],
        resource: String? = nil,
        timeout: TimeAmount = .seconds(10)
    ) {
        self.account = account
        self.password = password
        self.host = host
        self.port = port
        self.security = security
        self.mechanisms = mechanisms
        self.resource = resource
        self.timeout = timeout
    }
}

/// An XMPP client session: logged in, bound, ready to send and receive stanzas.
public final class XMPPClient: @unchecked Sendable {
    public let connection: XMPPConnection
    public let jid: JID
    /// The password mechanism the login used; nil when a FAST token logged in (`fastMechanism`).
    public let mechanism: SASLMechanismName?
    /// The stream features offered after authentication.
    public let streamFeatures: Element
    private let timeout: TimeAmount
    private var nextID = 0
    /// Stanzas read while waiting for another one, handed out first by later receives.
    private var held: [Element] = []
    /// The `<resumed/>` answer when the login resumed a session.
    public private(set) var resumedWith: Element?
    /// The channel binding a -PLUS login used.
    public private(set) var channelBinding: ChannelBindingType?
    /// True when the login used XEP-0388 SASL2.
    public private(set) var usedSASL2 = false
    /// The XEP-0386 `<bound/>` answer when the session was bound inside SASL2.
    public private(set) var bound: Element?
    /// The XEP-0198 session ID when stream management was enabled inside Bind 2.
    public var streamManagementID: String? {
        self.bound?.child(named: "enabled", namespace: StreamManagementNamespace.v3)?[attribute: "id"]
    }
    /// The HT mechanism when a XEP-0484 token logged in.
    public internal(set) var fastMechanism: HTMechanism?
    /// A token the server issued in this login (asked for, or a rotation); nil when none.
    public internal(set) var fastToken: FASTToken?
    /// How many times the login sent something and waited for the answer (a stream header
    /// counts with the features that follow it): the round trips a reconnect costs.
    public private(set) var loginRoundTrips = 0

    static let carbonsNamespace = "urn:xmpp:carbons:2"

    public enum LoginError: Error, Sendable, CustomStringConvertible {
        case noCommonMechanism(offered: [String])
        /// A -PLUS mechanism was chosen but no channel-binding type is both offered and usable.
        case noCommonChannelBinding(offered: [String]?)
        case authenticationFailed(SASLFailure?)
        case tlsRequiredButNotOffered
        case bindFailed(StanzaError?)
        case scram(SCRAMClient.ClientError)
        case resumeFailed(Element)
        /// The server's `<additional-data/>` after a token login did not prove it knows the token.
        case fastServerNotVerified
        /// A FAST token or token request needs `userAgent` with an id.
        case fastNeedsUserAgentID

        public var description: String {
            switch self {
            case .noCommonMechanism(let offered): "no SASL mechanism in common; the server offers \(offered.joined(separator: ", "))"
            case .noCommonChannelBinding(let offered):
                "no channel-binding type in common; the server offers \(offered?.joined(separator: ", ") ?? "no XEP-0440 list")"
            case .authenticationFailed(let failure): "authentication failed: \(failure?.rawValue ?? "unknown reason")"
            case .tlsRequiredButNotOffered: "the server does not offer STARTTLS"
            case .bindFailed(let error): "resource binding failed: \(error?.condition.rawValue ?? "unknown reason")"
            case .scram(let error): "SCRAM: \(error)"
            case .resumeFailed(let answer): "the session could not be resumed: <\(answer.elements.first?.name ?? answer.name)/>"
            case .fastServerNotVerified: "the server's answer to the FAST token login did not prove it knows the token"
            case .fastNeedsUserAgentID: "FAST tokens need a SASL2 user-agent id"
            }
        }
    }

    private init(connection: XMPPConnection, jid: JID, mechanism: SASLMechanismName?, streamFeatures: Element, timeout: TimeAmount) {
        self.connection = connection
        self.jid = jid
        self.mechanism = mechanism
        self.streamFeatures = streamFeatures
        self.timeout = timeout
    }

    /// Connects, secures the stream, authenticates and binds a resource (RFC 6120 §4–§7).
    public static func login(_ configuration: XMPPClientConfiguration) async throws -> XMPPClient {
        let directTLS: XMPPClientTLS?
        if case .directTLS(let tls) = configuration.security { directTLS = tls } else { directTLS = nil }
        let connection = try await XMPPConnection.connect(host: configuration.host, port: configuration.port, tls: directTLS)
        do {
            return try await self.negotiate(connection, configuration)
        } catch {
            await connection.close()
            throw error
        }
    }

    private static func negotiate(_ connection: XMPPConnection, _ configuration: XMPPClientConfiguration) async throws -> XMPPClient {
        let domain = configuration.account.domainpart
        let timeout = configuration.timeout
        var roundTrips = 1
        try await connection.openStream(to: domain)
        _ = try await connection.expectStreamHeader(timeout: timeout)
        var features = try await connection.nextElement(timeout: timeout)

        if case .starttls(let tls) = configuration.security {
            guard features.child(named: "starttls", namespace: XMPPNamespace.tls) != nil else {
                throw LoginError.tlsRequiredButNotOffered
            }
            try await connection.send(Element(name: "starttls", namespace: XMPPNamespace.tls))
            let answer = try await connection.nextElement(timeout: timeout)
            guard answer.name == "proceed" else { throw XMPPConnection.Failure.unexpected(answer.name) }
            try await connection.startTLS(tls)
            try await connection.openStream(to: domain)
            _ = try await connection.expectStreamHeader(timeout: timeout)
            features = try await connection.nextElement(timeout: timeout)
            roundTrips += 2
        }
        if let tamper = configuration.simulatedFeatureTampering {
            features = tamper(features)
        }
        if configuration.useSASL2, let authentication = features.child(named: "authentication", namespace: SASL2.namespace) {
            return try await self.negotiateSASL2(connection, configuration, features: features, authentication: authentication, roundTrips: roundTrips)
        }

        let offered = features.child(named: "mechanisms", namespace: XMPPNamespace.sasl)?
            .children(named: "mechanism").map(\.text) ?? []
        guard let mechanism = configuration.mechanisms.first(where: { offered.contains($0.rawValue) }) else {
            throw LoginError.noCommonMechanism(offered: offered)
        }
        let bindingTypes = Self.offeredChannelBindingTypes(features)
        let (boundWith, _) = try await self.authenticate(
            connection, configuration, mechanism: mechanism, offered: offered, bindingTypes: bindingTypes, sasl2: nil, roundTrips: &roundTrips)

        try await connection.restartStream()
        try await connection.openStream(to: domain)
        _ = try await connection.expectStreamHeader(timeout: timeout)
        features = try await connection.nextElement(timeout: timeout)
        roundTrips += 1

        if let resume = configuration.resume {
            try await connection.send(Element("resume", namespace: StreamManagementNamespace.v3, attributes: [("previd", resume.id), ("h", String(resume.handled))]))
            let answer = try await connection.nextElement(timeout: timeout)
            guard answer.name == "resumed" else { throw LoginError.resumeFailed(answer) }
            let client = XMPPClient(connection: connection, jid: configuration.account, mechanism: mechanism, streamFeatures: features, timeout: timeout)
            client.resumedWith = answer
            client.channelBinding = boundWith
            client.loginRoundTrips = roundTrips + 1
            return client
        }
        let client = try await self.bindResource(
            connection, configuration, mechanism: mechanism, features: features, roundTrips: roundTrips)
        client.channelBinding = boundWith
        return client
    }

    /// The XEP-0440 channel-binding types the features list; nil when they list none.
    private static func offeredChannelBindingTypes(_ features: Element) -> [String]? {
        features.child(named: "sasl-channel-binding", namespace: XMPPNamespace.saslChannelBinding)?
            .children(named: "channel-binding").compactMap { $0[attribute: "type"] }
    }

    /// RFC 6120 §7 resource binding, after either SASL profile.
    private static func bindResource(
        _ connection: XMPPConnection, _ configuration: XMPPClientConfiguration, mechanism: SASLMechanismName?, features: Element, roundTrips: Int
    ) async throws -> XMPPClient {
        let timeout = configuration.timeout
        var bind = Element(name: "bind", namespace: XMPPNamespace.bind)
        if let resource = configuration.resource {
            bind.append(Element("resource", namespace: XMPPNamespace.bind, text: resource))
        }
        try await connection.send(Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "bind-1")], children: [bind]))
        let bindResult = try await connection.nextElement(timeout: timeout)
        guard bindResult.stanzaType == "result",
            let jidText = bindResult.child(named: "bind", namespace: XMPPNamespace.bind)?.child(named: "jid")?.text,
            let jid = try? JID(jidText)
        else {
            throw LoginError.bindFailed(StanzaError(stanza: bindResult))
        }
        let client = XMPPClient(connection: connection, jid: jid, mechanism: mechanism, streamFeatures: features, timeout: timeout)
        client.loginRoundTrips = roundTrips + 1
        return client
    }

    /// XEP-0388 SASL2: the same mechanisms in other elements, with Bind 2 (or an inline
    /// resume) in the request and no stream restart after `<success/>`.
    private static func negotiateSASL2(
        _ connection: XMPPConnection, _ configuration: XMPPClientConfiguration, features: Element, authentication: Element, roundTrips start: Int
    ) async throws -> XMPPClient {
        var roundTrips = start
        let timeout = configuration.timeout
        let offered = authentication.children(named: "mechanism").map(\.text)
        let bindingTypes = Self.offeredChannelBindingTypes(features)
        let inline = authentication.child(named: "inline", namespace: SASL2.namespace)
        let bindFeature = inline?.child(named: "bind", namespace: SASL2.bindNamespace)
        let bindInline = Set(bindFeature?.child(named: "inline", namespace: SASL2.bindNamespace)?.children(named: "feature").compactMap { $0[attribute: "var"] } ?? [])

        var extras: [Element] = []
        if let agent = configuration.userAgent {
            var element = Element(name: "user-agent", namespace: SASL2.namespace)
            element[attribute: "id"] = agent.id
            if let software = agent.software { element.append(Element("software", namespace: SASL2.namespace, text: software)) }
            if let device = agent.device { element.append(Element("device", namespace: SASL2.namespace, text: device)) }
            extras.append(element)
        }
        if let resume = configuration.resume, inline?.child(named: "sm", namespace: StreamManagementNamespace.v3) != nil {
            extras.append(Element("resume", namespace: StreamManagementNamespace.v3, attributes: [("previd", resume.id), ("h", String(resume.handled))]))
        }
        if bindFeature != nil, configuration.resource == nil {
            var bind = Element(name: "bind", namespace: SASL2.bindNamespace)
            if let tag = configuration.bindTag { bind.append(Element("tag", namespace: SASL2.bindNamespace, text: tag)) }
            if configuration.inlineStreamManagement, bindInline.contains(StreamManagementNamespace.v3) {
                bind.append(Element("enable", namespace: StreamManagementNamespace.v3, attributes: [("resume", "true")]))
            }
            if configuration.inlineCarbons, bindInline.contains(Self.carbonsNamespace) {
                bind.append(Element(name: "enable", namespace: Self.carbonsNamespace))
            }
            extras.append(bind)
        }
        let upgrades = Self.upgradeRequests(configuration, authentication: authentication)
        // XEP-0484: a token first, when there is one; the password when there is none or it fails.
        let fastOffered = inline?.child(named: "fast", namespace: FAST.namespace)?.children(named: "mechanism").compactMap { HTMechanism(rawValue: $0.text) } ?? []
        var fast = try await FASTLogin(connection, configuration, offered: fastOffered)
        var boundWith: ChannelBindingType?
        var mechanism: SASLMechanismName?
        let success: Element
        if let tokenSuccess = try await fast.authenticateWithToken(extras: extras, roundTrips: &roundTrips) {
            success = tokenSuccess
        } else {
            guard let chosen = configuration.mechanisms.first(where: { offered.contains($0.rawValue) }) else {
                throw LoginError.noCommonMechanism(offered: offered)
            }
            mechanism = chosen
            let outcome = try await self.authenticate(
                connection, configuration, mechanism: chosen, offered: offered, bindingTypes: bindingTypes, sasl2: extras + upgrades + fast.tokenRequest,
                roundTrips: &roundTrips)
            boundWith = outcome.0
            success = outcome.1
        }
        // XEP-0388 §2.6.1: the features of the authenticated stream follow <success/> at once.
        let newFeatures = try await connection.nextElement(timeout: timeout)
        guard let identifier = success.child(named: "authorization-identifier", namespace: SASL2.namespace).flatMap({ try? JID($0.text) }) else {
            throw LoginError.authenticationFailed(nil)
        }
        if configuration.resume != nil {
            guard let resumed = success.child(named: "resumed", namespace: StreamManagementNamespace.v3) else {
                throw LoginError.resumeFailed(success.child(named: "failed", namespace: StreamManagementNamespace.v3) ?? success)
            }
            let client = XMPPClient(connection: connection, jid: identifier, mechanism: mechanism, streamFeatures: newFeatures, timeout: timeout)
            client.resumedWith = resumed
            client.channelBinding = boundWith
            client.usedSASL2 = true
            client.loginRoundTrips = roundTrips
            fast.finish(client, success: success)
            return client
        }
        let client: XMPPClient
        if let bound = success.child(named: "bound", namespace: SASL2.bindNamespace), identifier.isFull {
            client = XMPPClient(connection: connection, jid: identifier, mechanism: mechanism, streamFeatures: newFeatures, timeout: timeout)
            client.bound = bound
            client.loginRoundTrips = roundTrips
        } else {
            client = try await self.bindResource(connection, configuration, mechanism: mechanism, features: newFeatures, roundTrips: roundTrips)
        }
        client.channelBinding = boundWith
        client.usedSASL2 = true
        fast.finish(client, success: success)
        return client
    }

    /// One SASL exchange under RFC 6120 (`sasl` nil) or XEP-0388 (`sasl` the extra children of
    /// `<authenticate/>`); returns the channel binding used and the `<success/>` element.
    static func authenticate(
        _ connection: XMPPConnection, _ configuration: XMPPClientConfiguration, mechanism: SASLMechanismName, offered: [String],
        bindingTypes: [String]?, sasl2 extras: [Element]?, roundTrips: inout Int
    ) async throws -> (ChannelBindingType?, Element) {
        let timeout = configuration.timeout
        let username = configuration.account.localpart ?? ""
        func initial(_ data: [UInt8]) -> Element {
            guard let extras else {
                return Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", mechanism.rawValue)], text: Base64.encode(data))
            }
            var element = Element("authenticate", namespace: SASL2.namespace, attributes: [("mechanism", mechanism.rawValue)])
            element.append(Element("initial-response", namespace: SASL2.namespace, text: Base64.encode(data)))
            for extra in extras { element.append(extra) }
            return element
        }
        func response(_ data: [UInt8]) -> Element {
            Element("response", namespace: extras == nil ? XMPPNamespace.sasl : SASL2.namespace, text: Base64.encode(data))
        }
        func successData(_ success: Element) -> [UInt8]? {
            guard extras != nil else { return Base64.decode(success.text) }
            return success.child(named: "additional-data", namespace: SASL2.namespace).flatMap { Base64.decode($0.text) }
        }
        if mechanism == .plain {
            let message = PLAINMessage(username: username, password: configuration.password)
            try await connection.send(initial(message.bytes))
            let answer = try await connection.nextElement(timeout: timeout)
            roundTrips += 1
            guard answer.name == "success" else { throw LoginError.authenticationFailed(Self.failure(answer)) }
            return (nil, answer)
        }
        guard let hash = mechanism.scramHash else { throw LoginError.noCommonMechanism(offered: offered) }
        var binding: SCRAMClient.Binding = offered.contains(where: { $0.hasSuffix("-PLUS") }) ? .serverDoesNotSupport : .unsupported
        if mechanism.usesChannelBinding {
            binding = try await self.channelBinding(connection, preferring: configuration.channelBindingTypes, offered: bindingTypes)
        } else if offered.contains(where: { $0.hasSuffix("-PLUS") }) {
            // We chose not to bind although we could: say "n", not "y" (RFC 5802 §6).
            binding = .unsupported
        }
        // XEP-0474: the server hashes what it advertised; we hash what we saw.
        let seen = SCRAMDowngradeProtection(mechanisms: offered, channelBindingTypes: bindingTypes)
        var scram = SCRAMClient(
            hash: hash, username: username, password: configuration.password, binding: binding,
            downgradeCheck: configuration.requireDowngradeProtection ? .required(seen) : .ifOffered(seen))
        let first = scram.clientFirstMessage()
        try await connection.send(initial(first))
        let challenge = try await connection.nextElement(timeout: timeout)
        roundTrips += 1
        guard challenge.name == "challenge", let serverFirst = Base64.decode(challenge.text) else {
            throw LoginError.authenticationFailed(Self.failure(challenge))
        }
        let final: [UInt8]
        do {
            final = try scram.receivedServerFirst(serverFirst)
        } catch {
            throw LoginError.scram(error)
        }
        try await connection.send(response(final))
        let outcome = try await connection.nextElement(timeout: timeout)
        roundTrips += 1
        guard outcome.name == "success" || (extras != nil && outcome.name == "continue"), let serverFinal = successData(outcome) else {
            throw LoginError.authenticationFailed(Self.failure(outcome))
        }
        do {
            try scram.receivedServerFinal(serverFinal)
        } catch {
            throw LoginError.scram(error)
        }
        // XEP-0388 tasks come once the server has proved itself, before <success/>.
        let success = outcome.name == "continue" ? try await Self.performTasks(connection, configuration, first: outcome, roundTrips: &roundTrips) : outcome
        guard success.name == "success" else { throw LoginError.authenticationFailed(Self.failure(success)) }
        if case .bound(let type, _) = binding { return (type, success) }
        return (nil, success)
    }

    /// The first preferred type the server offers in XEP-0440 that this connection can
    /// compute. Without a list only `tls-server-end-point` is tried: XEP-0440 makes it the
    /// one type every server implements.
    private static func channelBinding(
        _ connection: XMPPConnection, preferring preferred: [ChannelBindingType], offered: [String]?
    ) async throws -> SCRAMClient.Binding {
        for type in preferred where offered?.contains(type.rawValue) ?? (type == .tlsServerEndPoint) {
            if let data = try await connection.channelBinding(type) {
                return .bound(type, data)
            }
        }
        throw LoginError.noCommonChannelBinding(offered: offered)
    }

    static func failure(_ element: Element) -> SASLFailure? {
        guard element.name == "failure" else { return nil }
        return element.elements.compactMap { SASLFailure(rawValue: $0.name) }.first
    }

    // MARK: - Stanzas

    public func send(_ stanza: Element) async throws {
        try await self.connection.send(stanza)
    }

    /// Sends initial presence (RFC 6121 §4.2), optionally with a priority.
    public func sendPresence(priority: Int? = nil) async throws {
        var presence = Element(name: "presence", namespace: XMPPNamespace.client)
        if let priority { presence.append(Element("priority", namespace: XMPPNamespace.client, text: String(priority))) }
        try await self.send(presence)
    }

    public func sendMessage(to: JID, body: String, type: String = "chat", id: String? = nil) async throws {
        var message = Element("message", namespace: XMPPNamespace.client, attributes: [("to", to.description), ("type", type)])
        message[attribute: "id"] = id ?? self.makeID()
        message.append(Element("body", namespace: XMPPNamespace.client, text: body))
        try await self.send(message)
    }

    /// The next stanza from the server.
    public func receive(timeout: TimeAmount? = nil) async throws -> Element {
        if !self.held.isEmpty { return self.held.removeFirst() }
        return try await self.connection.nextElement(timeout: timeout ?? self.timeout)
    }

    /// The next stanza that matches; others are kept, in order, for later receives.
    public func receive(timeout: TimeAmount? = nil, where predicate: (Element) -> Bool) async throws -> Element {
        if let index = self.held.firstIndex(where: predicate) {
            return self.held.remove(at: index)
        }
        let deadline = NIODeadline.now() + (timeout ?? self.timeout)
        while true {
            let remaining = deadline - NIODeadline.now()
            guard remaining > .zero else { throw XMPPConnection.Failure.timedOut }
            let stanza = try await self.connection.nextElement(timeout: remaining)
            if predicate(stanza) { return stanza }
            self.held.append(stanza)
        }
    }

    /// A stanza already received and kept (while waiting for another) that matches, without
    /// waiting for more: what came before an IQ's answer, such as XEP-0313 results.
    public func takeHeld(where predicate: (Element) -> Bool) -> Element? {
        guard let index = self.held.firstIndex(where: predicate) else { return nil }
        return self.held.remove(at: index)
    }

    /// Sends an IQ and waits for its result or error (other stanzas in between are kept).
    public func iq(_ type: String, to: JID?, payload: Element) async throws -> Element {
        let id = self.makeID()
        var iq = Element("iq", namespace: XMPPNamespace.client, attributes: [("type", type), ("id", id)], children: [payload])
        iq[attribute: "to"] = to?.description
        try await self.send(iq)
        return try await self.receive { $0.name == "iq" && $0.id == id && ($0.stanzaType == "result" || $0.stanzaType == "error") }
    }

    public func makeID() -> String {
        self.nextID += 1
        return "starling-client-\(self.nextID)"
    }

    /// Closes the stream cleanly and waits for the server to close its side.
    public func close() async {
        try? await self.connection.send(raw: StreamHeader.closingTag)
        try? await self.connection.waitForClose(timeout: .seconds(5))
        await self.connection.close()
    }
}
