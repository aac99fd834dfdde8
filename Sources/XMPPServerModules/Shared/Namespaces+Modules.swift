import XMPPCore

extension XMPPNamespace {
    public static let roster = "jabber:iq:roster"
    public static let rosterVersioning = "urn:xmpp:features:rosterver"
    public static let preApproval = "urn:xmpp:features:pre-approval"
    public static let version = "jabber:iq:version"
    public static let time = "urn:xmpp:time"
    public static let last = "jabber:iq:last"
    public static let vcard = "vcard-temp"
    public static let privateStorage = "jabber:iq:private"
    public static let blocking = "urn:xmpp:blocking"
    public static let blockingErrors = "urn:xmpp:blocking:errors"
    public static let privacy = "jabber:iq:privacy"
    public static let register = "jabber:iq:register"
    public static let registerFeature = "http://jabber.org/features/iq-register"
    public static let caps = "http://jabber.org/protocol/caps"
    public static let offline = "msgoffline"
    public static let dataForms = "jabber:x:data"
}

/// Keys of per-account documents shared between modules.
enum AccountDataKey {
    /// `<unix time>\n<status text>` of the moment the last session ended (RFC 6121 §4.3.2, XEP-0012).
    static let lastLogout = "presence.last-logout"
    static let vcard = "vcard-temp"
    static let blockList = "blocking.list"
    static let privacyLists = "privacy.lists"
    static func privateXML(_ namespace: String) -> String { "private:" + namespace }
}
