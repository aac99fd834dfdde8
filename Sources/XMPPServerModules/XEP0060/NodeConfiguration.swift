import XMPPCore

/// XEP-0060 namespaces.
enum PubSubNamespace {
    static let pubsub = "http://jabber.org/protocol/pubsub"
    static let owner = "http://jabber.org/protocol/pubsub#owner"
    static let event = "http://jabber.org/protocol/pubsub#event"
    static let errors = "http://jabber.org/protocol/pubsub#errors"
    static let nodeConfig = "http://jabber.org/protocol/pubsub#node_config"
    static let publishOptions = "http://jabber.org/protocol/pubsub#publish-options"
    static let subscribeOptions = "http://jabber.org/protocol/pubsub#subscribe_options"
    static let subscribeAuthorization = "http://jabber.org/protocol/pubsub#subscribe_authorization"
    static let metaData = "http://jabber.org/protocol/pubsub#meta-data"

    /// The `pubsub#…` features of what is implemented (XEP-0060 §10), for disco.
    static let features = [
        "access-authorize", "access-open", "access-presence", "access-roster", "access-whitelist", "auto-create", "auto-subscribe",
        "config-node", "config-node-max", "create-and-configure", "create-nodes", "delete-items", "delete-nodes", "filtered-notifications",
        "get-pending", "instant-nodes", "item-ids", "last-published", "manage-affiliations", "manage-subscriptions", "member-affiliation",
        "meta-data", "modify-affiliations", "multi-items", "outcast-affiliation", "persistent-items", "presence-notifications",
        "presence-subscribe", "publish", "publish-options", "publish-only-affiliation", "publisher-affiliation", "purge-nodes",
        "retract-items", "retrieve-affiliations", "retrieve-default", "retrieve-items", "retrieve-subscriptions", "subscribe",
        "subscription-options",
    ].map { "\(pubsub)#\($0)" } + [pubsub]
}

/// Who may subscribe to a node and read its items (XEP-0060 §4.5).
enum AccessModel: String, Codable, Sendable, CaseIterable { case open, presence, roster, whitelist, authorize }
/// Who may publish (XEP-0060 §16.4.3 `pubsub#publish_model`).
enum PublishModel: String, Codable, Sendable, CaseIterable { case publishers, subscribers, open }
enum SendLastPublished: String, Codable, Sendable, CaseIterable {
    case never
    case onSubscription = "on_sub"
    case onSubscriptionAndPresence = "on_sub_and_presence"
}

/// A node's `pubsub#node_config` (XEP-0060 §16.4.3).
struct NodeConfiguration: Codable, Sendable, Hashable {
    var title = ""
    var description = ""
    var accessModel = AccessModel.open
    var rosterGroupsAllowed: [String] = []
    var publishModel = PublishModel.publishers
    /// nil: as many as the service allows (`max`).
    var maxItems: Int? = 1
    var persistItems = true
    var deliverPayloads = true
    var deliverNotifications = true
    var notifyRetract = true
    var notifyDelete = true
    var notifyConfig = false
    var notificationType = "headline"
    var sendLastPublishedItem = SendLastPublished.onSubscriptionAndPresence
    /// The namespace of the node's payloads, when known (`pubsub#type`).
    var payloadType = ""

    static let formType = PubSubNamespace.nodeConfig

    func form(maxItemsLimit: Int) -> DataForm {
        typealias Field = DataForm.Field
        func flag(_ value: Bool) -> [String] { [value ? "1" : "0"] }
        return DataForm(type: "form", formType: Self.formType, fields: [
            Field("pubsub#title", type: "text-single", label: "Title", values: [self.title]),
            Field("pubsub#description", type: "text-single", label: "Description", values: [self.description]),
            Field("pubsub#access_model", type: "list-single", label: "Who may subscribe and read", values: [self.accessModel.rawValue],
                  options: AccessModel.allCases.map { ($0.rawValue, $0.rawValue) }),
            Field("pubsub#roster_groups_allowed", type: "list-multi", label: "Roster groups allowed", values: self.rosterGroupsAllowed),
            Field("pubsub#publish_model", type: "list-single", label: "Who may publish", values: [self.publishModel.rawValue],
                  options: PublishModel.allCases.map { ($0.rawValue, $0.rawValue) }),
            Field("pubsub#max_items", type: "text-single", label: "Items kept (at most \(maxItemsLimit), or max)", values: [self.maxItems.map(String.init) ?? "max"]),
            Field("pubsub#persist_items", type: "boolean", label: "Keep items", values: flag(self.persistItems)),
            Field("pubsub#deliver_payloads", type: "boolean", label: "Send payloads with notifications", values: flag(self.deliverPayloads)),
            Field("pubsub#deliver_notifications", type: "boolean", label: "Send notifications", values: flag(self.deliverNotifications)),
            Field("pubsub#notify_retract", type: "boolean", label: "Notify when items are retracted", values: flag(self.notifyRetract)),
            Field("pubsub#notify_delete", type: "boolean", label: "Notify when the node is deleted", values: flag(self.notifyDelete)),
            Field("pubsub#notify_config", type: "boolean", label: "Notify when the configuration changes", values: flag(self.notifyConfig)),
            Field("pubsub#notification_type", type: "list-single", label: "Message type of notifications", values: [self.notificationType],
                  options: [("headline", "headline"), ("normal", "normal")]),
            Field("pubsub#send_last_published_item", type: "list-single", label: "When to send the last item", values: [self.sendLastPublishedItem.rawValue],
                  options: SendLastPublished.allCases.map { ($0.rawValue, $0.rawValue) }),
            Field("pubsub#type", type: "text-single", label: "Payload namespace", values: [self.payloadType]),
            Field("pubsub#node_type", type: "list-single", label: "Node type", values: ["leaf"], options: [("leaf", "leaf")]),
        ])
    }

