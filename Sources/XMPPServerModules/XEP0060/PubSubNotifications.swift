import Foundation
import XMPPCore

/// The messages that tell subscribers what happened to a node (XEP-0060 §7.1.2, §7.2.2,
/// §8.2.1, §8.4.2, §8.5.2), and the owner's approval request (§8.6).
enum PubSubNotifications {
    static func event(_ event: PubSubEvent) -> Element? {
        switch event {
        case .published(let node, let items, let record):
            return self.items(node, items, payloads: record.configuration.deliverPayloads)
        case .retracted(let node, let ids, _):
            return Element("event", namespace: PubSubNamespace.event, children: [
                Element("items", namespace: PubSubNamespace.event, attributes: [("node", node)], children: ids.map {
                    Element("retract", namespace: PubSubNamespace.event, attributes: [("id", $0)])
                })
            ])
        case .purged(let node, _):
            return Element("event", namespace: PubSubNamespace.event, children: [Element("purge", namespace: PubSubNamespace.event, attributes: [("node", node)])])
        case .deleted(let node, let redirect, _):
            var delete = Element("delete", namespace: PubSubNamespace.event, attributes: [("node", node)])
            if let redirect { delete.append(Element("redirect", namespace: PubSubNamespace.event, attributes: [("uri", redirect)])) }
            return Element("event", namespace: PubSubNamespace.event, children: [delete])
        case .configured(let node, _):
            return Element("event", namespace: PubSubNamespace.event, children: [Element("configuration", namespace: PubSubNamespace.event, attributes: [("node", node)])])
        case .subscribed(let node, _, let record, let last?):
            return self.items(node, [last], payloads: record.configuration.deliverPayloads)
        case .subscribed, .approvalNeeded:
            return nil
        }
    }

    static func items(_ node: String, _ items: [StoredItem], payloads: Bool) -> Element {
        Element("event", namespace: PubSubNamespace.event, children: [
            Element("items", namespace: PubSubNamespace.event, attributes: [("node", node)], children: items.map {
                $0.element(namespace: PubSubNamespace.event, withPayload: payloads, publisher: true)
            })
        ])
    }

    static func message(from host: JID, to recipient: JID, event: Element, type: String) -> Element {
        Element("message", namespace: XMPPNamespace.client, attributes: [("from", host.description), ("to", recipient.description), ("type", type), ("id", UUID().uuidString.lowercased())], children: [event])
    }

    /// §8.6: the form an owner answers to let a subscriber in.
    static func approvalRequest(from host: JID, to owner: JID, node: String, subscriber: JID, subid: String) -> Element {
        let form = DataForm(type: "form", title: "Subscription request", formType: PubSubNamespace.subscribeAuthorization, fields: [
            DataForm.Field("pubsub#subid", type: "hidden", values: [subid]),
            DataForm.Field("pubsub#node", type: "text-single", label: "Node", values: [node]),
            DataForm.Field("pubsub#subscriber_jid", type: "jid-single", label: "Subscriber", values: [subscriber.description]),
            DataForm.Field("pubsub#allow", type: "boolean", label: "Allow this subscription?", values: ["0"]),
        ])
        return Element("message", namespace: XMPPNamespace.client, attributes: [("from", host.description), ("to", owner.description)], children: [form.element])
    }

    /// Who hears of an event through their subscriptions (the subscriber of a new
    /// subscription only hears the last item).
    static func subscribers(of event: PubSubEvent) -> [JID] {
        switch event {
        case .published(_, _, let record), .retracted(_, _, let record), .purged(_, let record), .deleted(_, _, let record), .configured(_, let record):
            guard record.configuration.deliverNotifications else { return [] }
            return record.subscriptions.filter { $0.state == .subscribed }.compactMap { try? JID($0.jid) }
        case .subscribed(_, let subscriber, _, let last):
            return last == nil ? [] : [subscriber]
        case .approvalNeeded:
            return []
        }
    }

    static func record(of event: PubSubEvent) -> NodeRecord {
        switch event {
        case .published(_, _, let record), .retracted(_, _, let record), .purged(_, let record), .deleted(_, _, let record), .configured(_, let record),
            .subscribed(_, _, let record, _), .approvalNeeded(_, _, _, let record):
            return record
        }
    }
}
