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
    /// The mechanism the login used.
    public let mechanism: SASLMechanismName
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

    public enum LoginError: Error, Sendable, CustomStringConvertible {
        case noCommonMechanism(offered: [String])
        /// A -PLUS mechanism was chosen but no channel-binding type is both offered and usable.
        case noCommonChannelBinding(offered: [String]?)
        case authenticationFailed(SASLFailure?)
        case tlsRequiredButNotOffered
        case bindFailed(StanzaError?)
        case scram(SCRAMClient.ClientError)
        case resumeFailed(Element)

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
            }
        }
    }

    private init(connection: XMPPConnection, jid: JID, mechanism: SASLMechanismName, streamFeatures: Element, timeout: TimeAmount) {
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
        }
        if let tamper = configuration.simulatedFeatureTampering {
            features = tamper(features)
        }

        let offered = features.child(named: "mechanisms", namespace: XMPPNamespace.sasl)?
            .children(named: "mechanism").map(\.text) ?? []
        guard let mechanism = configuration.mechanisms.first(where: { offered.contains($0.rawValue) }) else {
            throw LoginError.noCommonMechanism(offered: offered)
        }
        let bindingTypes = features.child(named: "sasl-channel-binding", namespace: XMPPNamespace.saslChannelBinding)?
            .children(named: "channel-binding").compactMap { $0[attribute: "type"] }
        let boundWith = try await self.authenticate(connection, configuration, mechanism: mechanism, offered: offered, bindingTypes: bindingTypes)

        try await connection.restartStream()
        try await connection.openStream(to: domain)
        _ = try await connection.expectStreamHeader(timeout: timeout)
        features = try await connection.nextElement(timeout: timeout)

        if let resume = configuration.resume {
            try await connection.send(Element("resume", namespace: "urn:xmpp:sm:3", attributes: [("previd", resume.id), ("h", String(resume.handled))]))
            let answer = try await connection.nextElement(timeout: timeout)
            guard answer.name == "resumed" else { throw LoginError.resumeFailed(answer) }
            let client = XMPPClient(connection: connection, jid: configuration.account, mechanism: mechanism, streamFeatures: features, timeout: timeout)
            client.resumedWith = answer
            client.channelBinding = boundWith
            return client
        }

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
        client.channelBinding = boundWith
        return client
    }

    private static func authenticate(
        _ connection: XMPPConnection, _ configuration: XMPPClientConfiguration, mechanism: SASLMechanismName, offered: [String],
        bindingTypes: [String]?
    ) async throws -> ChannelBindingType? {
        let timeout = configuration.timeout
        let username = configuration.account.localpart ?? ""
        if mechanism == .plain {
            let message = PLAINMessage(username: username, password: configuration.password)
            try await connection.send(Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", "PLAIN")], text: Base64.encode(message.bytes)))
            let answer = try await connection.nextElement(timeout: timeout)
            guard answer.name == "success" else { throw LoginError.authenticationFailed(Self.failure(answer)) }
            return nil
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
        try await connection.send(Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", mechanism.rawValue)], text: Base64.encode(first)))
        let challenge = try await connection.nextElement(timeout: timeout)
        guard challenge.name == "challenge", let serverFirst = Base64.decode(challenge.text) else {
            throw LoginError.authenticationFailed(Self.failure(challenge))
        }
        let final: [UInt8]
        do {
            final = try scram.receivedServerFirst(serverFirst)
        } catch {
            throw LoginError.scram(error)
        }
        try await connection.send(Element("response", namespace: XMPPNamespace.sasl, text: Base64.encode(final)))
        let outcome = try await connection.nextElement(timeout: timeout)
        guard outcome.name == "success", let serverFinal = Base64.decode(outcome.text) else {
            throw LoginError.authenticationFailed(Self.failure(outcome))
        }
        do {
            try scram.receivedServerFinal(serverFinal)
        } catch {
            throw LoginError.scram(error)
        }
        if case .bound(let type, _) = binding { return type }
        return nil
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

    private static func failure(_ element: Element) -> SASLFailure? {
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
