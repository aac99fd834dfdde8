import Crypto
import XMPPCore

/// XEP-0115 entity capabilities as a server sees its users' clients: the `<c/>` in their
/// presence, and what a verification string stands for, learnt once by asking one client
/// (disco#info) and checked against the hash before it is trusted for every client.
enum EntityCapabilities {
    struct Claim: Sendable, Hashable {
        var node: String
        var ver: String
        var hash: String
    }

    static func claim(in presence: Element) -> Claim? {
        guard let c = presence.child(named: "c", namespace: XMPPNamespace.caps), let node = c[attribute: "node"], let ver = c[attribute: "ver"] else { return nil }
        return Claim(node: node, ver: ver, hash: c[attribute: "hash"] ?? "")
    }

    /// The XEP-0115 §5.1 verification string of a disco#info result (SHA-1), or nil when the
    /// result cannot have one (duplicate identities or features, §5.4).
    static func verification(of info: Element) -> String? {
        let identities = info.children(named: "identity").map { identity in
            "\(identity[attribute: "category"] ?? "")/\(identity[attribute: "type"] ?? "")/\(identity.language ?? "")/\(identity[attribute: "name"] ?? "")"
        }
        let features = info.children(named: "feature").compactMap { $0[attribute: "var"] }
        guard Set(identities).count == identities.count, Set(features).count == features.count else { return nil }
        var text = identities.sorted().map { $0 + "<" }.joined() + features.sorted().map { $0 + "<" }.joined()
        var forms: [(String, [DataForm.Field])] = []
        for element in info.children(named: "x", namespace: XMPPNamespace.dataForms) {
            guard let form = DataForm(element: element), let type = form.formType else { continue }
            forms.append((type, form.fields.filter { $0.name != "FORM_TYPE" }))
        }
        for (type, fields) in forms.sorted(by: { $0.0 < $1.0 }) {
            text += type + "<"
            for field in fields.sorted(by: { $0.name < $1.name }) {
                text += field.name + "<" + field.values.sorted().map { $0 + "<" }.joined()
            }
        }
        return Base64.encode(Array(Insecure.SHA1.hash(data: Array(text.utf8))))
    }
}
