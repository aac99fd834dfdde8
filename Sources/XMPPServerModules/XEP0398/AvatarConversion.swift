import Crypto
import Foundation
import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0398: avatars published in PEP (XEP-0084) and avatars in vCards (XEP-0153) are one
/// avatar. A PEP publish rewrites the vCard's PHOTO, a vCard with a PHOTO is published to
/// PEP, and the server adds the `vcard-temp:x:update` hash to the account's presence.
enum AvatarConversion {
    static let feature = "urn:xmpp:pep-vcard-conversion:0"
    static let dataNode = "urn:xmpp:avatar:data"
    static let metadataNode = "urn:xmpp:avatar:metadata"
    static let update = "vcard-temp:x:update"

    /// The owner published avatar metadata: the vCard follows.
    static func metadataPublished(_ item: StoredItem, owner: JID, bridge: PersonalEventingBridge, context: ModuleContext) async {
        let info = item.payloadElement?.child(named: "info")
        var vcard = (try? await context.storage.accountData.value(for: owner, key: AccountDataKey.vcard)).flatMap { $0.flatMap { Element.parse($0) } }
            ?? Element(name: "vCard", namespace: XMPPNamespace.vcard)
        vcard.removeChildren { $0.name == "PHOTO" }
        var hash = ""
        if let info, let id = info[attribute: "id"],
            let data = try? await bridge.items(of: owner, node: Self.dataNode)?.first(where: { $0.id == id })?.payloadElement?.text
        {
            vcard.append(Element("PHOTO", namespace: XMPPNamespace.vcard, children: [
                Element("TYPE", namespace: XMPPNamespace.vcard, text: info[attribute: "type"] ?? "image/png"),
                Element("BINVAL", namespace: XMPPNamespace.vcard, text: data.filter { !$0.isWhitespace }),
            ]))
            hash = id
        }
        try? await context.storage.accountData.setValue(vcard.children.isEmpty ? nil : vcard.storedText, for: owner, key: AccountDataKey.vcard)
        bridge.avatarHashes.withLock { $0[owner] = hash }
    }

    /// The owner stored a vCard: its PHOTO becomes the PEP avatar.
    static func vCardStored(_ vcard: Element, owner: JID, bridge: PersonalEventingBridge) async throws {
        guard bridge.isAttached, let photo = vcard.child(named: "PHOTO"), let binval = photo.child(named: "BINVAL")?.text.filter({ !$0.isWhitespace }),
            let bytes = Base64.decode(binval), !bytes.isEmpty
        else { return }
        let id = Base16.encode(Insecure.SHA1.hash(data: bytes))
        if await self.hash(of: owner, bridge: bridge) == id { return }
        let type = photo.child(named: "TYPE")?.text ?? "image/png"
        try await bridge.publish(Element("data", namespace: Self.dataNode, text: binval), id: id, node: Self.dataNode, owner: owner, options: [:])
        let metadata = Element("metadata", namespace: Self.metadataNode, children: [
            Element("info", namespace: Self.metadataNode, attributes: [("bytes", "\(bytes.count)"), ("id", id), ("type", type)])
        ])
        try await bridge.publish(metadata, id: id, node: Self.metadataNode, owner: owner, options: [:])
        bridge.avatarHashes.withLock { $0[owner] = id }
    }

    /// The account's avatar hash ("" for none), from the metadata node once, then remembered.
    static func hash(of owner: JID, bridge: PersonalEventingBridge) async -> String {
        if let known = bridge.avatarHashes.withLock({ $0[owner] }) { return known }
        let latest = (try? await bridge.items(of: owner, node: Self.metadataNode))??.last
        let hash = latest?.payloadElement?.child(named: "info")?[attribute: "id"] ?? ""
        bridge.avatarHashes.withLock { $0[owner] = hash }
        return hash
    }

    /// The account's broadcast presence with the avatar hash, unless the client put one in.
    static func stamp(_ presence: Element, owner: JID, bridge: PersonalEventingBridge) async -> Element {
        guard presence.stanzaType == nil, presence.child(named: "x", namespace: Self.update) == nil else { return presence }
        let hash = await self.hash(of: owner, bridge: bridge)
        guard !hash.isEmpty else { return presence }
        var stamped = presence
        stamped.append(Element("x", namespace: Self.update, children: [Element("photo", namespace: Self.update, text: hash)]))
        return stamped
    }
}
