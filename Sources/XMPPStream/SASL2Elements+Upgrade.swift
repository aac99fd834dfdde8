import XMPPCore
import XMPPSASL

/// XEP-0480 SCRAM upgrade tasks as XEP-0388 elements: the feature names, the `<next/>` a
/// client starts a task with, and the `<task-data/>` both sides exchange. Pure values, no state;
/// the server machine (`C2SStreamStateMachine+SASL2Tasks`) and `XMPPClient` both use them.
public enum SCRAMUpgrade {
    /// `<upgrade/>` in `<authentication/>` (server) and `<authenticate/>` (client).
    public static let namespace = "urn:xmpp:sasl:upgrade:0"
    /// `<salt/>` and `<hash/>` inside `<task-data/>`.
    public static let dataNamespace = "urn:xmpp:scram-upgrade:0"

    /// The hashes an account can be upgraded to. SHA-1 is left out: nobody should gain a
    /// SHA-1 credential, and accounts that lack one still log in with the others.
    public static let upgradableHashes: [SCRAMHash] = [.sha256, .sha512]

    /// `UPGR-SCRAM-SHA-256`: the mechanism name without -PLUS (XEP-0480 §3).
    public static func taskName(_ hash: SCRAMHash) -> String {
        "UPGR-SCRAM-\(hash.rawValue)"
    }

    public static func hash(forTask name: String) -> SCRAMHash? {
        Self.upgradableHashes.first { Self.taskName($0) == name }
    }

    /// The `<upgrade/>` elements for a feature or a request.
    public static func upgradeElements(_ hashes: [SCRAMHash]) -> [Element] {
        hashes.map { Element("upgrade", namespace: Self.namespace, text: Self.taskName($0)) }
    }

    /// The upgrades named in an `<authentication/>` or `<authenticate/>`, in order, each once;
    /// names this side does not know are ignored (XEP-0480 leaves room for other mechanisms).
    public static func parseUpgrades(_ parent: Element) -> [SCRAMHash] {
        var result: [SCRAMHash] = []
        for child in parent.children(named: "upgrade", namespace: Self.namespace) {
            let name = String(decoding: child.text.utf8.filter { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }, as: UTF8.self)
            if let hash = Self.hash(forTask: name), !result.contains(hash) { result.append(hash) }
        }
        return result
    }

    // MARK: - Task elements

    /// `<next task='…'/>`: the client starts the task the server offered.
    public static func next(_ hash: SCRAMHash) -> Element {
        Element("next", namespace: SASL2.namespace, attributes: [("task", Self.taskName(hash))])
    }

    /// The server's `<task-data/>`: the salt and iteration count for the new hash.
    public static func saltData(salt: [UInt8], iterations: Int) -> Element {
        Element(
            "task-data", namespace: SASL2.namespace,
            children: [Element("salt", namespace: Self.dataNamespace, attributes: [("iterations", String(iterations))], text: Base64.encode(salt))])
    }

    /// The client's `<task-data/>`: the SaltedPassword for the salt it was sent.
    public static func hashData(saltedPassword: [UInt8]) -> Element {
        Element("task-data", namespace: SASL2.namespace, children: [Element("hash", namespace: Self.dataNamespace, text: Base64.encode(saltedPassword))])
    }

    /// Reads the server's salt. XEP-0480's prose says `iteration`, its example `iterations`:
    /// both are read.
    public static func parseSaltData(_ element: Element) -> (salt: [UInt8], iterations: Int)? {
        guard element.namespace == SASL2.namespace, element.name == "task-data",
            let salt = element.child(named: "salt", namespace: Self.dataNamespace),
            let iterations = (salt[attribute: "iterations"] ?? salt[attribute: "iteration"]).flatMap(Int.init), iterations > 0,
            let bytes = SASL2.decode(salt.text), !bytes.isEmpty
        else { return nil }
        return (bytes, iterations)
    }

    /// Reads the client's SaltedPassword: `.failure` when the element is not a `<hash/>` in
    /// `<task-data/>` (`malformed-request`), is not base64 (`incorrect-encoding`) or is not
    /// one output of the hash long (`malformed-request`).
    public static func parseHashData(_ element: Element, hash: SCRAMHash) -> Result<[UInt8], SASLFailure> {
        guard element.namespace == SASL2.namespace, element.name == "task-data",
            let child = element.child(named: "hash", namespace: Self.dataNamespace)
        else { return .failure(.malformedRequest) }
        guard let bytes = SASL2.decode(child.text) else { return .failure(.incorrectEncoding) }
        guard bytes.count == hash.outputByteCount else { return .failure(.malformedRequest) }
        return .success(bytes)
    }
}
