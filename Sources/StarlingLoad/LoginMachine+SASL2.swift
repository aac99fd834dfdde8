import XMPPCore
import XMPPSASL

/// XEP-0388 SASL2 with XEP-0386 Bind 2, and XEP-0484 FAST tokens: the login a phone makes on
/// every reconnect. The server binds the resource inside the SASL exchange and does not restart
/// the stream, so `<success/>` means the session is ready.
extension LoginMachine {
    static let sasl2Namespace = "urn:xmpp:sasl:2"
    static let bind2Namespace = "urn:xmpp:bind:0"
    static let fastNamespace = "urn:xmpp:fast:0"
    static let fastMechanism = "HT-SHA-256-NONE"

    mutating func authenticateSASL2(_ features: Element) -> [Action] {
        guard let authentication = features.child(named: "authentication", namespace: Self.sasl2Namespace) else {
            return self.fail("the server does not offer SASL2")
        }
        let offered = authentication.children(named: "mechanism").map(\.text)
        let fastOffered =
            authentication.child(named: "inline", namespace: Self.sasl2Namespace)?
            .child(named: "fast", namespace: Self.fastNamespace)?.children(named: "mechanism").map(\.text) ?? []
        var extras = "<user-agent id='load-\(self.username)'><software>starling-load</software></user-agent>"
        extras += "<bind xmlns='\(Self.bind2Namespace)'><tag>\(self.resource)</tag></bind>"
        if self.profile == .fast {
            guard fastOffered.contains(Self.fastMechanism) else {
                return self.fail("the server does not offer FAST with \(Self.fastMechanism)")
            }
            if let token = self.fastToken {
                let initial = HTSHA256.initialResponse(username: self.username, token: token, channelBinding: [])
                self.state = .authenticatingSASL2(nil, fastToken: token)
                return [.send(Self.authenticate(Self.fastMechanism, initial: initial, extras: extras + "<fast xmlns='\(Self.fastNamespace)'/>"))]
            }
            extras += "<request-token xmlns='\(Self.fastNamespace)' mechanism='\(Self.fastMechanism)'/>"
        }
        guard offered.contains(self.mechanism.rawValue) else {
            return self.fail("the server does not offer \(self.mechanism.rawValue) over SASL2 (offers \(offered.joined(separator: " ")))")
        }
        let (initial, scram) = self.initialPasswordResponse()
        self.state = .authenticatingSASL2(scram, fastToken: nil)
        return [.send(Self.authenticate(self.mechanism.rawValue, initial: initial, extras: extras))]
    }

    mutating func receivedSASL2(_ element: Element, scram: SCRAMClient?, fastToken: String?) -> [Action] {
        guard element.namespace == Self.sasl2Namespace else { return self.fail("unexpected <\(element.name)/> during SASL2") }
        switch element.name {
        case "challenge":
            guard var client = scram, let challenge = Base64.decode(element.text) else { return self.fail("unexpected SASL2 challenge") }
            do {
                let response = try client.receivedServerFirst(challenge)
                self.state = .authenticatingSASL2(client, fastToken: nil)
                return [.send("<response xmlns='\(Self.sasl2Namespace)'>\(Base64.encode(response))</response>")]
            } catch {
                return self.fail("SCRAM: \(error)")
            }
        case "success":
            let additional = element.child(named: "additional-data", namespace: Self.sasl2Namespace).flatMap { Base64.decode($0.text) }
            if var client = scram {
                guard let additional else { return self.fail("SCRAM success without server signature") }
                do { try client.receivedServerFinal(additional) } catch { return self.fail("SCRAM: \(error)") }
            }
            if let fastToken, !HTSHA256.responderMatches(additional ?? [], token: fastToken, channelBinding: []) {
                return self.fail("the server's FAST Responder hash is wrong")
            }
            guard element.child(named: "bound", namespace: Self.bind2Namespace) != nil else {
                return self.fail("SASL2 success without a Bind 2 <bound/>")
            }
            var actions: [Action] = []
            if let token = element.child(named: "token", namespace: Self.fastNamespace)?[attribute: "token"] {
                actions.append(.issuedToken(token))
            }
            self.state = .finished
            return actions + [.ready(initialPresence: "<presence/>")]
        case "failure":
            let condition = element.elements.first { $0.namespace == XMPPNamespace.sasl }?.name ?? "no condition"
            return self.fail("SASL2 authentication failed: \(condition)")
        default:
            return self.fail("unexpected <\(element.name)/> during SASL2")
        }
    }

    private static func authenticate(_ mechanism: String, initial: [UInt8], extras: String) -> String {
        "<authenticate xmlns='\(Self.sasl2Namespace)' mechanism='\(mechanism)'><initial-response>\(Base64.encode(initial))</initial-response>\(extras)</authenticate>"
    }
}
