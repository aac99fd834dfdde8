import XMPPCore

/// The `<body/>` wrapper of XMPP over BOSH (XEP-0124 §4, XEP-0206): what a client's HTTP
/// request carries, read into its attributes and the stanzas inside, and what a response
/// carries back.
public struct BOSHBody: Sendable, Hashable {
    public static let namespace = "http://jabber.org/protocol/httpbind"
    /// XEP-0206's attributes (`xmpp:version`, `xmpp:restart`).
    public static let xmppNamespace = "urn:xmpp:xbosh"

    public var attributes: [Attribute]
    /// The elements inside, as stanzas of a client stream.
    public var payload: [Element]

    public init(attributes: [Attribute] = [], payload: [Element] = []) {
        self.attributes = attributes
        self.payload = payload
    }

    public subscript(name: String) -> String? {
        self.attributes.first { $0.name == name && $0.namespace == nil }?.value
    }

    public var rid: UInt64? { self["rid"].flatMap { UInt64($0) } }
    public var sid: String? { self["sid"] }
    public var isTerminate: Bool { self["type"] == "terminate" }
    public var isRestart: Bool {
        self.attributes.contains { $0.name == "restart" && $0.namespace == Self.xmppNamespace && ($0.value == "true" || $0.value == "1") }
    }
    public var xmppVersion: String? {
        self.attributes.first { $0.name == "version" && $0.namespace == Self.xmppNamespace }?.value
    }
    public var language: String? {
        self.attributes.first { $0.name == "lang" && $0.namespace == XMLNamespace.xml }?.value
    }

    /// Reads one request's body. Anything but exactly one `<body/>` in the BOSH namespace is
    /// refused; stanzas that left their namespace implicit inherit the wrapper's, and become
    /// `jabber:client` stanzas as XEP-0206 §2 lets clients send them.
    public static func parse(_ bytes: some Sequence<UInt8>, limits: XMLParserLimits) throws(XMLStreamError) -> BOSHBody {
        var parser = XMLStreamParser(limits: limits)
        parser.feed(Array("<request>".utf8))
        parser.feed(bytes)
        parser.feed(Array("</request>".utf8))
        guard case .streamOpened = try parser.nextEvent() else { throw .notWellFormed("the body could not be read") }
        guard case .element(let body) = try parser.nextEvent() else { throw .notWellFormed("a request carries one <body/>") }
        guard case .streamClosed = try parser.nextEvent() else { throw .notWellFormed("a request carries exactly one <body/>") }
        guard body.name == "body", body.namespace == Self.namespace else {
            throw .notWellFormed("the request is not a <body/> in \(Self.namespace)")
        }
        var payload: [Element] = []
        for case .element(let child) in body.children {
            payload.append(child.relabeling(namespace: Self.namespace, to: XMPPNamespace.client))
        }
        return BOSHBody(attributes: body.attributes, payload: payload)
    }

    /// The stream header a creation or restart request stands for (XEP-0206 §3 and §5); a
    /// restart names neither version nor addressee again, so the creation's stand.
    public func streamHeader(after creation: BOSHBody? = nil) -> StreamHeader {
        var attributes: [Attribute] = []
        if let to = self["to"] ?? creation?["to"] { attributes.append(Attribute(name: "to", value: to)) }
        if let version = self.xmppVersion ?? creation?.xmppVersion { attributes.append(Attribute(name: "version", value: version)) }
        if let language = self.language ?? creation?.language { attributes.append(Attribute(name: "lang", namespace: XMLNamespace.xml, value: language)) }
        return StreamHeader(
            name: "stream", namespace: XMPPNamespace.stream, attributes: attributes,
            contentNamespace: XMPPNamespace.client, declaredPrefixes: ["stream": XMPPNamespace.stream])
    }

    private static let serializer = XMLSerializer(defaultNamespace: Self.namespace, prefixes: [XMPPNamespace.stream: "stream"])

    /// The response as sent: stanzas declare `jabber:client`, stream elements use the
    /// `stream:` prefix the wrapper declares (XEP-0206 §2).
    public func serialized() -> String {
        var output = "<body xmlns='\(Self.namespace)' xmlns:stream='\(XMPPNamespace.stream)'"
        if self.attributes.contains(where: { $0.namespace == Self.xmppNamespace }) {
            output += " xmlns:xmpp='\(Self.xmppNamespace)'"
        }
        for attribute in self.attributes {
            switch attribute.namespace {
            case nil: output += " "
            case Self.xmppNamespace: output += " xmpp:"
            case XMLNamespace.xml: output += " xml:"
            default: continue
            }
            output += attribute.name + "='"
            XMLSerializer.escape(attribute.value, attribute: true, into: &output)
            output += "'"
        }
        guard !self.payload.isEmpty else { return output + "/>" }
        output += ">"
        for element in self.payload { Self.serializer.write(element, into: &output) }
        return output + "</body>"
    }
}

/// Why a BOSH session ended, as a response's `condition` (XEP-0124 §17.2).
public enum BOSHTerminalCondition: String, Error, Sendable, Hashable {
    case badRequest = "bad-request"
    case hostGone = "host-gone"
    case hostUnknown = "host-unknown"
    case improperAddressing = "improper-addressing"
    case internalServerError = "internal-server-error"
    case itemNotFound = "item-not-found"
    case otherRequest = "other-request"
    case policyViolation = "policy-violation"
    case remoteConnectionFailed = "remote-connection-failed"
    case remoteStreamError = "remote-stream-error"
    case seeOtherURI = "see-other-uri"
    case systemShutdown = "system-shutdown"
    case undefinedCondition = "undefined-condition"

    /// The `<body type='terminate'/>` that says it.
    public var body: BOSHBody {
        BOSHBody(attributes: [Attribute(name: "type", value: "terminate"), Attribute(name: "condition", value: self.rawValue)])
    }
}
