import NIOCore
import Testing
import XMPPClient
import XMPPCore
import XMPPSASL
import XMPPServer
import XMPPServerModules
import XMPPStorage

@Suite("Ad-hoc commands (XEP-0050) and service administration (XEP-0133) with a real client")
struct AdHocAdminIntegrationTests {
    @Test("an admin sees the XEP-0133 commands; a non-admin sees none and is forbidden to run one")
    func onlyAdminsSeeCommands() async throws {
        try await withAdminServer { server in
            try await server.addUser("bob", password: "bob-password")
            let admin = try await server.login("admin", password: "admin-password")
            let bob = try await server.login("bob", password: "bob-password")
            let info = try await bob.iq("get", to: try JID("localhost"), payload: Element(name: "query", namespace: XMPPNamespace.discoInfo))
            let features = info.child(named: "query")?.children(named: "feature").compactMap { $0[attribute: "var"] } ?? []
            #expect(features.contains(commandsNamespace))

            let nodes = try await admin.commandNodes()
            for name in ["add-user", "delete-user", "disable-user", "reenable-user", "change-user-password", "get-user-roster", "get-user-lastlogin",
                "user-stats", "get-registered-users-num", "get-online-users-num", "get-online-users-list", "announce", "set-motd", "edit-motd",
                "delete-motd", "set-welcome", "shutdown"]
            {
                #expect(nodes.contains(adminNode + name), "missing \(name)")
            }
            // A non-admin sees only what every user may run: inviting a contact (XEP-0401).
            #expect(try await bob.commandNodes() == ["urn:xmpp:invite#invite"])
            let refused = try await bob.command(adminNode + "add-user")
            #expect(StanzaError(stanza: refused)?.condition == .forbidden)
            let nodeInfo = try await bob.iq(
                "get", to: try JID("localhost"), payload: Element("query", namespace: XMPPNamespace.discoInfo, attributes: [("node", adminNode + "add-user")]))
            #expect(StanzaError(stanza: nodeInfo)?.condition == .forbidden)
            await admin.close()
            await bob.close()
        }
    }

    @Test("add-user: a form, then the new account can log in")
    func addUser() async throws {
        try await withAdminServer { server in
            let admin = try await server.login("admin", password: "admin-password")
            let first = try await admin.command(adminNode + "add-user")
            #expect(first.commandStatus == "executing")
            let form = try #require(first.commandForm)
            #expect(form.formType == "http://jabber.org/protocol/admin")
            #expect(form.contains("accountjid") && form.contains("password") && form.contains("password-verify"))
            let actions = first.child(named: "command")?.child(named: "actions")
            #expect(actions?[attribute: "execute"] == "complete")

            let done = try await admin.runCommand("add-user", ["accountjid": ["carol@localhost"], "password": ["carol-password"], "password-verify": ["carol-password"]])
            #expect(done.commandStatus == "completed", "\(done)")
            let carol = try await server.login("carol", password: "carol-password")
            #expect(carol.jid.bare.description == "carol@localhost")

            let mismatch = try await admin.runCommand("add-user", ["accountjid": ["dave@localhost"], "password": ["one"], "password-verify": ["two"]])
            #expect(mismatch.commandStatus == "completed")
            #expect(mismatch.commandNotes.first?.hasPrefix("error:") == true)
            let taken = try await admin.runCommand("add-user", ["accountjid": ["carol@localhost"], "password": ["x-password"], "password-verify": ["x-password"]])
            #expect(taken.commandNotes.first?.hasPrefix("error:") == true)
            await admin.close()
            await carol.close()
        }
    }

