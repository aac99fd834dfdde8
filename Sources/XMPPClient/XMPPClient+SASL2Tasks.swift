import NIOCore
import XMPPCore
import XMPPSASL
import XMPPStream

/// XEP-0388 tasks on the client side: XEP-0480 SCRAM upgrades, the only tasks this client
/// knows. The server offers one only when the account lacks that hash, so a login usually
/// runs none; each that runs costs two round trips (`<next/>` → salt, hash → next answer).
extension XMPPClient {
    /// The `<upgrade/>` requests for `<authenticate/>`: every SCRAM upgrade the server lists.
    static func upgradeRequests(_ configuration: XMPPClientConfiguration, authentication: Element) -> [Element] {
        guard configuration.scramUpgrades else { return [] }
        return SCRAMUpgrade.upgradeElements(SCRAMUpgrade.parseUpgrades(authentication))
    }

    /// Runs the tasks from `first` (a `<continue/>`) on and returns the answer that ends them:
    /// `<success/>` or `<failure/>`.
    static func performTasks(
        _ connection: XMPPConnection, _ configuration: XMPPClientConfiguration, first: Element, roundTrips: inout Int
    ) async throws -> Element {
        var answer = first
        while answer.name == "continue" && answer.namespace == SASL2.namespace {
            let offered = answer.child(named: "tasks", namespace: SASL2.namespace)?.children(named: "task", namespace: SASL2.namespace).map(\.text) ?? []
            guard configuration.scramUpgrades, let hash = offered.lazy.compactMap({ SCRAMUpgrade.hash(forTask: $0) }).first else {
                // A task this client cannot do (a second factor …): the login cannot finish.
                try await connection.send(Element(name: "abort", namespace: SASL2.namespace))
                throw LoginError.authenticationFailed(.aborted)
            }
            try await connection.send(SCRAMUpgrade.next(hash))
            let data = try await connection.nextElement(timeout: configuration.timeout)
            roundTrips += 1
            guard let (salt, iterations) = SCRAMUpgrade.parseSaltData(data) else {
                throw LoginError.authenticationFailed(Self.failure(data))
            }
            // The same bounds as a SCRAM login: too few is weak, too many a hang.
            guard iterations >= SCRAMCredentials.minimumIterations else { throw LoginError.scram(.iterationCountTooLow(iterations)) }
            guard iterations <= SCRAMClient.defaultMaximumIterations else { throw LoginError.scram(.iterationCountTooHigh(iterations)) }
            let prepared: String
            do {
                prepared = try SASLPassword.prepare(configuration.password)
            } catch {
                throw LoginError.scram(.invalidPassword(error))
            }
            let saltedPassword = hash.saltedPassword(Array(prepared.utf8), salt: salt, iterations: iterations)
            try await connection.send(SCRAMUpgrade.hashData(saltedPassword: saltedPassword))
            answer = try await connection.nextElement(timeout: configuration.timeout)
            roundTrips += 1
        }
        return answer
    }
}
