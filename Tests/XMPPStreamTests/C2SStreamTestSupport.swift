import XMPPCore
@testable import XMPPStream

/// The client's opening header the C2S machine tests start streams with.
let clientStreamHeader = StreamHeader(
    attributes: [Attribute(name: "to", value: "example.com"), Attribute(name: "version", value: "1.0")],
    contentNamespace: XMPPNamespace.client,
    declaredPrefixes: ["stream": XMPPNamespace.stream]
)

/// The elements a batch of C2S machine actions sends.
func sentElements(_ actions: [C2SStreamStateMachine.Action]) -> [Element] {
    actions.compactMap {
        if case .send(let element) = $0 { return element }
        return nil
    }
}
