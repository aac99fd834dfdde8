import XMPPCore
import XMPPServer
import XMPPStorage

/// Other modules' way into accounts' personal eventing services, for the conversions that
/// keep older protocols in step with PEP (XEP-0402 bookmarks in private XML storage,
/// XEP-0398 avatars in vCards). Empty until the PEP module registers.
public final class PersonalEventingBridge: Sendable {
    private let service = LockedBox<PersonalEventing?>(nil)
    /// The avatar hash (XEP-0153 `<photo/>`) of each account, once looked up.
    let avatarHashes = LockedBox<[JID: String]>([:])

    public init() {}

    func attach(_ service: PersonalEventing) {
        self.service.withLock { $0 = service }
    }

    var isAttached: Bool { self.service.withLock { $0 != nil } }

    /// The node's items, oldest first; nil when the node does not exist.
    func items(of owner: JID, node: String) async throws -> [StoredItem]? {
        guard let service = self.service.withLock({ $0 }) else { return nil }
        guard try await service.engine.record(node, at: .personal(owner)) != nil else { return nil }
        return try await service.engine.items(node, at: .personal(owner), limit: nil)
    }

    /// Publishes as the owner, with publish-options, and notifies as a client's publish would.
    func publish(_ payload: Element, id: String, node: String, owner: JID, options: [String: String]) async throws {
        guard let service = self.service.withLock({ $0 }) else { return }
        var pubsub = Element("pubsub", namespace: PubSubNamespace.pubsub, children: [
            Element("publish", namespace: PubSubNamespace.pubsub, attributes: [("node", node)], children: [
                Element("item", namespace: PubSubNamespace.pubsub, attributes: [("id", id)], children: [payload])
            ])
        ])
        if !options.isEmpty {
            let form = DataForm(type: "submit", formType: PubSubNamespace.publishOptions, fields: options.sorted { $0.key < $1.key }.map { DataForm.Field($0.key, values: [$0.value]) })
            pubsub.append(Element("publish-options", namespace: PubSubNamespace.pubsub, children: [form.element]))
        }
        let outcome = try await service.engine.handle(.set, payload: pubsub, host: .personal(owner), requester: owner)
        await service.deliver(outcome.events, owner: owner)
    }

    func retract(_ ids: [String], node: String, owner: JID) async throws {
        guard let service = self.service.withLock({ $0 }), !ids.isEmpty else { return }
        let retract = Element("pubsub", namespace: PubSubNamespace.pubsub, children: [
            Element("retract", namespace: PubSubNamespace.pubsub, attributes: [("node", node), ("notify", "true")], children: ids.map {
                Element("item", namespace: PubSubNamespace.pubsub, attributes: [("id", $0)])
            })
        ])
        let outcome = try await service.engine.handle(.set, payload: retract, host: .personal(owner), requester: owner)
        await service.deliver(outcome.events, owner: owner)
    }
}
