import Foundation
import XMPPCore
import XMPPServer

/// XEP-0133 §4.1–§4.7: creating, deleting, disabling and re-enabling accounts, ending their
/// sessions and changing their passwords.
extension AdminCommandKit {
    var accountCommands: [AdHocCommand] {
        let admin = self.admin
        return [
            self.command("add-user", "Add a user", form: { _ in
                [
                    Self.accountField("The Jabber ID for the account to be added"),
                    DataForm.Field("password", type: "text-private", label: "The password for this account"),
                    DataForm.Field("password-verify", type: "text-private", label: "Retype password"),
                ]
            }) { form, _ in
                let address = try Self.account(in: form)
                guard let password = form.value("password"), !password.isEmpty else { return .failed("a password is required") }
                if let verify = form.value("password-verify"), verify != password { return .failed("the passwords do not match") }
                do {
                    let account = try await admin.createAccount(address, password: password)
                    return .completed(nil, notes: [.info("\(account) was created")])
                } catch {
                    return .failed("\(error)")
                }
            },
            self.command("delete-user", "Delete users", form: { _ in [Self.accountsField("The Jabber ID(s) to delete")] }) { form, _ in
                await Self.forEachAccount(in: form, done: "deleted") { address throws(AdminError) in try await admin.deleteAccount(address) }
            },
            self.command("disable-user", "Disable users", form: { _ in [Self.accountsField("The Jabber ID(s) to disable")] }) { form, _ in
                await Self.forEachAccount(in: form, done: "disabled") { address throws(AdminError) in _ = try await admin.setDisabled(address, true) }
            },
            self.command("reenable-user", "Re-enable users", form: { _ in [Self.accountsField("The Jabber ID(s) to re-enable")] }) { form, _ in
                await Self.forEachAccount(in: form, done: "re-enabled") { address throws(AdminError) in _ = try await admin.setDisabled(address, false) }
            },
            self.command("end-user-session", "End user sessions", form: { _ in [Self.accountsField("The Jabber ID(s) whose sessions end")] }) { form, _ in
                await Self.forEachAccount(in: form, done: "sessions ended") { address throws(AdminError) in _ = try await admin.kick(address) }
            },
            self.command("change-user-password", "Change a user's password", form: { _ in
                [Self.accountField("The Jabber ID for this account"), DataForm.Field("password", type: "text-private", label: "The password for this account")]
            }) { form, _ in
                let address = try Self.account(in: form)
                guard let password = form.value("password"), !password.isEmpty else { return .failed("a password is required") }
                do {
                    try await admin.changePassword(address, password: password)
                    return .completed(nil, notes: [.info("the password was changed")])
                } catch {
                    return .failed("\(error)")
                }
            },
        ]
    }
}
