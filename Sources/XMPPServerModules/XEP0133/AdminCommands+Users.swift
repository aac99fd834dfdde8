import Foundation
import XMPPCore
import XMPPServer

/// XEP-0133 §4.8–§4.21: what an administrator can learn about users: roster, last login,
/// statistics, and the numbers and lists of registered, disabled and online users.
extension AdminCommandKit {
    var userInformationCommands: [AdHocCommand] {
        let admin = self.admin
        let messages = self.messages
        return [
            self.command("get-user-roster", "Get a user's roster", form: { _ in [Self.accountField()] }) { form, _ in
                let address = try Self.account(in: form)
                do {
                    let items = try await admin.roster(of: address)
                    var result = Self.form(type: "result", fields: [DataForm.Field("accountjid", type: "jid-single", values: [address])])
                    result.payloads = [Element("query", namespace: XMPPNamespace.roster, children: items.map(RosterXML.element))]
                    return .completed(result)
                } catch {
                    return .failed("\(error)")
                }
            },
            self.command("get-user-lastlogin", "Get a user's last login time", form: { _ in [Self.accountField()] }) { form, _ in
                let address = try Self.account(in: form)
                do {
                    guard try await admin.accountExists(address) else { return .failed("there is no account \(address)") }
                    let account = try JID(address)
                    let lastLogin = await messages.lastLogin(of: account).map(XMPPDateTime.string) ?? "never"
                    return Self.result([
                        DataForm.Field("accountjid", type: "jid-single", values: [address]),
                        DataForm.Field("lastlogin", type: "text-single", label: "Last login", values: [lastLogin]),
                    ])
                } catch let error as AdminError {
                    return .failed("\(error)")
                }
            },
            self.command("user-stats", "Get user statistics", form: { _ in [Self.accountField()] }) { form, _ in
                let address = try Self.account(in: form)
                do {
                    let roster = try await admin.roster(of: address)
                    let sessions = try await admin.listSessions(of: address)
                    let usage = try await admin.storageUsage(of: address)
                    return Self.result([
                        DataForm.Field("accountjid", type: "jid-single", values: [address]),
                        DataForm.Field("rostersize", type: "text-single", label: "Roster size", values: [String(roster.count)]),
                        DataForm.Field("onlineresources", type: "text-multi", label: "Online resources", values: sessions.map(\.resource)),
                        DataForm.Field("ipaddresses", type: "text-multi", label: "IP addresses", values: sessions.compactMap(\.address)),
                        DataForm.Field("offlinemessages", type: "text-single", label: "Offline messages", values: [String(usage.offlineMessages)]),
                        DataForm.Field("archivedmessages", type: "text-single", label: "Archived messages", values: [String(usage.archivedMessages)]),
                    ])
                } catch {
                    return .failed("\(error)")
                }
            },
            self.immediate("get-registered-users-num", "Get the number of registered users") { _ in
                let count = try await admin.registeredAccountCount()
                return Self.result([DataForm.Field("registeredusersnum", label: "The number of registered users", values: [String(count)])])
            },
            self.immediate("get-disabled-users-num", "Get the number of disabled users") { _ in
                Self.result([DataForm.Field("disabledusersnum", label: "The number of disabled users", values: [String(admin.disabledAccounts.count)])])
            },
            self.immediate("get-online-users-num", "Get the number of online users") { step in
                Self.result([DataForm.Field("onlineusersnum", label: "The number of online users", values: [String(admin.onlineAccounts(domain: step.domain).count)])])
            },
            self.command("get-registered-users-list", "Get the list of registered users", form: { _ in [Self.maxItemsField] }) { form, step in
                let page = try await admin.listAccounts(domain: step.domain, limit: min(Self.maxItems(in: form), 1000))
                return Self.result([DataForm.Field("registereduserjids", type: "jid-multi", label: "The list of registered users", values: page.accounts.map(\.jid))])
            },
            self.command("get-disabled-users-list", "Get the list of disabled users", form: { _ in [Self.maxItemsField] }) { form, _ in
                let jids = Array(admin.disabledAccounts.prefix(Self.maxItems(in: form)))
                return Self.result([DataForm.Field("disableduserjids", type: "jid-multi", label: "The list of disabled users", values: jids)])
            },
            self.command("get-online-users-list", "Get the list of online users", form: { _ in [Self.maxItemsField] }) { form, step in
                let jids = Array(admin.onlineAccounts(domain: step.domain).prefix(Self.maxItems(in: form)))
                return Self.result([DataForm.Field("onlineuserjids", type: "jid-multi", label: "The list of all online users", values: jids)])
            },
        ]
    }
}
