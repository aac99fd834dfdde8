/// Rules for new account names, on top of the localpart preparation every address gets.
///
/// Most servers still prepare addresses with RFC 6122 stringprep (nodeprep); a name whose
/// PRECIS and nodeprep forms differ would mean different accounts on different servers, so it
/// is refused. Names that look like an existing one (same UTS #39 skeleton) are refused too.
public enum UsernamePolicy {
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case invalid(JIDError)
        case differsUnderNodeprep(precis: String, nodeprep: String?)

        public var description: String {
            switch self {
            case .invalid(let error):
                return error.description
            case .differsUnderNodeprep(let precis, let nodeprep):
                if let nodeprep {
                    return "'\(precis)' would be '\(nodeprep)' on servers that use RFC 6122 nodeprep; choose a name that is the same under both"
                }
                return "'\(precis)' is not a valid username on servers that use RFC 6122 nodeprep; choose another name"
            }
        }
    }

    /// The prepared localpart, or why it cannot be registered.
    public static func validate(_ input: String) throws(Problem) -> String {
        let prepared: String
        do {
            prepared = try JID.prepareLocalpart(input)
        } catch {
            throw .invalid(error)
        }
        let nodeprepped = ICU.nodeprep(input)
        guard let nodeprepped, nodeprepped == prepared else {
            throw .differsUnderNodeprep(precis: prepared, nodeprep: nodeprepped)
        }
        return prepared
    }

    /// The UTS #39 skeleton of a prepared localpart: two names with the same skeleton look alike.
    public static func confusableSkeleton(_ prepared: String) -> String {
        guard let skeleton = ICU.confusableSkeleton(prepared) else { return prepared }
        return ICU.lowercased(skeleton) ?? skeleton
    }
}
