import XMPPCore

/// What the server side knows about channel binding for this connection.
public struct ChannelBindingContext: Sendable, Hashable {
    /// Binding data the server can compute, by type (empty without TLS).
    public var available: [ChannelBindingType: [UInt8]]
    /// Whether -PLUS mechanisms were offered: a client answering `y` then signals a downgrade.
    public var plusAdvertised: Bool

    public init(available: [ChannelBindingType: [UInt8]] = [:], plusAdvertised: Bool = false) {
        self.available = available
        self.plusAdvertised = plusAdvertised
    }

    public static let none = ChannelBindingContext()
}

/// The server side of SCRAM (RFC 5802, RFC 7677) as a value-type state machine.
///
/// ```
/// receivedClientFirst → .fetchCredentials(username)
/// credentialsFetched  → .challenge(server-first)
/// receivedClientFinal → .succeed(server-final, username, authzid) | .fail(condition)
/// ```
public struct SCRAMServer: Sendable {
    public enum Action: Sendable, Hashable {
        case fetchCredentials(username: String)
        case challenge([UInt8])
        case succeed(additionalData: [UInt8], username: String, authzid: String?)
        case fail(SASLFailure)
    }

    private enum State: Sendable {
        case waitingForClientFirst
        case waitingForCredentials(ClientFirst)
        case waitingForClientFinal(ClientFirst, serverFirst: String, credentials: SCRAMCredentials, known: Bool)
        case finished
    }

    private struct ClientFirst: Sendable {
        var gs2Header: String
        var channelBinding: ChannelBindingType?
        var authzid: String?
        var username: String
        var clientNonce: String
        var bare: String
    }

    public let mechanism: SASLMechanismName
    private let hash: SCRAMHash
    private let channelBinding: ChannelBindingContext
    private let downgradeProtection: SCRAMDowngradeProtection?
    private let serverNonce: String
    private var state: State = .waitingForClientFirst

    /// `downgradeProtection` is what this stream advertised (mechanisms and XEP-0440 types);
    /// when given, server-first carries its XEP-0474 hash as `h=`.
    public init(
        mechanism: SASLMechanismName, channelBinding: ChannelBindingContext, downgradeProtection: SCRAMDowngradeProtection? = nil,
        serverNonce: String = SASLRandom.nonce()
    ) {
        self.mechanism = mechanism
        self.hash = mechanism.scramHash ?? .sha256
        self.channelBinding = channelBinding
        self.downgradeProtection = downgradeProtection
        self.serverNonce = serverNonce
    }

    // MARK: - Events

    public mutating func receivedClientFirst(_ message: [UInt8]) -> Action {
        guard case .waitingForClientFirst = self.state else { return self.fail(.malformedRequest) }
        guard let text = String(validating: message, as: UTF8.self) else { return self.fail(.malformedRequest) }
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return self.fail(.malformedRequest) }

