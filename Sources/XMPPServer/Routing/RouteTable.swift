import XMPPCore

/// A service discovery identity (XEP-0030 §3.1).
public struct DiscoIdentity: Sendable, Hashable {
    public var category: String
    public var type: String
    public var name: String?

    public init(category: String, type: String, name: String? = nil) {
        self.category = category
        self.type = type
        self.name = name
    }
}

/// A domain owned by a module (chat rooms, pubsub, upload): every stanza addressed to the
/// domain or to a JID in it goes to `handler`, except disco#info to the bare domain, which the
/// router answers from `identity` and `features`. The hosting domain lists it in disco#items.
public struct HostedService: Sendable {
    public var domain: String
    /// The account domain whose disco#items lists this service.
    public var host: String
    public var identity: DiscoIdentity
    public var features: [String]
    /// Extended information (XEP-0128 data forms) for the domain's disco#info, such as the
    /// upload service's `max-file-size`.
    public var extensions: [Element]
    /// Takes stanzas for the domain; `from` is stamped and trusted.
    public var handler: @Sendable (Element) async -> Void

    public init(
        domain: String, host: String, identity: DiscoIdentity, features: [String], extensions: [Element] = [],
        handler: @escaping @Sendable (Element) async -> Void
    ) {
        self.domain = domain
        self.host = host
        self.identity = identity
        self.features = features
        self.extensions = extensions
        self.handler = handler
    }

    /// `<prefix>.<host>` unless the configuration names the domain.
    public static func domain(configured: String?, prefix: String, host: String) -> String {
        configured ?? "\(prefix).\(host)"
    }
}

/// Where stanzas for a domain go: exactly one of these.
public enum DomainRoute: Sendable {
    /// A hosted account domain: the server and its accounts.
    case hosted
    /// A domain owned by a module.
    case service(HostedService)
    /// An external component's domain (XEP-0114), connected or not.
    case component(String)
    /// Anyone else: federation.
    case remote
}

/// Resolves a destination domain to its route. Filled while modules register and frozen
/// before the first stanza, so lookups take no lock.
public final class RouteTable: @unchecked Sendable {
    public let hosts: Set<String>
    public let componentDomains: Set<String>
    public private(set) var services: [String: HostedService] = [:]

    init(hosts: Set<String>, componentDomains: Set<String>) {
        self.hosts = hosts
        self.componentDomains = componentDomains
    }

    /// Adds a service; a domain that is already routed elsewhere is refused.
    func add(_ service: HostedService) throws(ConfigurationError) {
        let domain = service.domain
        if self.hosts.contains(domain) || self.componentDomains.contains(domain) || self.services[domain] != nil {
            throw ConfigurationError(path: "modules", message: "the service domain \(domain) is already served by something else")
        }
        self.services[domain] = service
    }

    public func route(for domain: String) -> DomainRoute {
        if self.hosts.contains(domain) { return .hosted }
        if let service = self.services[domain] { return .service(service) }
        if self.componentDomains.contains(domain) { return .component(domain) }
        return .remote
    }

    /// Every domain served here: accounts, services and components (federation accepts
    /// streams and stanzas for each).
    public var localDomains: Set<String> {
        self.hosts.union(self.services.keys).union(self.componentDomains)
    }

    /// The services and components listed in a hosting domain's disco#items.
    public func items(of host: String) -> [(jid: String, name: String?)] {
        let services = self.services.values.filter { $0.host == host }.map { (jid: $0.domain, name: $0.identity.name) }
        let components = self.componentDomains.filter { $0.hasSuffix(".\(host)") }.map { (jid: $0, name: String?.none) }
        return (services + components).sorted { $0.jid < $1.jid }
    }
}

/// XEP-0030 disco#info results, for the disco module and for services the router answers.
public enum DiscoInfo {
    public static func result(identities: [DiscoIdentity], features: [String], node: String? = nil) -> Element {
        var query = Element(name: "query", namespace: XMPPNamespace.discoInfo)
        if let node { query[attribute: "node"] = node }
        for identity in identities {
            var element = Element("identity", namespace: XMPPNamespace.discoInfo, attributes: [("category", identity.category), ("type", identity.type)])
            if let name = identity.name { element[attribute: "name"] = name }
            query.append(element)
        }
        for feature in Set(features).sorted() {
            query.append(Element("feature", namespace: XMPPNamespace.discoInfo, attributes: [("var", feature)]))
        }
        return query
    }
}
