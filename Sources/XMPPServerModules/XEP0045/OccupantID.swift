import Crypto
import Foundation
import XMPPCore

/// XEP-0421 occupant ids: an HMAC of the room and the real bare JID under the room's secret,
/// so the same person keeps one id in a room across sessions and nicknames, other rooms
/// see a different one, and nobody can compute it from a JID.
enum OccupantID {
    static func make(secret: String, room: JID, bareJID: JID) -> String {
        let key = SymmetricKey(data: Data(secret.utf8))
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(room.bare)\u{0}\(bareJID.bare)".utf8), using: key)
        return Data(code).base64EncodedString()
    }

    /// A fresh room secret.
    static func newSecret() -> String {
        let key = SymmetricKey(size: .bits256)
        return key.withUnsafeBytes { Data($0).base64EncodedString() }
    }
}
