import Foundation
import XMPPCore
import XMPPServer

/// XEP-0133 §4.23–§4.30: announcements, the message of the day, the welcome message and
/// shutting the server down.
extension AdminCommandKit {
    var serverCommands: [AdHocCommand] {
        let admin = self.admin
        let messages = self.messages
        let logger = self.context.logger
        return [
            self.command("announce", "Send an announcement to online users", form: { _ in
                [DataForm.Field("subject", type: "text-single", label: "Subject"), DataForm.Field("announcement", type: "text-multi", label: "Announcement")]
            }) { form, step in
                guard let body = Self.text(form, "announcement") else { return .failed("the announcement is empty") }
                let sent = admin.announce(subject: form.value("subject"), body: body, domain: step.domain)
                return .completed(nil, notes: [.info("sent to \(sent) sessions")])
            },
            self.messageCommand("set-motd", "Set the message of the day", kind: .motd, field: "motd", prefilled: false),
            self.messageCommand("edit-motd", "Edit the message of the day", kind: .motd, field: "motd", prefilled: true),
            self.immediate("delete-motd", "Delete the message of the day") { step in
                try await messages.setMessage(.motd, domain: step.domain, to: nil)
                return .completed(nil, notes: [.info("the message of the day was deleted")])
            },
            self.messageCommand("set-welcome", "Set the welcome message", kind: .welcome, field: "welcome", prefilled: true),
            self.immediate("delete-welcome", "Delete the welcome message") { step in
                try await messages.setMessage(.welcome, domain: step.domain, to: nil)
                return .completed(nil, notes: [.info("the welcome message was deleted")])
            },
            self.command("shutdown", "Shut down the service", form: { _ in
                [
                    DataForm.Field(
                        "delay", type: "list-single", label: "Time delay before shutting down", values: ["0"],
                        options: [("now", "0"), ("30 seconds", "30"), ("1 minute", "60"), ("2 minutes", "120"), ("5 minutes", "300")]),
                    DataForm.Field("announcement", type: "text-multi", label: "Announcement"),
                ]
            }) { form, step in
                let delay = min(max(Int(form.value("delay") ?? "0") ?? 0, 0), 300)
                if let body = Self.text(form, "announcement") { admin.announce(subject: nil, body: body) }
                logger.notice("shutdown requested by an administrator", metadata: ["admin": "\(step.requester.bare)", "delay": "\(delay)"])
                guard admin.requestShutdown(after: delay) else { return .failed("this server was not started in a way that can be stopped from here") }
                return .completed(nil, notes: [.info(delay == 0 ? "the server is shutting down" : "the server shuts down in \(delay) seconds")])
            },
        ]
    }

    /// Set or edit the message of the day or the welcome message: `subject` and the text.
    private func messageCommand(_ name: String, _ title: String, kind: ServerMessages.Kind, field: String, prefilled: Bool) -> AdHocCommand {
        let messages = self.messages
        return self.command(name, title, form: { step in
            var current: ServerMessages.Message?
            if prefilled { current = await messages.message(kind, domain: step.domain) }
            return [
                DataForm.Field("subject", type: "text-single", label: "Subject", values: current?.subject.map { [$0] } ?? []),
                DataForm.Field(field, type: "text-multi", label: title, values: current.map { $0.body.components(separatedBy: "\n") } ?? []),
            ]
        }) { form, step in
            guard let body = Self.text(form, field) else { return .failed("the message is empty") }
            let subject = form.value("subject").flatMap { $0.isEmpty ? nil : $0 }
            try await messages.setMessage(kind, domain: step.domain, to: ServerMessages.Message(subject: subject, body: body))
            return .completed(nil, notes: [.info("saved")])
        }
    }

    /// A text-multi field's lines as one text; nil when blank.
    static func text(_ form: DataForm, _ name: String) -> String? {
        let text = form.values(name).joined(separator: "\n")
        return text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : text
    }
}
