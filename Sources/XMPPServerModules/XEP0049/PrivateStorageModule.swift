import XMPPCore
import XMPPServer

/// XEP-0049: private XML storage, one document per namespace, for the account itself only.
/// With personal eventing, XEP-0048 bookmarks here are a view of the XEP-0402 PEP node.
public struct PrivateStorageModule: ServerModule {
    public let name = "private"
    private let bookmarks: PersonalEventingBridge?

    public init(bookmarks: PersonalEventingBridge? = nil) {
        self.bookmarks = bookmarks
    }

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let limit = context.configuration.limits.maxPrivateXMLBytes
        let bookmarks = self.bookmarks
        registrar.addFeature(XMPPNamespace.privateStorage, target: .account)
        if bookmarks != nil { registrar.addFeature(BookmarkConversion.compatFeature, target: .account) }
        registrar.handleIQ(.get, namespace: XMPPNamespace.privateStorage, target: .account) { request in
            let child = try Self.singleChild(request)
            var query = Element(name: "query", namespace: XMPPNamespace.privateStorage)
            let stored = try await context.storage.accountData.value(for: request.from.bare, key: AccountDataKey.privateXML(child.namespace)).flatMap { Element.parse($0) }
            if child.namespace == BookmarkConversion.legacyNamespace, let bookmarks, bookmarks.isAttached {
                let items = try await bookmarks.items(of: request.from.bare, node: BookmarkConversion.node) ?? []
                query.append(BookmarkConversion.storage(items: items, kept: stored))
            } else if let element = stored {
                query.append(element)
            } else {
                query.append(Element(name: child.name, namespace: child.namespace))
            }
            return query
        }
        registrar.handleIQ(.set, namespace: XMPPNamespace.privateStorage, target: .account) { request in
            let child = try Self.singleChild(request)
            let text = child.storedText
            guard text.utf8.count <= limit else { throw StanzaError(.notAcceptable, text: "private XML is limited to \(limit) bytes per namespace") }
            if child.namespace == BookmarkConversion.legacyNamespace, let bookmarks, bookmarks.isAttached {
                try await BookmarkConversion.write(child, owner: request.from.bare, bridge: bookmarks)
            }
            try await context.storage.accountData.setValue(text, for: request.from.bare, key: AccountDataKey.privateXML(child.namespace))
            return nil
        }
    }

    private static func singleChild(_ request: IQRequest) throws -> Element {
        guard request.to.bare == request.from.bare else { throw StanzaError(.forbidden) }
        let children = request.payload.elements
        guard children.count == 1, let child = children.first else { throw StanzaError(.badRequest, text: "exactly one child element is stored at a time") }
        // XEP-0049 §3: namespaces of the jabber: family are reserved.
        guard !child.namespace.hasPrefix("jabber:"), !child.namespace.isEmpty else { throw StanzaError(.notAcceptable) }
        return child
    }
}
