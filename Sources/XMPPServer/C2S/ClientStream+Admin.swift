/// What administrators see of a client's connection.
extension ClientStream {
    var connectionInfo: SessionConnectionInfo {
        let transport: AdminTransport =
            switch self.transport {
            case is WebSocketClientTransport: .websocket
            case is BOSHClientTransport: .bosh
            default: .tcp
            }
        return SessionConnectionInfo(
            address: self.transport.remoteAddress, transport: transport, encrypted: self.machine.isEncrypted, client: self.clientName)
    }
}
