import Foundation
import XMPPCore

/// A relation to a node (XEP-0060 §4.1), ordered by what it may do.
enum PubSubAffiliation: String, Codable, Sendable, CaseIterable, Comparable {
    case outcast, none, member
    case publishOnly = "publish-only"
    case publisher, owner

    private var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
    /// May read items (whitelist) and subscribe.
    var isMember: Bool { self == .member || self == .publisher || self == .owner }
}

struct PubSubSubscription: Codable, Sendable, Hashable {
    enum State: String, Codable, Sendable { case subscribed, pending, unconfigured, none }
    /// As the subscriber gave it: bare or full.
    var jid: String
    var subid: String
    var state: State
}

/// A node as stored: configuration, who belongs, who listens. Items are stored beside it.
struct NodeRecord: Codable, Sendable, Hashable {
    var configuration: NodeConfiguration
    /// By bare JID.
    var affiliations: [String: PubSubAffiliation] = [:]
    var subscriptions: [PubSubSubscription] = []
    /// The sequence number of the next item, for item keys that sort by publication.
    var nextSequence: Int64 = 0
    var created: Date

    init(configuration: NodeConfiguration, owner: JID, created: Date) {
        self.configuration = configuration
        self.affiliations[owner.bare.description] = .owner
        self.created = created
    }

    func affiliation(of jid: JID) -> PubSubAffiliation {
        self.affiliations[jid.bare.description] ?? .none
    }

    var owners: [JID] {
        self.affiliations.filter { $0.value == .owner }.keys.compactMap { try? JID($0) }.sorted()
    }

    func subscriptions(of jid: JID) -> [PubSubSubscription] {
        self.subscriptions.filter { $0.jid == jid.description }
    }
}

/// One published item as stored.
struct StoredItem: Codable, Sendable, Hashable {
    var id: String
    /// The payload element as XML text (`jabber:client` default namespace).
    var payload: String?
    var publisher: String
    var published: Date

    var payloadElement: Element? { self.payload.flatMap { Element.parse($0) } }

    /// `<item id=…>payload</item>` in the given namespace.
    func element(namespace: String, withPayload: Bool = true, publisher: Bool = false) -> Element {
        var item = Element("item", namespace: namespace, attributes: [("id", self.id)])
        if publisher { item[attribute: "publisher"] = self.publisher }
        if withPayload, let payload = self.payloadElement { item.append(payload) }
        return item
    }
}

/// XEP-0060 errors: a general condition with a `pubsub#errors` application condition.
extension StanzaError {
    static func pubsub(_ condition: StanzaErrorCondition, _ specific: String? = nil, feature: String? = nil, text: String? = nil) -> StanzaError {
        var application: Element?
        if let specific {
            application = Element(specific, namespace: PubSubNamespace.errors)
            if let feature { application?[attribute: "feature"] = feature }
        }
        return StanzaError(condition, text: text, applicationCondition: application)
    }
}
