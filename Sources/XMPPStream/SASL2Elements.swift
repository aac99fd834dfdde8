import Crypto
import XMPPCore
import XMPPSASL

/// XEP-0388 (Extensible SASL Profile) and XEP-0386 (Bind 2) names and elements: parsed from
/// what the client sends, built for what the server answers. Pure values, no state.
public enum SASL2 {
    public static let namespace = "urn:xmpp:sasl:2"
    public static let bindNamespace = "urn:xmpp:bind:0"
    static let csiNamespace = "urn:xmpp:csi:0"

    /// What a client said about itself in `<user-agent/>`. The id identifies one installation
    /// across reconnects (XEP-0388 §2.3); software and device are for people to read.
    public struct UserAgent: Sendable, Hashable {
        public var id: String?
        public var software: String?
        public var device: String?

        public init(id: String?, software: String? = nil, device: String? = nil) {
            self.id = id
            self.software = software
            self.device = device
        }
    }

    /// A XEP-0386 `<bind/>` inside `<authenticate/>`.
    public struct BindRequest: Sendable, Hashable {
        public var tag: String?
        /// `<enable xmlns='urn:xmpp:sm:3'/>`: nil when not asked, else whether resumable.
        public var streamManagement: Bool?
        /// XEP-0352 initial state: nil when not said.
        public var clientStateActive: Bool?
        /// Other requested features (carbons …), each handled by whoever registered its namespace.
        public var features: [Element]

        public init(tag: String?, streamManagement: Bool? = nil, clientStateActive: Bool? = nil, features: [Element] = []) {
            self.tag = tag
            self.streamManagement = streamManagement
            self.clientStateActive = clientStateActive
            self.features = features
        }
    }

    /// A parsed `<authenticate/>`.
    public struct Authenticate: Sendable, Hashable {
        public var mechanism: String
        /// Absent: no initial response; present and empty: an empty one (no "=" rule in SASL2).
        public var initialResponse: [UInt8]?
        public var userAgent: UserAgent?
        public var bind: BindRequest?
        /// XEP-0198 `<resume/>` inline.
        public var resume: ResumeRequest?
        /// XEP-0480 upgrades the client asked for (only those this server knows).
        public var upgrades: [SCRAMHash] = []
        /// XEP-0484 `<request-token/>` and `<fast/>`.
        public var fast = FAST.Request()

        public init(mechanism: String, initialResponse: [UInt8]? = nil, userAgent: UserAgent? = nil, bind: BindRequest? = nil, resume: ResumeRequest? = nil) {
            self.mechanism = mechanism
            self.initialResponse = initialResponse
            self.userAgent = userAgent
            self.bind = bind
            self.resume = resume
        }
    }

    public struct ResumeRequest: Sendable, Hashable {
        public var previd: String
        public var h: UInt32

        public init(previd: String, h: UInt32) {
            self.previd = previd
            self.h = h
        }
    }

    /// Parses `<authenticate/>`; a request the server cannot act on is a SASL failure.
    public static func parseAuthenticate(_ element: Element) -> Result<Authenticate, SASLFailure> {
        guard let mechanism = element[attribute: "mechanism"], !mechanism.isEmpty else { return .failure(.invalidMechanism) }
        var request = Authenticate(mechanism: mechanism)
        if let initial = element.child(named: "initial-response", namespace: Self.namespace) {
            guard let data = Self.decode(initial.text) else { return .failure(.incorrectEncoding) }
            request.initialResponse = data
        }
        if let agent = element.child(named: "user-agent", namespace: Self.namespace) {
            request.userAgent = UserAgent(
                id: agent[attribute: "id"].flatMap { $0.isEmpty ? nil : $0 },
                software: agent.child(named: "software", namespace: Self.namespace)?.text,
                device: agent.child(named: "device", namespace: Self.namespace)?.text)
        }
        if let bind = element.child(named: "bind", namespace: Self.bindNamespace) {
            request.bind = Self.parseBind(bind)
        }
        if let resume = element.child(named: "resume", namespace: StreamManagementNamespace.v3) {
            guard let previd = resume[attribute: "previd"], let h = resume[attribute: "h"].flatMap(UInt32.init) else {
                return .failure(.malformedRequest)
            }
            request.resume = ResumeRequest(previd: previd, h: h)
        }
        request.upgrades = SCRAMUpgrade.parseUpgrades(element)
        switch FAST.parse(element) {
        case .success(let fast): request.fast = fast
        case .failure(let failure): return .failure(failure)
        }
        return .success(request)
    }

    static func parseBind(_ bind: Element) -> BindRequest {
        var request = BindRequest(tag: bind.child(named: "tag", namespace: Self.bindNamespace)?.text)
        for child in bind.elements where child.namespace != Self.bindNamespace {
            switch (child.namespace, child.name) {
            case (StreamManagementNamespace.v3, "enable"):
                request.streamManagement = child[attribute: "resume"] == "true" || child[attribute: "resume"] == "1"
            case (Self.csiNamespace, "active"), (Self.csiNamespace, "inactive"):
                request.clientStateActive = child.name == "active"
            default:
                request.features.append(child)
            }
        }
        return request
    }

