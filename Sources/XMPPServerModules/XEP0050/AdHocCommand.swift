import XMPPCore
import XMPPStorage

/// One ad-hoc command (XEP-0050): its node, its name, who may see and run it, and what each
/// stage does.
public struct AdHocCommand: Sendable {
    public var node: String
    public var name: String
    /// Who may list and execute it; everyone else sees nothing and gets `forbidden`.
    public var isAllowed: @Sendable (JID) -> Bool
    public var run: @Sendable (AdHocStep) async throws -> AdHocOutcome

    public init(node: String, name: String, isAllowed: @escaping @Sendable (JID) -> Bool, run: @escaping @Sendable (AdHocStep) async throws -> AdHocOutcome) {
        self.node = node
        self.name = name
        self.isAllowed = isAllowed
        self.run = run
    }
}

/// One request to a command.
public struct AdHocStep: Sendable {
    public var requester: JID
    /// The hosted domain the command was sent to.
    public var domain: String
    /// 0 for the first request, then how many forms were sent before this one.
    public var stage: Int
    /// `execute` on the first request; afterwards the action chosen (`execute` already
    /// replaced by the form's default).
    public var action: AdHocAction
    /// The form the requester submitted (nil on the first request).
    public var form: DataForm?
}

/// A `<note/>` (XEP-0050 §3.4).
public struct AdHocNote: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case info, warn, error }
    public var kind: Kind
    public var text: String

    public init(_ kind: Kind, _ text: String) {
        self.kind = kind
        self.text = text
    }

    public static func info(_ text: String) -> AdHocNote { AdHocNote(.info, text) }
    public static func error(_ text: String) -> AdHocNote { AdHocNote(.error, text) }
}

/// What a stage of a command answers.
public enum AdHocOutcome: Sendable {
    /// A form to fill in; the session stays open for the answer.
    case form(DataForm, actions: Set<AdHocAction> = [.complete], defaultAction: AdHocAction = .complete, notes: [AdHocNote] = [])
    /// Done, perhaps with a result form and notes.
    case completed(DataForm? = nil, notes: [AdHocNote] = [])

    /// Done, but refused: the requester's input was wrong (shown as an error note, §3.4).
    public static func failed(_ text: String) -> AdHocOutcome { .completed(nil, notes: [.error(text)]) }
}

/// The commands modules add; the ad-hoc module serves whatever is here when asked.
public final class AdHocCommandRegistry: Sendable {
    private let commands = LockedBox<[AdHocCommand]>([])

    public init() {}

    /// Adds a command; one with the same node is replaced.
    public func add(_ command: AdHocCommand) {
        self.commands.withLock { commands in
            commands.removeAll { $0.node == command.node }
            commands.append(command)
        }
    }

    public func command(node: String) -> AdHocCommand? {
        self.commands.withLock { $0.first { $0.node == node } }
    }

    /// The commands this requester may see, in the order they were added.
    public func commands(for requester: JID) -> [AdHocCommand] {
        self.commands.withLock { $0 }.filter { $0.isAllowed(requester) }
    }
}
