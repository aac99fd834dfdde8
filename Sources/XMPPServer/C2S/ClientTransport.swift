import NIOCore
import XMPPCore

/// What a client stream needs from the connection under it. Plain TCP with STARTTLS or
/// direct TLS (`TCPClientTransport`) is one transport; WebSocket (RFC 7395: `<open/>` and
/// `<close/>` framing, one element per frame, TLS from HTTPS) and BOSH (XEP-0206: no
/// long-lived channel, elements carried in HTTP bodies) fit the same calls. Every call is made
/// on `eventLoop`.
protocol ClientTransport: AnyObject {
    var eventLoop: any EventLoop { get }
    /// The client's address, for logs and abuse controls.
    var remoteAddress: String { get }
    /// True when the transport can add TLS under the stream itself: STARTTLS is offered only
    /// then.
    var canStartTLS: Bool { get }
    /// Which connections gauge counts this stream (c2s_tcp, c2s_websocket, c2s_bosh).
    var metricsKind: MetricLabel.ConnectionKind { get }

    /// Opens the server's side of the stream (a `<stream:stream>` tag on TCP, `<open/>` on
    /// WebSocket).
    func sendHeader(_ header: StreamHeader)
    /// Queues an element; `flush()` writes it.
    func send(_ element: Element)
    /// Writes what was queued.
    func flush()
    /// Sends the error, if any, and the end of the stream, then closes.
    func close(with error: StreamError?)
    /// Closes without a word: another connection took over the session (XEP-0198 resume).
    func abandon()
    /// Stops reading from the client until `resumeInput()`: not just handing out parsed
    /// elements, but reading from the socket, so a fast sender fills its own buffers.
    func pauseInput()
    func resumeInput()
    /// Adds TLS under the stream now (after `<proceed/>`); what was read but not yet parsed
    /// came in plaintext and is dropped.
    func startTLS() throws
    /// The client starts a new stream on the same connection (after SASL).
    func restartStream()
    /// The parser limits change once the client has authenticated.
    func setParserLimits(_ limits: XMLParserLimits)
    /// Since when the client has left an element unfinished (slow senders); nil when it has
    /// not, and always nil for transports that only ever carry whole elements.
    var unfinishedInputSince: NIODeadline? { get }
}
