import ArgumentParser
import Dispatch
import Foundation
import XMPPStorage

typealias XMPPStorageBackendAlias = StorageBackend

enum PasswordInput {
    static func read(fromStdin: Bool, confirm: Bool) throws -> String {
        if fromStdin {
            guard let line = Swift.readLine(strippingNewline: true), !line.isEmpty else {
                throw CLIError("no password on standard input")
            }
            return line
        }
        guard isatty(STDIN_FILENO) != 0 else {
            throw CLIError("standard input is not a terminal: pass --password-stdin and pipe the password in")
        }
        guard let first = getpass("Password: ").map({ String(cString: $0) }), !first.isEmpty else {
            throw CLIError("the password is empty")
        }
        if confirm {
            guard let second = getpass("Again: ").map({ String(cString: $0) }), second == first else {
                throw CLIError("the passwords do not match")
            }
        }
        return first
    }
}

/// Waits for SIGINT or SIGTERM.
enum SignalWaiter {
    static func waitForTermination() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            var sources: [any DispatchSourceSignal] = []
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .main)
                source.setEventHandler {
                    if once.set() { continuation.resume() }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

extension SignalWaiter {
    /// Runs `action` on every SIGHUP, off the main queue.
    static func onHangUp(_ action: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler(handler: action)
        source.resume()
        SignalSources.keep([source])
    }
}

final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    func set() -> Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        if self.done { return false }
        self.done = true
        return true
    }
}

/// Signal sources live as long as the process; a source that is released stops delivering.
enum SignalSources {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    static func keep(_ new: [any DispatchSourceSignal]) {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.sources += new
    }
}
