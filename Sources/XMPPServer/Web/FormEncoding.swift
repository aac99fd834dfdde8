import Foundation

/// `application/x-www-form-urlencoded` (the WHATWG URL standard's), as queries and HTML forms
/// send it.
enum FormEncoding {
    /// The fields, decoded; a name given twice keeps its first value, and a field that does
    /// not decode is left out.
    static func decode(_ text: Substring) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? { text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), !name.isEmpty, fields[name] == nil else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) ?? "" : ""
        }
        return fields
    }
}
