import XMPPCore
import XMPPServer
import XMPPStorage

/// XEP-0313 archive metadata: the first and the last message of an account's archive, which a
/// client compares with what it has to know what to fetch. Answered to `<metadata/>` queries
/// and put into every Bind 2 `<bound/>` (XEP-0386 §3.2), where it marks the moment of binding.
extension MessageArchiveModule {
    static func metadata(account: JID, archive: any ArchiveStore) async throws -> Element {
        var metadata = Element(name: "metadata", namespace: Self.namespace)
        let first = try await archive.query(ArchiveQuery(limit: 1), for: account).items.first
        let last = try await archive.query(ArchiveQuery(before: "", limit: 1), for: account).items.last
        if let first, let last {
            for (name, message) in [("start", first), ("end", last)] {
                metadata.append(
                    Element(name, namespace: Self.namespace, attributes: [("id", message.id), ("timestamp", XMPPDateTime.string(message.timestamp))]))
            }
        }
        return metadata
    }

    static func registerMetadata(with registrar: ModuleRegistrar) {
        let context = registrar.context
        registrar.addBoundElement { session in
            do {
                return try await Self.metadata(account: session.jid.bare, archive: context.storage.archive)
            } catch {
                // The login goes on without it: the client then queries the archive from what it has.
                context.logger.error("cannot read the archive's metadata", metadata: ["account": "\(session.jid.bare)", "error": "\(error)"])
                return nil
            }
        }
    }
}
