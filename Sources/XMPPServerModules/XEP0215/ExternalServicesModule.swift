import Crypto
import Foundation
import XMPPCore
import XMPPServer

/// XEP-0215: external service discovery. Tells the server's own users which STUN and TURN
/// servers to use for audio and video calls (`external_services`), with time-limited TURN
/// credentials made by the TURN REST scheme coturn implements (`use-auth-secret`): the
/// username is `<expiry>:<account>`, the password the base64 HMAC-SHA1 of it under the secret
/// the two servers share. The secret never leaves the server.
public struct ExternalServicesModule: ServerModule {
    public let name = "external_services"
    public static let namespace = "urn:xmpp:extdisco:2"

    let clock: @Sendable () -> Date

    public init() {
        self.init(clock: { Date() })
    }

    init(clock: @escaping @Sendable () -> Date) {
        self.clock = clock
    }

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let services = context.configuration.externalServices
        guard !services.isEmpty else { return }
        let clock = self.clock
        registrar.addFeature(Self.namespace)
        registrar.handleIQ(.get, namespace: Self.namespace, target: .server) { request in
            // Credentials for a relay are for the server's own users only.
            guard context.isLocal(request.from), request.from.localpart != nil else { throw StanzaError(.forbidden) }
            switch request.payload.name {
            case "services":
                let type = request.payload[attribute: "type"]
                var answer = Element("services", namespace: Self.namespace)
                if let type { answer[attribute: "type"] = type }
                for service in services where type == nil || service.type.rawValue == type {
                    answer.append(Self.element(service, for: request.from, now: clock()))
                }
                return answer
            case "credentials":
                // §3.3: credentials for one service, named by host (and type, when several share it).
                guard let wanted = request.payload.child(named: "service"), let host = wanted[attribute: "host"] else {
                    throw StanzaError(.badRequest, text: "name the service: <service host='…' type='…'/>")
                }
                let type = wanted[attribute: "type"]
                let port = wanted[attribute: "port"].flatMap(Int.init)
                guard let service = services.first(where: { $0.host == host && (type == nil || $0.type.rawValue == type) && (port == nil || $0.port == port) })
                else { throw StanzaError(.itemNotFound) }
                return Element("credentials", namespace: Self.namespace, children: [Self.element(service, for: request.from, now: clock())])
            default:
                throw StanzaError(.featureNotImplemented)
            }
        }
    }

    static func element(_ service: ServerConfiguration.ExternalService, for account: JID, now: Date) -> Element {
        var element = Element(
            "service", namespace: Self.namespace,
            attributes: [("type", service.type.rawValue), ("host", service.host), ("port", String(service.port)), ("transport", service.transport.rawValue)])
        if let secret = service.secret {
            let expires = Int(now.timeIntervalSince1970) + service.credentialLifetimeSeconds
            let credentials = Self.credentials(secret: secret, account: account, expires: expires)
            element[attribute: "username"] = credentials.username
            element[attribute: "password"] = credentials.password
            element[attribute: "expires"] = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(expires)))
            element[attribute: "restricted"] = "1"
        }
        return element
    }

    /// The TURN REST credentials (draft-uberti-behave-turn-rest §2.2) for an account until
    /// `expires` (Unix seconds).
    public static func credentials(secret: String, account: JID, expires: Int) -> (username: String, password: String) {
        let username = "\(expires):\(account.bare)"
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(username.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return (username, Base64.encode(Array(mac)))
    }
}