        var bindingType: ChannelBindingType?
        switch parts[0] {
        case "n":
            if self.mechanism.usesChannelBinding { return self.fail(.malformedRequest) }
        case "y":
            // The client could bind but believes we cannot: if we offered -PLUS, someone
            // removed it from the feature list on the way (RFC 5802 §6).
            if self.mechanism.usesChannelBinding || self.channelBinding.plusAdvertised { return self.fail(.notAuthorized) }
        default:
            guard parts[0].hasPrefix("p="), self.mechanism.usesChannelBinding,
                let type = ChannelBindingType(rawValue: String(parts[0].dropFirst(2))),
                self.channelBinding.available[type] != nil
            else { return self.fail(self.mechanism.usesChannelBinding ? .notAuthorized : .malformedRequest) }
            bindingType = type
        }
        var authzid: String?
        if !parts[1].isEmpty {
            guard parts[1].hasPrefix("a="), let decoded = Self.decodeSASLName(parts[1].dropFirst(2)), !decoded.isEmpty else {
                return self.fail(.malformedRequest)
            }
            authzid = decoded
        }
        let bare = String(parts[2])
        let attributes = bare.split(separator: ",", omittingEmptySubsequences: false)
        guard attributes.count >= 2, attributes[0].hasPrefix("n="), attributes[1].hasPrefix("r="),
            let username = Self.decodeSASLName(attributes[0].dropFirst(2)), !username.isEmpty
        else { return self.fail(.malformedRequest) }
        let clientNonce = String(attributes[1].dropFirst(2))
        guard !clientNonce.isEmpty, clientNonce.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E && $0 != UInt8(ascii: ",") }) else {
            return self.fail(.malformedRequest)
        }
        // Mandatory extensions (m=) are not supported (RFC 5802 §5.1).
        if attributes.dropFirst(2).contains(where: { $0.hasPrefix("m=") }) { return self.fail(.malformedRequest) }

        let first = ClientFirst(
            gs2Header: String(parts[0]) + "," + String(parts[1]) + ",",
            channelBinding: bindingType,
            authzid: authzid,
            username: username,
            clientNonce: clientNonce,
            bare: bare
        )
        self.state = .waitingForCredentials(first)
        return .fetchCredentials(username: username)
    }

    /// The stored credentials for the username, or nil when there is no such account: the
    /// exchange then goes on with made-up credentials and fails at the end, so a client
    /// cannot tell unknown users from wrong passwords.
    public mutating func credentialsFetched(_ credentials: SCRAMCredentials?) -> Action {
        guard case .waitingForCredentials(let first) = self.state else { return self.fail(.malformedRequest) }
        let known: Bool
        let usable: SCRAMCredentials
        if let credentials, credentials.hash == self.hash {
            known = true
            usable = credentials
        } else {
            known = false
            usable = SCRAMCredentials(
                hash: self.hash,
                salt: Array(self.hash.hash(Array(first.username.utf8) + Self.processSecret).prefix(16)),
                iterations: SCRAMCredentials.defaultIterations,
                storedKey: SASLRandom.bytes(self.hash.outputByteCount),
                serverKey: SASLRandom.bytes(self.hash.outputByteCount)
            )
        }
        var serverFirst = "r=\(first.clientNonce)\(self.serverNonce),s=\(Base64.encode(usable.salt)),i=\(usable.iterations)"
        // An optional extension attribute after i= (RFC 5802 §7): clients that do not know it
        // skip it, and it is part of the AuthMessage both proofs sign.
        if let protection = self.downgradeProtection {
            serverFirst += ",h=\(protection.attributeValue(hash: self.hash))"
        }
        self.state = .waitingForClientFinal(first, serverFirst: serverFirst, credentials: usable, known: known)
        return .challenge(Array(serverFirst.utf8))
    }

    public mutating func receivedClientFinal(_ message: [UInt8]) -> Action {
        guard case .waitingForClientFinal(let first, let serverFirst, let credentials, let known) = self.state else {
            return self.fail(.malformedRequest)
        }
        guard let text = String(validating: message, as: UTF8.self), let proofStart = Self.lastProofIndex(in: message) else {
            return self.fail(.malformedRequest)
        }
        let withoutProof = String(decoding: message[..<proofStart], as: UTF8.self)
        guard text.utf8.count == message.count, let proof = Base64.decode(String(decoding: message[(proofStart + 3)...], as: UTF8.self)) else {
            return self.fail(.incorrectEncoding)
        }
        let attributes = withoutProof.split(separator: ",", omittingEmptySubsequences: false)
        guard attributes.count >= 2, attributes[0].hasPrefix("c="), attributes[1].hasPrefix("r=") else {
            return self.fail(.malformedRequest)
        }
        guard let bindingInput = Base64.decode(attributes[0].dropFirst(2)) else { return self.fail(.incorrectEncoding) }
        var expectedBinding = Array(first.gs2Header.utf8)
        if let type = first.channelBinding, let data = self.channelBinding.available[type] {
            expectedBinding += data
        }
        guard constantTimeEquals(bindingInput, expectedBinding) else { return self.fail(.notAuthorized) }
        guard attributes[1].dropFirst(2) == first.clientNonce + self.serverNonce else { return self.fail(.notAuthorized) }

        let authMessage = Array("\(first.bare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = self.hash.hmac(key: credentials.storedKey, authMessage)
        guard proof.count == clientSignature.count else { return self.fail(.notAuthorized) }
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard known, constantTimeEquals(self.hash.hash(clientKey), credentials.storedKey) else {
            return self.fail(.notAuthorized)
        }
        let serverSignature = self.hash.hmac(key: credentials.serverKey, authMessage)
        self.state = .finished
        return .succeed(additionalData: Array("v=\(Base64.encode(serverSignature))".utf8), username: first.username, authzid: first.authzid)
    }

    /// Salts for unknown users stay stable within a process but differ between servers.
    private static let processSecret = SASLRandom.bytes(16)

    private static func lastProofIndex(in message: [UInt8]) -> Int? {
        let marker: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: "p"), UInt8(ascii: "=")]
        guard message.count >= 3 else { return nil }
        var index = message.count - 3
        while index >= 0 {
            if message[index] == marker[0] && message[index + 1] == marker[1] && message[index + 2] == marker[2] {
                return index
            }
            index -= 1
        }
        return nil
    }

    private mutating func fail(_ failure: SASLFailure) -> Action {
        self.state = .finished
        return .fail(failure)
    }

    // MARK: - saslname (RFC 5802 §5.1)

    static func decodeSASLName<S: StringProtocol>(_ encoded: S) -> String? {
        var result = ""
        var iterator = encoded.makeIterator()
        while let character = iterator.next() {
            if character == "=" {
                let code = String([iterator.next(), iterator.next()].compactMap { $0 })
                switch code {
                case "2C": result.append(",")
                case "3D": result.append("=")
                default: return nil
                }
            } else if character == "," {
                return nil
            } else {
                result.append(character)
            }
        }
        return result
    }

    static func encodeSASLName(_ name: String) -> String {
        var result = ""
        for character in name {
            switch character {
            case ",": result += "=2C"
            case "=": result += "=3D"
            default: result.append(character)
            }
        }
        return result
    }
}
