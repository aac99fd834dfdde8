import XMPPCore
import XMPPServer

/// XEP-0054: vcard-temp, stored per account within a size limit; with personal eventing, a
/// PHOTO is also published as the XEP-0084 avatar (XEP-0398).
public struct VCardModule: ServerModule {
    public let name = "vcard"
    private let avatars: PersonalEventingBridge?

    public init(avatars: PersonalEventingBridge? = nil) {
        self.avatars = avatars
    }

    public func register(with registrar: ModuleRegistrar) {
        let context = registrar.context
        let limit = context.configuration.limits.maxVCardBytes
        let avatars = self.avatars
        registrar.addFeature(XMPPNamespace.vcard, target: .account)
        registrar.addFeature(XMPPNamespace.vcard)
        registrar.handleIQ(.get, namespace: XMPPNamespace.vcard, target: .account) { request in
            guard try await context.storage.accounts.accountExists(request.to) else { throw StanzaError(.serviceUnavailable) }
            if let stored = try await context.storage.accountData.value(for: request.to, key: AccountDataKey.vcard), let vcard = Element.parse(stored) {
                return vcard
            }
            return Element(name: "vCard", namespace: XMPPNamespace.vcard)
        }
        registrar.handleIQ(.set, namespace: XMPPNamespace.vcard, target: .account) { request in
            guard request.to.bare == request.from.bare else { throw StanzaError(.forbidden, text: "you can only set your own vCard") }
            guard request.payload.name == "vCard" else { throw StanzaError(.badRequest) }
            let text = request.payload.storedText
            guard text.utf8.count <= limit else { throw StanzaError(.notAcceptable, text: "vCards are limited to \(limit) bytes") }
            try await context.storage.accountData.setValue(request.payload.children.isEmpty ? nil : text, for: request.from.bare, key: AccountDataKey.vcard)
            if let avatars { try await AvatarConversion.vCardStored(request.payload, owner: request.from.bare, bridge: avatars) }
            return nil
        }
    }
}
