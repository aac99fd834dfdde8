/// A backend that connects and migrates in the background after it is made (a database
/// server). Its operations wait for that by themselves; `opened()` is for callers that want
/// to know at once whether it worked, such as a server about to listen.
public protocol OpeningStorage: Sendable {
    /// Returns once the backend is usable; throws what kept it from opening.
    func opened() async throws
}