    /// SASL2 data: base64 without the RFC 6120 "=" rule; whitespace around it is ignored.
    static func decode(_ text: String) -> [UInt8]? {
        let trimmed = String(decoding: text.utf8.filter { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }, as: UTF8.self)
        if trimmed.isEmpty { return [] }
        return Base64.decode(trimmed)
    }

    // MARK: - Server elements

    /// The stream feature: the mechanisms (the same list as RFC 6120 SASL, so XEP-0474's hash
    /// is one value for both) and what may be negotiated inline.
    public static func feature(
        mechanisms: [SASLMechanismName], bindInlineFeatures: [String]?, streamManagement: Bool, fastMechanisms: [HTMechanism] = []
    ) -> Element {
        var authentication = Element(name: "authentication", namespace: Self.namespace)
        for mechanism in mechanisms {
            authentication.append(Element("mechanism", namespace: Self.namespace, text: mechanism.rawValue))
        }
        var inline = Element(name: "inline", namespace: Self.namespace)
        if let bindInlineFeatures {
            inline.append(
                Element(
                    "bind", namespace: Self.bindNamespace,
                    children: [
                        Element(
                            "inline", namespace: Self.bindNamespace,
                            children: bindInlineFeatures.map { Element("feature", namespace: Self.bindNamespace, attributes: [("var", $0)]) })
                    ]))
        }
        if streamManagement {
            inline.append(Element(name: "sm", namespace: StreamManagementNamespace.v3))
        }
        if !fastMechanisms.isEmpty {
            inline.append(FAST.feature(mechanisms: fastMechanisms))
        }
        if !inline.elements.isEmpty { authentication.append(inline) }
        return authentication
    }

    public static func challenge(_ data: [UInt8]) -> Element {
        Element("challenge", namespace: Self.namespace, text: Base64.encode(data))
    }

    public static func success(authorizationIdentifier: JID, additionalData: [UInt8]?, extensions: [Element] = []) -> Element {
        var success = Element(name: "success", namespace: Self.namespace)
        if let additionalData {
            success.append(Element("additional-data", namespace: Self.namespace, text: Base64.encode(additionalData)))
        }
        success.append(Element("authorization-identifier", namespace: Self.namespace, text: authorizationIdentifier.description))
        for element in extensions { success.append(element) }
        return success
    }

    public static func failure(_ condition: SASLFailure, text: String? = nil) -> Element {
        var failure = Element(name: "failure", namespace: Self.namespace)
        failure.append(Element(name: condition.rawValue, namespace: XMPPNamespace.sasl))
        if let text { failure.append(Element("text", namespace: Self.namespace, text: text)) }
        return failure
    }

    /// `<continue/>` with the tasks the client may pick from (XEP-0388 §2.6.3). No task is
    /// offered yet; the builder is where XEP-0480 upgrades and second factors will go.
    public static func `continue`(tasks: [String], additionalData: [UInt8]?, text: String? = nil) -> Element {
        var element = Element(name: "continue", namespace: Self.namespace)
        if let additionalData {
            element.append(Element("additional-data", namespace: Self.namespace, text: Base64.encode(additionalData)))
        }
        element.append(Element("tasks", namespace: Self.namespace, children: tasks.map { Element("task", namespace: Self.namespace, text: $0) }))
        if let text { element.append(Element("text", namespace: Self.namespace, text: text)) }
        return element
    }

    // MARK: - Bind 2 resources

    /// The resource for a Bind 2 request, `tag/suffix` as XEP-0386 §3.2.1 recommends.
    ///
    /// With a user-agent id the suffix is a keyed hash of account, id and tag: the same client
    /// gets the same resource on every reconnect (so its earlier session is replaced, not left
    /// beside it), and the id itself never shows in the JID. Without one the suffix is random.
    /// A tag that is not a valid resource (or too long) is left out rather than refusing the login.
    public static func resource(tag: String?, userAgentID: String?, account: JID, key: SymmetricKey, random: [UInt8]) -> String {
        let suffix: String
        if let userAgentID {
            var mac = HMAC<SHA256>(key: key)
            for part in [account.bare.description, userAgentID, tag ?? ""] {
                mac.update(data: Array(part.utf8))
                mac.update(data: [0])
            }
            suffix = Base64.encodeURL(Array(mac.finalize()).prefix(9))
        } else {
            suffix = Base64.encodeURL(random.prefix(9))
        }
        guard let tag, !tag.isEmpty, tag.utf8.count <= 64, let prepared = try? JID.prepareResourcepart(tag) else { return suffix }
        return "\(prepared)/\(suffix)"
    }

}
