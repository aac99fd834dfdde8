import Logging
import XMPPStorage

/// The server's log level, changeable while it runs: every copy of the server's `Logger`
/// shares this one value, where a plain `Logger` keeps its level per copy.
final class RuntimeLogLevel: Sendable {
    private let level: LockedBox<Logger.Level>

    init(_ level: Logger.Level) {
        self.level = LockedBox(level)
    }

    var value: Logger.Level {
        get { self.level.withLock { $0 } }
        set { self.level.withLock { $0 = newValue } }
    }

    /// The same logger, its level read from here.
    func controlling(_ logger: Logger) -> Logger {
        var base = logger.handler
        // The wrapper decides; the handler underneath writes whatever reaches it.
        base.logLevel = .trace
        let handler = LevelControlledLogHandler(base: base, level: self)
        return Logger(label: logger.label) { _ in handler }
    }
}

/// Hands everything to the handler underneath, with the level taken from `RuntimeLogLevel`.
struct LevelControlledLogHandler: LogHandler {
    var base: any LogHandler
    let level: RuntimeLogLevel

    var logLevel: Logger.Level {
        get { self.level.value }
        set { self.level.value = newValue }
    }

    var metadata: Logger.Metadata {
        get { self.base.metadata }
        set { self.base.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { self.base.metadataProvider }
        set { self.base.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.base[metadataKey: key] }
        set { self.base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        self.base.log(event: event)
    }
}
