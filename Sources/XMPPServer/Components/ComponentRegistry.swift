import NIOConcurrencyHelpers
import NIOCore
import XMPPCore

/// The connected external components (XEP-0114), one stream per domain.
final class ComponentRegistry: @unchecked Sendable {
    private let lock = NIOLock()
    private var links: [String: ComponentLink] = [:]

    /// Claims the domain for a newly authenticated stream; false when another stream holds it.
    func claim(_ link: ComponentLink) -> Bool {
        self.lock.withLock {
            guard self.links[link.domain] == nil else { return false }
            self.links[link.domain] = link
            return true
        }
    }

    func release(_ link: ComponentLink) {
        self.lock.withLock {
            if self.links[link.domain] === link { self.links[link.domain] = nil }
        }
    }

    func link(for domain: String) -> ComponentLink? {
        self.lock.withLock { self.links[domain] }
    }
}

/// The router's handle on a connected component: hands stanzas to its connection on the
/// connection's event loop, and gives back whatever could not be written.
final class ComponentLink: @unchecked Sendable {
    let domain: String
    private let eventLoop: any EventLoop
    /// Only touched on `eventLoop`.
    private let connection: ComponentConnectionHandler

    init(domain: String, eventLoop: any EventLoop, connection: ComponentConnectionHandler) {
        self.domain = domain
        self.eventLoop = eventLoop
        self.connection = connection
    }

    func send(_ stanza: Element, undelivered: @escaping @Sendable (Element) -> Void) {
        let transfer = UnsafeTransfer(self.connection)
        self.eventLoop.execute { transfer.value.write(stanza, undelivered: undelivered) }
    }
}
