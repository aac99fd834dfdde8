import XMPPCore
import XMPPServer

/// XEP-0157: contact addresses for the service (`contact_info`), as the `serverinfo` form in
/// the server's disco#info, where clients and directories look for whom to tell about abuse.
public struct ContactAddressesModule: ServerModule {
    public let name = "contact_info"
    public static let formType = "http://jabber.org/network/serverinfo"

    public init() {}

    public func register(with registrar: ModuleRegistrar) {
        let contactInfo = registrar.context.configuration.contactInfo
        guard !contactInfo.isEmpty else { return }
        registrar.addServerInfoForm(Self.form(contactInfo))
    }

    /// The form, its fields in the XEP's order of kinds (`abuse-addresses` …).
    static func form(_ contactInfo: [ServerConfiguration.ContactKind: [String]]) -> Element {
        let fields = contactInfo.sorted { $0.key < $1.key }.map { DataForm.Field("\($0.key.rawValue)-addresses", type: "list-multi", values: $0.value) }
        return DataForm(type: "result", formType: Self.formType, fields: fields).element
    }
}
