import Foundation
import XMPPCore
import XMPPServer

/// Builds XEP-0133 commands: nodes, forms with the admin FORM_TYPE, and the usual shapes
/// (one form then a result; a result at once).
struct AdminCommandKit: Sendable {
    static let nodePrefix = "http://jabber.org/protocol/admin#"
    let context: ModuleContext
    let messages: ServerMessages

    var admin: AdminOperations { self.context.admin }

    /// A command that asks for one form and acts on the answer.
    func command(
        _ name: String, _ title: String, form: @escaping @Sendable (AdHocStep) async throws -> [DataForm.Field],
        submit: @escaping @Sendable (DataForm, AdHocStep) async throws -> AdHocOutcome
    ) -> AdHocCommand {
        let context = self.context
        return AdHocCommand(node: Self.nodePrefix + name, name: title, isAllowed: { context.isAdmin($0) }) { step in
            guard step.stage > 0 else { return .form(Self.form(type: "form", title: title, fields: try await form(step))) }
            guard let submitted = step.form, submitted.type == "submit" else {
                throw StanzaError(.badRequest, text: "the form was not submitted")
            }
            return try await submit(submitted, step)
        }
    }

    /// A command that answers at once.
    func immediate(_ name: String, _ title: String, run: @escaping @Sendable (AdHocStep) async throws -> AdHocOutcome) -> AdHocCommand {
        let context = self.context
        return AdHocCommand(node: Self.nodePrefix + name, name: title, isAllowed: { context.isAdmin($0) }, run: run)
    }

    static func form(type: String, title: String? = nil, fields: [DataForm.Field]) -> DataForm {
        DataForm(type: type, title: title, formType: ServiceAdministrationModule.formType, fields: fields)
    }

    static func result(_ fields: [DataForm.Field]) -> AdHocOutcome {
        .completed(self.form(type: "result", fields: fields))
    }

    static func accountField(_ label: String = "The account") -> DataForm.Field {
        DataForm.Field("accountjid", type: "jid-single", label: label)
    }

    static func accountsField(_ label: String) -> DataForm.Field {
        DataForm.Field("accountjids", type: "jid-multi", label: label)
    }

    /// The one account a form names.
    static func account(in form: DataForm) throws -> String {
        guard let address = form.value("accountjid")?.trimmingCharacters(in: .whitespaces), !address.isEmpty else {
            throw StanzaError(.badRequest, text: "accountjid is required")
        }
        return address
    }

    /// Runs the operation for each account a form lists; notes say what failed.
    static func forEachAccount(in form: DataForm, done: String, _ operation: (String) async throws(AdminError) -> Void) async -> AdHocOutcome {
        let addresses = form.values("accountjids").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !addresses.isEmpty else { return .failed("name at least one account in accountjids") }
        var failures: [AdHocNote] = []
        for address in addresses {
            do {
                try await operation(address)
            } catch {
                failures.append(.error("\(address): \(error)"))
            }
        }
        if failures.isEmpty { return .completed(nil, notes: [.info(done)]) }
        return .completed(nil, notes: failures)
    }

    /// XEP-0133's choice of how many items a list shows.
    static let maxItemsField = DataForm.Field(
        "max_items", type: "list-single", label: "Maximum number of items to show", values: ["25"],
        options: ["25", "50", "75", "100", "150", "200", "none"].map { ($0, $0) })

    static func maxItems(in form: DataForm) -> Int {
        guard let value = form.value("max_items"), value != "none" else { return Int.max }
        return Int(value).map { max($0, 1) } ?? 25
    }
}
