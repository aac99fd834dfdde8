import XMPPServer

/// The modules a default server loads.
public enum DefaultModules {
    public static var all: [any ServerModule] {
        [PingModule()]
    }
}
