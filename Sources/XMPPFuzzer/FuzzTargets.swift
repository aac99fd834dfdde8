import Foundation
import XMPPCore
import XMPPSASL
import XMPPStream

/// libFuzzer targets, chosen with STARLING_FUZZ_TARGET (parser, jid, sasl, sasl2, dispatcher).
/// A crash, a trap or a hang is a finding; thrown errors are the expected answer to bad input.
enum FuzzTargets {
    static let selected: String = ProcessInfo.processInfo.environment["STARLING_FUZZ_TARGET"] ?? "parser"

    static func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        switch self.selected {
        case "jid": self.jid(bytes)
        case "sasl": self.sasl(bytes)
        case "sasl2": self.sasl2(bytes)
        case "dispatcher": self.dispatcher(bytes)
        default: self.parser(bytes)
        }
    }

    /// The stream parser, fed in two pieces split where the first byte says.
    static func parser(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let first = bytes.first else { return }
        let split = min(Int(first), bytes.count)
        var parser = XMLStreamParser(limits: XMLParserLimits(maxStanzaBytes: 65_536))
        for piece in [bytes[..<split], bytes[split...]] {
            parser.feed(piece)
            while let event = try? parser.nextEvent() {
                if case .element(let element) = event {
                    _ = XMLSerializer.stream(contentNamespace: XMPPNamespace.client).string(element)
                }
            }
        }
    }

    /// Address preparation and the username rules.
    static func jid(_ bytes: UnsafeBufferPointer<UInt8>) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let jid = try? JID(text) {
            _ = try? JID(jid.description)
            _ = jid.bare
        }
        _ = try? UsernamePolicy.validate(text)
        _ = UsernamePolicy.confusableSkeleton(text)
        _ = try? PRECIS.opaqueString(text)
    }

    /// SCRAM and PLAIN messages: client-first, then client-final, from one input split at a NUL.
    static func sasl(_ bytes: UnsafeBufferPointer<UInt8>) {
        let input = Array(bytes)
        let parts = input.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let credentials = SCRAMCredentials(hash: .sha256, salt: [1, 2, 3, 4], iterations: 1, storedKey: Array(repeating: 7, count: 32), serverKey: Array(repeating: 9, count: 32))
        for mechanism in [SASLMechanismName.scramSHA256, .scramSHA256Plus] {
            var server = SCRAMServer(
                mechanism: mechanism, channelBinding: ChannelBindingContext(available: [.tlsServerEndPoint: [1, 2]], plusAdvertised: true),
                serverNonce: "fuzz")
            if case .fetchCredentials = server.receivedClientFirst(Array(parts[0])) {
                _ = server.credentialsFetched(credentials)
                _ = server.receivedClientFinal(parts.count > 1 ? Array(parts[1]) : [])
            }
        }
        _ = try? PLAINMessage(parsing: input)
        var client = SCRAMClient(hash: .sha1, username: "user", password: "pencil", clientNonce: "n", minimumIterations: 1, maximumIterations: 10_000)
        _ = client.clientFirstMessage()
        if let final = try? client.receivedServerFirst(Array(parts[0])), !final.isEmpty {
            _ = try? client.receivedServerFinal(parts.count > 1 ? Array(parts[1]) : [])
        }
        _ = Base64.decode(String(decoding: input, as: UTF8.self))
    }

    /// XEP-0388 `<authenticate/>` and what follows it (responses, Bind 2, inline resumption,
    /// FAST tokens, upgrade tasks) through a c2s machine that has TLS with both channel
    /// bindings: every request the machine makes is answered as a server with that account would.
    static func sasl2(_ bytes: UnsafeBufferPointer<UInt8>) {
        var parser = XMLStreamParser(limits: XMLParserLimits(maxStanzaBytes: 65_536))
        parser.feed(Array("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".utf8))
        parser.feed(bytes)
        var machine = C2SStreamStateMachine(policy: C2SNegotiationPolicy(hostedDomains: ["localhost"]), directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [.tlsServerEndPoint: Array(repeating: 3, count: 32), .tlsExporter: Array(repeating: 5, count: 32)])
        var header = StreamHeader(contentNamespace: XMPPNamespace.client)
        header.attributes = [Attribute(name: "to", value: "localhost"), Attribute(name: "version", value: "1.0")]
        _ = machine.streamOpened(header, streamID: "1")
        while let event = try? parser.nextEvent(), !machine.isClosed {
            guard case .element(let element) = event else { continue }
            if element.name == "authenticate" { _ = SASL2.parseAuthenticate(element) }
            var pending = machine.elementReceived(element)
            // Answering an action may produce more; a login needs only a few such turns.
            for _ in 0..<8 where !pending.isEmpty {
                pending = pending.flatMap { self.answer($0, machine: &machine) }
            }
        }
    }

    /// What the server's stream would tell the machine after carrying out `action`.
    private static func answer(_ action: C2SStreamStateMachine.Action, machine: inout C2SStreamStateMachine) -> [C2SStreamStateMachine.Action] {
        switch action {
        case .fetchSCRAMCredentials(_, let hash):
            return machine.credentialsFetched(try? SCRAMCredentials.derive(password: "pencil", hash: hash, iterations: 1))
        case .verifyPlainPassword(_, let password):
            return machine.plainPasswordVerified(password == "pencil")
        case .bindInline(_, let account, _):
            guard let jid = try? JID("\(account.bare)/fuzz") else { return machine.inlineBindFailed(StanzaError(.badRequest)) }
            return machine.inlineBound(jid, streamManagement: nil, extensions: [])
        case .resumeInline:
            return machine.inlineResumeFailed()
        case .verifyFASTToken(let attempt):
            // Every token is taken (a count of 7 as expired), so inputs reach success, rotation and binding.
            let responder = HTSHA256.responderHash(key: Array(repeating: 1, count: 32), channelBinding: attempt.channelBinding)
            return machine.fastTokenVerified(attempt.count == 7 ? .expired : .accepted(responder: responder, rotationDue: attempt.count == 2))
        case .issueFASTToken:
            return machine.fastTokenIssued(FAST.IssuedToken(token: "secret-token:fast-fuzz", expiry: "2030-01-01T00:00:00Z"))
        case .findMissingSCRAMCredentials(_, let hashes):
            return machine.missingSCRAMCredentialsFound(hashes)
        case .addSCRAMCredentials:
            return machine.scramCredentialsAdded(true)
        default:
            return []
        }
    }

    /// Stanzas through the established c2s and s2s stream machines: addressing checks,
    /// error replies, stream management and client state elements.
    static func dispatcher(_ bytes: UnsafeBufferPointer<UInt8>) {
        var parser = XMLStreamParser(limits: XMLParserLimits(maxStanzaBytes: 65_536))
        parser.feed(Array("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".utf8))
        parser.feed(bytes)
        var c2s = self.establishedClientStream()
        var s2s = S2SInboundStateMachine(policy: S2SInboundPolicy(hostedDomains: ["localhost"], tlsRequired: false))
        var serverHeader = StreamHeader(contentNamespace: XMPPNamespace.server)
        serverHeader.attributes = [Attribute(name: "to", value: "localhost"), Attribute(name: "from", value: "remote.example"), Attribute(name: "version", value: "1.0")]
        _ = s2s.streamOpened(serverHeader, streamID: "s")
        _ = s2s.dialbackVerified(from: "remote.example", to: "localhost", valid: true)
        while let event = try? parser.nextEvent() {
            guard case .element(let element) = event else { continue }
            for action in c2s.elementReceived(element) {
                if case .route(let stanza) = action {
                    _ = stanza.errorReply(StanzaError(.serviceUnavailable))
                    _ = stanza.iqPayload
                    _ = stanza.to
                }
            }
            _ = s2s.elementReceived(element.relabeling(namespace: XMPPNamespace.client, to: XMPPNamespace.server))
            if c2s.isClosed { c2s = self.establishedClientStream() }
        }
    }

    static func establishedClientStream() -> C2SStreamStateMachine {
        var machine = C2SStreamStateMachine(policy: C2SNegotiationPolicy(hostedDomains: ["localhost"]), directTLS: true)
        _ = machine.tlsEstablished(channelBinding: [:])
        var header = StreamHeader(contentNamespace: XMPPNamespace.client)
        header.attributes = [Attribute(name: "to", value: "localhost"), Attribute(name: "version", value: "1.0")]
        _ = machine.streamOpened(header, streamID: "1")
        _ = machine.elementReceived(Element("auth", namespace: XMPPNamespace.sasl, attributes: [("mechanism", "PLAIN")], text: Base64.encode(PLAINMessage(username: "fuzz", password: "x").bytes)))
        _ = machine.plainPasswordVerified(true)
        _ = machine.streamOpened(header, streamID: "2")
        _ = machine.elementReceived(Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "b")], children: [Element(name: "bind", namespace: XMPPNamespace.bind)]))
        if let jid = try? JID("fuzz@localhost/r") { _ = machine.resourceBound(jid) }
        return machine
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTargets.run(UnsafeBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
/// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("XMPPFuzzer_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#else
/// Without libFuzzer (an ordinary build) the target replays the files it is given, so a
/// finding can be rerun under a debugger: `STARLING_FUZZ_TARGET=jid XMPPFuzzer crash-…`.
@main
struct ReplayInputs {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                continue
            }
            let bytes = [UInt8](data)
            bytes.withUnsafeBufferPointer { FuzzTargets.run($0) }
            print("replayed \(path)")
        }
    }
}
#endif
