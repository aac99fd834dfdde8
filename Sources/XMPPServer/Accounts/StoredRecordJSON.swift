import Foundation

/// How the server's own records (admin tokens, invitations) sit in module documents: JSON with
/// sorted keys and dates in whole seconds, so what is stored is what a later read compares.
enum StoredRecordJSON {
    static func encode(_ record: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(record), as: UTF8.self)
    }

    static func decode<Record: Decodable>(_ value: String) throws -> Record {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(Record.self, from: Data(value.utf8))
    }
}
