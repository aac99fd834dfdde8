import Hummingbird
import NIOCore

/// What Starling's HTTP handlers know of a request besides the request: the client's address
/// (for logs and abuse controls) and the event loop of its connection.
struct HTTPRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: String
    let eventLoop: any EventLoop

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        self.eventLoop = source.channel.eventLoop
    }
}