    @Test("change-user-password: the old password stops working, the new one works")
    func changePassword() async throws {
        try await withAdminServer { server in
            try await server.addUser("bob", password: "old-password")
            let admin = try await server.login("admin", password: "admin-password")
            let done = try await admin.runCommand("change-user-password", ["accountjid": ["bob@localhost"], "password": ["new-password"]])
            #expect(done.commandStatus == "completed", "\(done)")
            await #expect {
                _ = try await server.login("bob", password: "old-password")
            } throws: { error in
                guard case XMPPClient.LoginError.authenticationFailed(let failure) = error else { return false }
                return failure == .notAuthorized
            }
            let bob = try await server.login("bob", password: "new-password")
            await bob.close()
            await admin.close()
        }
    }

    @Test("disable-user ends the sessions (policy-violation) and refuses logins (account-disabled) until reenable-user")
    func disableUser() async throws {
        try await withAdminServer { server in
            try await server.addUser("bob", password: "bob-password")
            let admin = try await server.login("admin", password: "admin-password")
            let bob = try await server.login("bob", password: "bob-password")
            let done = try await admin.runCommand("disable-user", ["accountjids": ["bob@localhost"]])
            #expect(done.commandStatus == "completed", "\(done)")
            #expect(try await expectStreamError(bob.connection) == .policyViolation)
            for mechanisms in [[SASLMechanismName.scramSHA256], [.plain]] {
                await #expect {
                    _ = try await server.login("bob", password: "bob-password", mechanisms: mechanisms)
                } throws: { error in
                    guard case XMPPClient.LoginError.authenticationFailed(let failure) = error else { return false }
                    return failure == .accountDisabled
                }
            }
            let disabled = try await admin.command(adminNode + "get-disabled-users-num")
            #expect(disabled.commandForm?.value("disabledusersnum") == "1")

            let enabled = try await admin.runCommand("reenable-user", ["accountjids": ["bob@localhost"]])
            #expect(enabled.commandStatus == "completed")
            let again = try await server.login("bob", password: "bob-password")
            await again.close()
            await admin.close()
        }
    }

    @Test("delete-user removes the account: it can no longer log in")
    func deleteUser() async throws {
        try await withAdminServer { server in
            try await server.addUser("bob", password: "bob-password")
            let admin = try await server.login("admin", password: "admin-password")
            let done = try await admin.runCommand("delete-user", ["accountjids": ["bob@localhost", "nobody@localhost"]])
            #expect(done.commandStatus == "completed")
            #expect(done.commandNotes == ["error: nobody@localhost: there is no account nobody@localhost"])
            #expect(try await server.server.storage.accounts.accountExists(try JID("bob@localhost")) == false)
            await admin.close()
        }
    }

    @Test("announce reaches online users as a headline from the server; online users are counted and listed")
    func announce() async throws {
        try await withAdminServer { server in
            try await server.addUser("bob", password: "bob-password")
            let admin = try await server.login("admin", password: "admin-password")
            let bob = try await server.login("bob", password: "bob-password")
            try await bob.sendPresence()
            _ = try await bob.stanzasUntilPing()
            let done = try await admin.runCommand("announce", ["subject": ["Maintenance"], "announcement": ["Back in five", "minutes."]])
            #expect(done.commandStatus == "completed", "\(done)")
            let headline = try await bob.receive(timeout: .seconds(5)) { $0.name == "message" && $0.stanzaType == "headline" }
            #expect(headline[attribute: "from"] == "localhost")
            #expect(headline.child(named: "subject")?.text == "Maintenance")
            #expect(headline.child(named: "body")?.text == "Back in five\nminutes.")

            let count = try await admin.command(adminNode + "get-online-users-num")
            #expect(count.commandForm?.value("onlineusersnum") == "2")
            let list = try await admin.runCommand("get-online-users-list", ["max_items": ["25"]])
            #expect(list.commandForm?.values("onlineuserjids") == ["admin@localhost", "bob@localhost"])
            let registered = try await admin.command(adminNode + "get-registered-users-num")
            #expect(registered.commandForm?.value("registeredusersnum") == "2")
            await admin.close()
            await bob.close()
        }
    }

    @Test("the message of the day greets each login after initial presence; the welcome message waits for new accounts")
    func messageOfTheDayAndWelcome() async throws {
        try await withAdminServer { server in
            try await server.addUser("bob", password: "bob-password")
            let admin = try await server.login("admin", password: "admin-password")
            let motd = try await admin.runCommand("set-motd", ["motd": ["Be nice."]])
            #expect(motd.commandStatus == "completed", "\(motd)")
            let edit = try await admin.command(adminNode + "edit-motd")
            #expect(edit.commandForm?.value("motd") == "Be nice.")
            let welcome = try await admin.runCommand("set-welcome", ["subject": ["Hello"], "welcome": ["Welcome aboard."]])
            #expect(welcome.commandStatus == "completed")

            let bob = try await server.login("bob", password: "bob-password")
            try await bob.sendPresence()
            let greeting = try await bob.awaitStanza("the message of the day") { $0.name == "message" && $0.stanzaType == "headline" }
            #expect(greeting.child(named: "body")?.text == "Be nice.")

            _ = try await admin.runCommand("add-user", ["accountjid": ["carol@localhost"], "password": ["carol-password"], "password-verify": ["carol-password"]])
            // An RFC 6120 bind: a Bind 2 session would catch up from the archive instead (XEP-0386 §3.2).
            let carol = try await server.login("carol", password: "carol-password", resource: "desk")
            try await carol.sendPresence()
            let first = try await carol.awaitStanza("the welcome message") { $0.name == "message" && $0.child(named: "subject")?.text == "Hello" }
            #expect(first.child(named: "body")?.text == "Welcome aboard.")

            let deleted = try await admin.command(adminNode + "delete-motd")
            #expect(deleted.commandStatus == "completed")
            let lastLogin = try await admin.runCommand("get-user-lastlogin", ["accountjid": ["bob@localhost"]])
            #expect(lastLogin.commandForm?.value("lastlogin").flatMap(XMPPDateTime.parse) != nil)
            await admin.close()
            await bob.close()
            await carol.close()
        }
    }

    @Test("get-user-roster and user-stats describe an account")
    func userInformation() async throws {
        try await withAdminServer { server in
            try await server.addUser("bob", password: "bob-password")
            let admin = try await server.login("admin", password: "admin-password")
            let bob = try await server.login("bob", password: "bob-password", resource: "desk")
            try await bob.send(
                Element("iq", namespace: XMPPNamespace.client, attributes: [("type", "set"), ("id", "r1")], children: [
                    Element("query", namespace: "jabber:iq:roster", children: [Element("item", namespace: "jabber:iq:roster", attributes: [("jid", "carol@localhost")])])
                ]))
            _ = try await bob.receive(timeout: .seconds(5)) { $0.id == "r1" }
            let roster = try await admin.runCommand("get-user-roster", ["accountjid": ["bob@localhost"]])
            let items = roster.child(named: "command")?.child(named: "x", namespace: "jabber:x:data")?.child(named: "query", namespace: "jabber:iq:roster")?.children(named: "item")
            #expect(items?.compactMap { $0[attribute: "jid"] } == ["carol@localhost"])
            let stats = try await admin.runCommand("user-stats", ["accountjid": ["bob@localhost"]])
            let form = try #require(stats.commandForm)
            #expect(form.value("rostersize") == "1")
            #expect(form.values("onlineresources") == ["desk"])
            #expect(form.values("ipaddresses") == ["127.0.0.1"])
            await admin.close()
            await bob.close()
        }
    }

    @Test("registered and disabled users are listed; end-user-session ends an account's sessions; the welcome message can be deleted")
    func listsAndSessions() async throws {
        try await withAdminServer { server in
            for name in ["bob", "carol"] { try await server.addUser(name, password: "\(name)-password") }
            let admin = try await server.login("admin", password: "admin-password")
            let registered = try await admin.runCommand("get-registered-users-list", ["max_items": ["25"]])
            #expect(registered.commandForm?.values("registereduserjids") == ["admin@localhost", "bob@localhost", "carol@localhost"])
            let limited = try await admin.runCommand("get-registered-users-list", ["max_items": ["2"]])
            #expect(limited.commandForm?.values("registereduserjids") == ["admin@localhost", "bob@localhost"])
            _ = try await admin.runCommand("disable-user", ["accountjids": ["carol@localhost"]])
            let disabled = try await admin.runCommand("get-disabled-users-list", ["max_items": ["none"]])
            #expect(disabled.commandForm?.values("disableduserjids") == ["carol@localhost"])

            let bob = try await server.login("bob", password: "bob-password")
            let ended = try await admin.runCommand("end-user-session", ["accountjids": ["bob@localhost"]])
            #expect(ended.commandNotes == ["info: sessions ended"])
            #expect(try await expectStreamError(bob.connection) == .policyViolation)

            _ = try await admin.runCommand("set-welcome", ["welcome": ["Hi."]])
            let deleted = try await admin.command(adminNode + "delete-welcome")
            #expect(deleted.commandStatus == "completed")
            let edit = try await admin.command(adminNode + "set-welcome")
            #expect(edit.commandForm?.values("welcome") == [])
            await admin.close()
        }
    }

    @Test("XEP-0050 errors: unknown node, malformed action, unknown session, wrong action; cancel ends a session")
    func protocolErrors() async throws {
        try await withAdminServer { server in
            let admin = try await server.login("admin", password: "admin-password")
            let unknown = try await admin.command(adminNode + "no-such-command")
            #expect(StanzaError(stanza: unknown)?.condition == .itemNotFound)
            let malformed = try await admin.command(adminNode + "add-user", action: "jump")
            #expect(StanzaError(stanza: malformed)?.condition == .badRequest)
            #expect(StanzaError(stanza: malformed)?.applicationCondition?.name == "malformed-action")
            let noSession = try await admin.command(adminNode + "add-user", action: "complete", sessionID: "made-up")
            #expect(StanzaError(stanza: noSession)?.applicationCondition?.name == "bad-sessionid")

            let first = try await admin.command(adminNode + "add-user")
            let sessionID = try #require(first.child(named: "command")?[attribute: "sessionid"])
            let next = try await admin.command(adminNode + "add-user", action: "next", sessionID: sessionID)
            #expect(StanzaError(stanza: next)?.applicationCondition?.name == "bad-action")
            let canceled = try await admin.command(adminNode + "add-user", action: "cancel", sessionID: sessionID)
            #expect(canceled.commandStatus == "canceled")
            let afterCancel = try await admin.command(adminNode + "add-user", action: "complete", sessionID: sessionID)
            #expect(StanzaError(stanza: afterCancel)?.applicationCondition?.name == "bad-sessionid")
            await admin.close()
        }
    }

    @Test("shutdown wakes whoever runs the server, and says so when nobody does")
    func shutdownRequest() async throws {
        try await withAdminServer { server in
            let admin = try await server.login("admin", password: "admin-password")
            let unattended = try await admin.runCommand("shutdown", ["delay": ["0"]])
            #expect(unattended.commandNotes.first?.hasPrefix("error:") == true)
            let woken = LockedBox(false)
            let waiter = Task {
                await server.server.waitForShutdownRequest()
                woken.withLock { $0 = true }
            }
            // The request succeeds only once somebody waits.
            try await waitUntil("a shutdown request is taken") { server.server.admin.requestShutdown(after: 0) }
            try await waitUntil("the waiter wakes") { woken.withLock { $0 } }
            await waiter.value
            await admin.close()
        }
    }
}
