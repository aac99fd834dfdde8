import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0060 publish-subscribe as a service at `pubsub.<host>`, on the same engine as the
/// personal eventing service.
public struct PubSubModule: ServerModule {
    public let name = "pubsub"
    static let schema = ModuleSchema(module: "pubsub")
    private let storage = LockedBox<ModuleStorage?>(nil)

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let options = registrar.options("pubsub")
        let limits = PubSubModule.limits(options)
        guard options.bool("enabled", default: true) else { return }
        let prefix = options.string("prefix") ?? "pubsub"
        let defaultMaxItems = options.int("default_max_items", default: 10, range: 1...limits.maxItems)
        let context = registrar.context
        let engine = PubSubEngine(context: context, storage: self.storage, limits: limits) { _ in
            var configuration = NodeConfiguration()
            configuration.maxItems = defaultMaxItems
            return configuration
        }
        var services: [PubSubHost] = []
        for host in context.hosts.sorted() {
            let domain = HostedService.domain(configured: nil, prefix: prefix, host: host)
            guard let jid = try? JID(domain) else { continue }
            let service = PubSubHost.service(jid)
            services.append(service)
            registrar.addService(HostedService(
                domain: domain, host: host, identity: DiscoIdentity(category: "pubsub", type: "service", name: "Publish-subscribe"),
                features: PubSubNamespace.features + [XMPPNamespace.discoInfo, XMPPNamespace.discoItems],
                handler: { stanza in await Self.receive(stanza, host: service, engine: engine, context: context) }))
        }
        let hosts = services
        // What the account has on the pubsub services (admin storage usage).
        @Sendable func involvement(_ account: JID) async throws -> (ownedNodes: Int, subscriptions: Int) {
            var total = (ownedNodes: 0, subscriptions: 0)
            for host in hosts {
                let found = try await engine.involvement(of: account, at: host)
                total = (total.ownedNodes + found.ownedNodes, total.subscriptions + found.subscriptions)
            }
            return total
        }
        registrar.reportAccountUsage("pubsub_nodes_owned") { account in try await involvement(account).ownedNodes }
        registrar.reportAccountUsage("pubsub_subscriptions") { account in try await involvement(account).subscriptions }
        registrar.onEvent { event in
            guard case .accountDeleted(let account) = event else { return }
            for host in hosts {
                do {
                    try await engine.forget(account, at: host)
                } catch {
                    context.logger.error("cannot remove a deleted account's subscriptions", metadata: ["account": "\(account)", "error": "\(error)"])
                }
            }
        }
    }

    /// The limits every pubsub host shares (`modules.pubsub`).
    static func limits(_ options: ModuleOptions) -> PubSubLimits {
        var limits = PubSubLimits()
        limits.maxItems = options.int("max_items", default: 1_000, range: 1...1_000_000)
        limits.maxPayloadBytes = options.int("max_payload_bytes", default: 200 * 1024, range: 1_024...(16 * 1024 * 1024))
        limits.maxNodesPerHost = options.int("max_nodes", default: 1_000, range: 1...10_000_000)
        limits.maxSubscriptionsPerNode = options.int("max_subscriptions", default: 10_000, range: 1...10_000_000)
        return limits
    }

    /// The personal eventing module keeps its nodes in the same module documents, in
    /// `account:` collections of their own.
    public func start(context: ModuleContext) async throws {
        let opened = try await ModuleStorage.open(Self.schema, in: context.storage)
        self.storage.withLock { $0 = opened }
    }

    static func receive(_ stanza: Element, host: PubSubHost, engine: PubSubEngine, context: ModuleContext) async {
        guard let from = stanza.from else { return }
        switch stanza.stanzaKind {
        case .iq:
            guard let type = stanza.stanzaType.flatMap(IQType.init(rawValue:)), let payload = stanza.iqPayload else { return }
            do {
                let result: Element?
                if stanza.to?.localpart != nil || stanza.to?.resourcepart != nil {
                    throw StanzaError(.serviceUnavailable)
                } else if payload.namespace == PubSubNamespace.pubsub || payload.namespace == PubSubNamespace.owner {
                    let outcome = try await engine.handle(type, payload: payload, host: host, requester: from)
                    await context.route(stanza.iqResult(payload: outcome.payload))
                    await Self.deliver(outcome.events, from: host.jid, context: context)
                    return
                } else if type == .get, payload.namespace == XMPPNamespace.discoItems {
                    result = try await Self.items(payload, host: host, engine: engine, requester: from)
                } else if type == .get, payload.namespace == XMPPNamespace.discoInfo, let node = payload[attribute: "node"] {
                    guard let record = try await engine.record(node, at: host) else { throw StanzaError(.itemNotFound) }
                    var info = DiscoInfo.result(identities: [DiscoIdentity(category: "pubsub", type: "leaf")], features: [PubSubNamespace.pubsub], node: node)
                    info.append(record.configuration.metaData(owners: record.owners).element)
                    result = info
                } else {
                    throw StanzaError(.featureNotImplemented)
                }
                await context.route(stanza.iqResult(payload: result))
            } catch let error as StanzaError {
                await context.route(stanza.errorReply(error))
            } catch {
                context.logger.error("pubsub request failed", metadata: ["error": "\(error)"])
                await context.route(stanza.errorReply(StanzaError(.internalServerError)))
            }
        case .message:
            // An owner's answer to a subscription request (§8.6).
            guard !stanza.isErrorStanza, let form = DataForm(in: stanza), form.formType == PubSubNamespace.subscribeAuthorization, form.type == "submit" else { return }
            do {
                let outcome = try await engine.decide(form, host: host, owner: from)
                await Self.deliver(outcome.events, from: host.jid, context: context)
            } catch let error as StanzaError {
                await context.route(stanza.errorReply(error))
            } catch {
                await context.route(stanza.errorReply(StanzaError(.internalServerError)))
            }
        default:
            return
        }
    }

    /// Nodes as disco#items of the service (§5.2) for those who may see them.
    private static func items(_ query: Element, host: PubSubHost, engine: PubSubEngine, requester: JID) async throws -> Element {
        var result = Element("query", namespace: XMPPNamespace.discoItems)
        if let node = query[attribute: "node"] {
            result[attribute: "node"] = node
            guard let record = try await engine.record(node, at: host) else { throw StanzaError(.itemNotFound) }
            if await engine.accessRefusal(record, at: host, requester: requester, reading: true) == nil {
                for item in try await engine.items(node, at: host, limit: nil) {
                    result.append(Element("item", namespace: XMPPNamespace.discoItems, attributes: [("jid", host.jid.description), ("name", item.id)]))
                }
            }
            return result
        }
        for node in try await engine.nodeNames(at: host) {
            result.append(Element("item", namespace: XMPPNamespace.discoItems, attributes: [("jid", host.jid.description), ("node", node)]))
        }
        return result
    }

    /// Sends each event to the node's subscribers, and approval requests to owners.
    static func deliver(_ events: [PubSubEvent], from host: JID, context: ModuleContext) async {
        for event in events {
            if case .approvalNeeded(let node, let subscriber, let subid, let record) = event {
                for owner in record.owners {
                    await context.route(PubSubNotifications.approvalRequest(from: host, to: owner, node: node, subscriber: subscriber, subid: subid))
                }
                continue
            }
            guard let payload = PubSubNotifications.event(event) else { continue }
            let type = PubSubNotifications.record(of: event).configuration.notificationType
            for subscriber in PubSubNotifications.subscribers(of: event) {
                await context.route(PubSubNotifications.message(from: host, to: subscriber, event: payload, type: type))
            }
        }
    }
}
