import XMPPCore

/// A XEP-0016 privacy list: ordered rules, the first that matches decides.
public struct PrivacyList: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        case allow, deny
    }

    /// What a rule applies to; an empty set in an item means everything.
    public enum StanzaClass: String, Sendable, Hashable, CaseIterable {
        case message
        case iq
        case presenceIn = "presence-in"
        case presenceOut = "presence-out"
    }

    public enum Match: Sendable, Hashable {
        case jid(JID)
        case group(String)
        case subscription(String)
        case everyone
    }

    public struct Item: Sendable, Hashable {
        public var match: Match
        public var action: Action
        public var order: UInt32
        public var classes: Set<StanzaClass>

        public init(match: Match, action: Action, order: UInt32, classes: Set<StanzaClass> = []) {
            self.match = match
            self.action = action
            self.order = order
            self.classes = classes
        }

        /// True when this item governs the class (no child elements: all of them).
        public func covers(_ stanzaClass: StanzaClass) -> Bool {
            self.classes.isEmpty || self.classes.contains(stanzaClass)
        }
    }

    /// Facts about the peer that group and subscription rules need.
    public struct Peer: Sendable, Hashable {
        public var jid: JID
        public var groups: [String]
        /// none, to, from or both, from the account's roster.
        public var subscription: String

        public init(jid: JID, groups: [String] = [], subscription: String = "none") {
            self.jid = jid
            self.groups = groups
            self.subscription = subscription
        }
    }

    public var name: String
    public var items: [Item]

    public init(name: String, items: [Item]) {
        self.name = name
        self.items = items.sorted { $0.order < $1.order }
    }

    /// The action of the first matching item for this peer and stanza class, or nil (allowed).
    public func decision(for peer: Peer, _ stanzaClass: StanzaClass) -> Action? {
        for item in self.items where item.covers(stanzaClass) && Self.matches(item.match, peer) {
            return item.action
        }
        return nil
    }

    public var needsRoster: Bool {
        self.items.contains {
            switch $0.match {
            case .group, .subscription: true
            default: false
            }
        }
    }

    /// XEP-0016 §2.1 JID matching: full JID exactly, bare JID any resource, domain/resource,
    /// domain any user.
    public static func matches(_ match: Match, _ peer: Peer) -> Bool {
        switch match {
        case .everyone:
            return true
        case .group(let group):
            return peer.groups.contains(group)
        case .subscription(let subscription):
            return peer.subscription == subscription
        case .jid(let pattern):
            let jid = peer.jid
            guard pattern.domainpart == jid.domainpart else { return false }
            switch (pattern.localpart, pattern.resourcepart) {
            case (.some(let local), .some(let resource)): return jid.localpart == local && jid.resourcepart == resource
            case (.some(let local), .none): return jid.localpart == local
            case (.none, .some(let resource)): return jid.resourcepart == resource
            case (.none, .none): return true
            }
        }
    }
}

// MARK: - XML

extension PrivacyList {
    public struct ParseError: Error, Sendable {
        public var reason: String
    }

    /// Reads `<list name='…'><item …/></list>`.
    public init(element: Element) throws(ParseError) {
        guard let name = element[attribute: "name"], !name.isEmpty else { throw ParseError(reason: "a list needs a name") }
        var items: [Item] = []
        var orders = Set<UInt32>()
        for itemElement in element.children(named: "item") {
            guard let actionText = itemElement[attribute: "action"], let action = Action(rawValue: actionText) else {
                throw ParseError(reason: "each item needs action='allow' or 'deny'")
            }
            guard let orderText = itemElement[attribute: "order"], let order = UInt32(orderText), orders.insert(order).inserted else {
                throw ParseError(reason: "each item needs a unique non-negative order")
            }
            let match: Match
            switch (itemElement[attribute: "type"], itemElement[attribute: "value"]) {
            case (nil, nil):
                match = .everyone
            case ("jid", .some(let value)):
                guard let jid = try? JID(value) else { throw ParseError(reason: "'\(value)' is not a JID") }
                match = .jid(jid)
            case ("group", .some(let value)):
                match = .group(value)
            case ("subscription", .some(let value)):
                guard ["none", "to", "from", "both"].contains(value) else { throw ParseError(reason: "unknown subscription '\(value)'") }
                match = .subscription(value)
            default:
                throw ParseError(reason: "an item's type must be jid, group or subscription, with a value")
            }
            var classes = Set<StanzaClass>()
            for child in itemElement.elements {
                guard let stanzaClass = StanzaClass(rawValue: child.name) else { throw ParseError(reason: "unknown child <\(child.name)/>") }
                classes.insert(stanzaClass)
            }
            items.append(Item(match: match, action: action, order: order, classes: classes))
        }
        self.init(name: name, items: items)
    }

    public func element(namespace: String) -> Element {
        var list = Element("list", namespace: namespace, attributes: [("name", self.name)])
        for item in self.items {
            var element = Element("item", namespace: namespace)
            switch item.match {
            case .everyone: break
            case .jid(let jid):
                element[attribute: "type"] = "jid"
                element[attribute: "value"] = jid.description
            case .group(let group):
                element[attribute: "type"] = "group"
                element[attribute: "value"] = group
            case .subscription(let subscription):
                element[attribute: "type"] = "subscription"
                element[attribute: "value"] = subscription
            }
            element[attribute: "action"] = item.action.rawValue
            element[attribute: "order"] = String(item.order)
            for stanzaClass in StanzaClass.allCases where item.classes.contains(stanzaClass) {
                element.append(Element(name: stanzaClass.rawValue, namespace: namespace))
            }
            list.append(element)
        }
        return list
    }
}