    /// Applies submitted values; unknown fields are refused when `strict` (publish-options
    /// preconditions must never be ignored), skipped otherwise (XEP-0004 §3.4).
    func applying(_ form: DataForm, maxItemsLimit: Int, strict: Bool) throws(StanzaError) -> NodeConfiguration {
        var result = self
        for field in form.fields where field.name != "FORM_TYPE" {
            let value = field.values.first ?? ""
            func bool() throws(StanzaError) -> Bool {
                switch value {
                case "1", "true": return true
                case "0", "false": return false
                default: throw StanzaError(.notAcceptable, text: "\(field.name) must be a boolean")
                }
            }
            switch field.name {
            case "pubsub#title": result.title = value
            case "pubsub#description": result.description = value
            case "pubsub#access_model":
                guard let model = AccessModel(rawValue: value) else { throw StanzaError(.notAcceptable, text: "unknown access model \(value)") }
                result.accessModel = model
            case "pubsub#roster_groups_allowed": result.rosterGroupsAllowed = field.values
            case "pubsub#publish_model":
                guard let model = PublishModel(rawValue: value) else { throw StanzaError(.notAcceptable, text: "unknown publish model \(value)") }
                result.publishModel = model
            case "pubsub#max_items":
                if value == "max" {
                    result.maxItems = nil
                } else {
                    guard let number = Int(value), number >= 0 else { throw StanzaError(.notAcceptable, text: "pubsub#max_items must be a number or max") }
                    guard number <= maxItemsLimit else { throw StanzaError(.notAcceptable, text: "pubsub#max_items may be at most \(maxItemsLimit)") }
                    result.maxItems = number
                }
            case "pubsub#persist_items": result.persistItems = try bool()
            case "pubsub#deliver_payloads": result.deliverPayloads = try bool()
            case "pubsub#deliver_notifications": result.deliverNotifications = try bool()
            case "pubsub#notify_retract": result.notifyRetract = try bool()
            case "pubsub#notify_delete": result.notifyDelete = try bool()
            case "pubsub#notify_config": result.notifyConfig = try bool()
            case "pubsub#notification_type":
                guard value == "headline" || value == "normal" else { throw StanzaError(.notAcceptable, text: "pubsub#notification_type is headline or normal") }
                result.notificationType = value
            case "pubsub#send_last_published_item":
                guard let choice = SendLastPublished(rawValue: value) else { throw StanzaError(.notAcceptable, text: "unknown pubsub#send_last_published_item \(value)") }
                result.sendLastPublishedItem = choice
            case "pubsub#type": result.payloadType = value
            case "pubsub#node_type":
                guard value == "leaf" else { throw StanzaError(.featureNotImplemented, text: "only leaf nodes are supported") }
            default:
                if strict { throw StanzaError(.notAcceptable, text: "unknown option \(field.name)") }
            }
        }
        return result
    }

    /// XEP-0060 §7.1.5: every publish option must equal the node's value. Returns the first
    /// field that differs.
    func unmetPrecondition(_ options: DataForm, maxItemsLimit: Int) -> String? {
        for field in options.fields where field.name != "FORM_TYPE" {
            // The node with this one option applied must be the node as it is.
            guard let wanted = try? self.applying(DataForm(type: "submit", fields: [field]), maxItemsLimit: maxItemsLimit, strict: true) else { return field.name }
            if field.name == "pubsub#max_items" {
                // `max` and the service's limit are the same number of items.
                if (wanted.maxItems ?? maxItemsLimit) != (self.maxItems ?? maxItemsLimit) { return field.name }
            } else if wanted != self {
                return field.name
            }
        }
        return nil
    }

    /// The node's items as a count the service keeps.
    func itemLimit(serviceLimit: Int) -> Int {
        guard self.persistItems else { return 1 }
        return min(self.maxItems ?? serviceLimit, serviceLimit)
    }

    /// XEP-0060 §5.4 node meta-data, in disco#info.
    func metaData(owners: [JID]) -> DataForm {
        DataForm(type: "result", formType: PubSubNamespace.metaData, fields: [
            DataForm.Field("pubsub#title", values: [self.title]),
            DataForm.Field("pubsub#description", values: [self.description]),
            DataForm.Field("pubsub#access_model", values: [self.accessModel.rawValue]),
            DataForm.Field("pubsub#publish_model", values: [self.publishModel.rawValue]),
            DataForm.Field("pubsub#owner", type: "jid-multi", values: owners.map(\.description)),
            DataForm.Field("pubsub#type", values: [self.payloadType]),
            DataForm.Field("pubsub#max_items", values: [self.maxItems.map(String.init) ?? "max"]),
        ])
    }
}
