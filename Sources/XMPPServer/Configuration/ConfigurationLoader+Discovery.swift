import Foundation
import Yams

extension ServerConfiguration {
    /// The kinds of address XEP-0157 lists; each is the field `<kind>-addresses`.
    public enum ContactKind: String, Sendable, Hashable, CaseIterable, Comparable {
        case abuse, admin, feedback, sales, security, status, support

        public static func < (lhs: ContactKind, rhs: ContactKind) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// A STUN or TURN server (XEP-0215). With a `secret` (coturn's `static-auth-secret`), clients
    /// get time-limited credentials by the TURN REST scheme; without one, none.
    public struct ExternalService: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable, CaseIterable { case stun, turn, stuns, turns }
        public enum Transport: String, Sendable, Hashable, CaseIterable { case udp, tcp }

        public var type: Kind
        public var transport: Transport
        public var host: String
        public var port: Int
        public var secret: String?
        /// How long the credentials handed out stay good.
        public var credentialLifetimeSeconds = 86_400

        public init(type: Kind, transport: Transport, host: String, port: Int, secret: String? = nil) {
            self.type = type
            self.transport = transport
            self.host = host
            self.port = port
            self.secret = secret
        }
    }
}

extension ConfigurationLoader.Reader {
    mutating func readContactInfo(_ node: Node, into contactInfo: inout [ServerConfiguration.ContactKind: [String]]) {
        let known = ServerConfiguration.ContactKind.allCases.map(\.rawValue)
        guard let entries = self.mapping(node, "contact_info", known: known) else { return }
        for (key, value) in entries {
            guard let kind = ServerConfiguration.ContactKind(rawValue: key), let addresses = self.strings(value, "contact_info.\(key)") else { continue }
            for (index, address) in addresses.enumerated() where !Self.isURI(address) {
                self.fail("contact_info.\(key)[\(index)]", "expected a URI such as mailto:admin@example.org, xmpp:admin@example.org or https://example.org/contact")
            }
            contactInfo[kind] = addresses
        }
    }

    /// A URI as XEP-0157 wants it: a scheme, a colon and something after it.
    static func isURI(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex else { return false }
        let scheme = text[..<colon]
        return scheme.first?.isLetter == true && scheme.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }
            && !text.contains(where: \.isWhitespace)
    }

    mutating func readExternalServices(_ node: Node, into services: inout [ServerConfiguration.ExternalService]) {
        guard let sequence = node.sequence else {
            self.fail("external_services", "expected a list of services like {type: turn, transport: udp, host: turn.example.org, port: 3478}")
            return
        }
        var result: [ServerConfiguration.ExternalService] = []
        for (index, item) in sequence.enumerated() {
            let path = "external_services[\(index)]"
            guard let entries = self.mapping(item, path, known: ["type", "transport", "host", "port", "secret", "credential_lifetime"]) else { continue }
            var type: ServerConfiguration.ExternalService.Kind?
            var transport = ServerConfiguration.ExternalService.Transport.udp
            var host: String?
            var port: Int?
            var secret: String?
            var lifetime = 86_400
            for (key, value) in entries {
                switch key {
                case "type": type = self.choice(value, "\(path).type", ServerConfiguration.ExternalService.Kind.self)
                case "transport": transport = self.choice(value, "\(path).transport", ServerConfiguration.ExternalService.Transport.self) ?? transport
                case "host": host = self.string(value, "\(path).host")
                case "port": port = self.int(value, "\(path).port", range: 1...65535)
                case "secret": secret = self.string(value, "\(path).secret")
                default: lifetime = self.int(value, "\(path).credential_lifetime", range: 60...(30 * 86_400)) ?? lifetime
                }
            }
            guard let type else {
                if !entries.contains(where: { $0.0 == "type" }) { self.fail("\(path).type", "say which: stun, turn, stuns or turns") }
                continue
            }
            guard let host, !host.isEmpty else {
                self.fail("\(path).host", "name the server's host")
                continue
            }
            if secret != nil && (type == .stun || type == .stuns) {
                self.fail("\(path).secret", "STUN needs no credentials; a secret is for turn and turns")
            }
            var service = ServerConfiguration.ExternalService(
                type: type, transport: transport, host: host, port: port ?? (type == .stuns || type == .turns ? 5349 : 3478), secret: secret)
            service.credentialLifetimeSeconds = lifetime
            result.append(service)
        }
        services = result
    }
}
