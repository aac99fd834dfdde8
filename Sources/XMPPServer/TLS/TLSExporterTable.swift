import NIOCore
import Synchronization
import XMPPSASL

/// Hands each TLS 1.3 connection its `tls-exporter` channel binding (RFC 9266), which
/// swift-nio-ssl cannot export, through the key-log callback of the one shared
/// `NIOSSLContext`.
///
/// The callback hears every connection's key-log lines, named only by their ClientHello
/// random; a connection learns its own random from `TLSClientRandomHandler` before the
/// handshake can log anything, and registers it here. So:
///
/// 1. `register(clientRandom:)` when the ClientHello random is seen;
/// 2. the callback turns that connection's `EXPORTER_SECRET` into the binding at once and
///    keeps only the binding (the secret is never stored, never logged);
/// 3. `take(clientRandom:)` after the handshake removes the entry and returns the binding.
///    A connection that closes earlier calls `cancel` instead.
///
/// The random is the client's choice, so two connections may claim the same one (a replay,
/// or an attacker who saw it go by). Neither can then tell whose secret arrived, so such an
/// entry is poisoned and gets no binding: the connection offers `tls-server-end-point` only.
/// Lines for randoms nobody registered (s2s, HTTPS with the same context) are dropped.
public final class TLSExporterTable: Sendable {
    private enum Entry {
        case waiting
        case binding([UInt8])
        case poisoned
    }

    private let entries = Mutex<[[UInt8]: Entry]>([:])

    public init() {}

    /// For `TLSConfiguration.keyLogCallback`. Runs on the handshaking connection's event loop.
    public func keyLogged(_ line: ByteBuffer) {
        // Cheap refusal first: every handshake logs four or five lines, one of them ours.
        guard line.readableBytesView.starts(with: Self.exporterPrefix), let parsed = TLSExporterSecretLine(line.readableBytesView) else {
            return
        }
        let binding = TLSExporter.channelBinding(exporterSecret: parsed.secret)
        self.entries.withLock { entries in
            switch entries[parsed.clientRandom] {
            case .waiting:
                entries[parsed.clientRandom] = binding.map { .binding($0) } ?? .poisoned
            case .binding:
                // A second handshake with this random: which secret is whose is unknown.
                entries[parsed.clientRandom] = .poisoned
            case .poisoned, nil:
                break
            }
        }
    }

    /// Starts waiting for this connection's secret; false when another connection waits for
    /// the same random (both then go without a binding).
    @discardableResult
    public func register(clientRandom: [UInt8]) -> Bool {
        self.entries.withLock { entries in
            guard entries[clientRandom] == nil else {
                entries[clientRandom] = .poisoned
                return false
            }
            entries[clientRandom] = .waiting
            return true
        }
    }

    /// The binding once the handshake is complete, removing the entry; nil for TLS 1.2, a
    /// poisoned random, or a cipher suite whose hash is not known.
    public func take(clientRandom: [UInt8]) -> [UInt8]? {
        let entry = self.entries.withLock { $0.removeValue(forKey: clientRandom) }
        if case .binding(let binding) = entry { return binding }
        return nil
    }

    /// The connection closed before its handshake completed.
    public func cancel(clientRandom: [UInt8]) {
        _ = self.entries.withLock { $0.removeValue(forKey: clientRandom) }
    }

    /// Entries waiting: zero when no handshake is under way (leak tests).
    public var pendingCount: Int {
        self.entries.withLock { $0.count }
    }

    private static let exporterPrefix = Array("EXPORTER_SECRET ".utf8)
}
