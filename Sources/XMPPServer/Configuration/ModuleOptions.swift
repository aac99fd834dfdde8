import NIOConcurrencyHelpers

/// A value from a module's section of the configuration (`modules: {muc: {...}}`), kept as
/// written until the module that owns the section reads it with its own types.
public indirect enum ConfigValue: Sendable, Hashable {
    case null
    case scalar(String)
    case list([ConfigValue])
    case map([String: ConfigValue])
}

/// A module's options, read by the module with the types it wants. Every mistake names its
/// key's path (`modules.muc.max_occupants`), keys the module never asked for are reported as
/// unknown, and a value the module reads with a default may be written out as `null`.
public final class ModuleOptions: @unchecked Sendable {
    public let path: String
    private let values: [String: ConfigValue]
    private let lock = NIOLock()
    private var read: Set<String> = []
    private var errors: [ConfigurationError] = []

    init(path: String, values: [String: ConfigValue]) {
        self.path = path
        self.values = values
    }

    private func value(_ key: String) -> ConfigValue? {
        self.lock.withLock {
            self.read.insert(key)
            if case .null = self.values[key] { return nil }
            return self.values[key]
        }
    }

    private func fail(_ key: String, _ message: String) {
        self.lock.withLock { self.errors.append(ConfigurationError(path: "\(self.path).\(key)", message: message)) }
    }

    public func string(_ key: String) -> String? {
        guard let value = self.value(key) else { return nil }
        guard case .scalar(let text) = value else {
            self.fail(key, "expected a string")
            return nil
        }
        return text
    }

    /// A string that must pass `isValid` (a URL, a pattern); one that does not is reported
    /// as expected to be `expected` and read as absent.
    public func string(_ key: String, where isValid: (String) -> Bool, expected: String) -> String? {
        guard let text = self.string(key) else { return nil }
        guard isValid(text) else {
            self.fail(key, "expected \(expected)")
            return nil
        }
        return text
    }

    public func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let value = self.value(key) else { return fallback }
        switch value {
        case .scalar("true"): return true
        case .scalar("false"): return false
        default:
            self.fail(key, "expected true or false")
            return fallback
        }
    }

    public func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) -> Int {
        guard let value = self.value(key) else { return fallback }
        guard case .scalar(let text) = value, let number = Int(text), range.contains(number) else {
            self.fail(key, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            return fallback
        }
        return number
    }

    public func strings(_ key: String) -> [String]? {
        guard let value = self.value(key) else { return nil }
        guard case .list(let items) = value else {
            self.fail(key, "expected a list")
            return nil
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            guard case .scalar(let text) = item else {
                self.fail("\(key)[\(index)]", "expected a string")
                continue
            }
            result.append(text)
        }
        return result
    }

    /// A value of one of the listed words.
    public func choice(_ key: String, _ allowed: [String], default fallback: String) -> String {
        guard let text = self.string(key) else { return fallback }
        guard allowed.contains(text) else {
            self.fail(key, "expected one of \(allowed.joined(separator: ", "))")
            return fallback
        }
        return text
    }

    /// Mistakes in the values read, then keys nobody read.
    var problems: [ConfigurationError] {
        self.lock.withLock {
            let unknown = self.values.keys.filter { !self.read.contains($0) }.sorted().map { key in
                ConfigurationError(
                    path: "\(self.path).\(key)", message: "unknown key; known keys here are \(self.read.sorted().joined(separator: ", "))")
            }
            return self.errors + unknown
        }
    }
}
