import Foundation
import XMPPCore
import XMPPServer

/// The page an invitation link opens (XEP-0401 §5): which app to install, and a button that
/// hands the `xmpp:` URI to it. No script, no outside resources; the token is in the path, so
/// the page is neither cached nor sent on as a referrer.
enum InvitationLandingPage {
    static let clients: [(name: String, platforms: String, url: String)] = [
        ("Conversations", "Android", "https://conversations.im/"),
        ("Monal", "iPhone, iPad and Mac", "https://monal-im.org/"),
        ("Gajim", "Windows and Linux", "https://gajim.org/"),
        ("Dino", "Linux", "https://dino.im/"),
    ]

    static func answer(_ request: ModuleHTTPRequest, store: InvitationStore, hosts: Set<String>) async -> ModuleHTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            var headers = ModuleHTTPHeaders()
            headers.add("Allow", "GET, HEAD")
            return ModuleHTTPResponse(status: 405, headers: headers)
        }
        let presented = String(request.path.dropFirst(InvitationLinks.landingPrefix.count))
        let found: Result<Invitation, InvitationRefusal>? = try? await store.check(presented, domains: hosts)
        guard let token = InvitationToken(parsing: presented), case .success(let invitation) = found else {
            let reason = found == .failure(.expired) ? "This invitation has expired." : "This invitation is not valid: it may have been used already, or mistyped."
            return self.page(status: 404, title: "Invitation not valid", body: "<p>\(self.escape(reason)) Ask whoever sent it for a new one.</p>", head: request.method == "HEAD")
        }
        let uri = InvitationLinks.uri(invitation, token: token)
        let who = invitation.inviter.map { "<strong>\(self.escape($0))</strong> invites you to chat" } ?? "You are invited to make an account"
        var body = "<h1>\(who) on \(self.escape(invitation.domain))</h1>"
        body += "<p>Chat here uses XMPP, an open standard: pick an app for your device, install it, then come back to this page.</p><ol>"
        for client in self.clients {
            body += "<li><a href=\"\(self.escape(client.url))\">\(self.escape(client.name))</a> for \(self.escape(client.platforms))</li>"
        }
        body += "</ol><p><a class=\"button\" href=\"\(self.escape(uri))\">Open the invitation in your app</a></p>"
        body += "<p>If the button does nothing, copy this into your app's “add account” or “add contact” screen:</p><pre>\(self.escape(uri))</pre>"
        let expiry = ISO8601DateFormatter().string(from: invitation.expiresAt)
        body += "<p class=\"small\">Valid until \(expiry).</p>"
        return self.page(status: 200, title: "Invitation to \(invitation.domain)", body: body, head: request.method == "HEAD")
    }

    private static func page(status: Int, title: String, body: String, head: Bool) -> ModuleHTTPResponse {
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
            <title>\(self.escape(title))</title><style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.5}\
            a.button{display:inline-block;background:#1a5fb4;color:#fff;padding:.6em 1.2em;border-radius:4px;text-decoration:none}\
            pre{white-space:pre-wrap;word-break:break-all;background:#f0f0f0;padding:.5em}.small{color:#555;font-size:.9em}</style>\
            </head><body>\(body)</body></html>
            """
        var headers = ModuleHTTPHeaders()
        headers.add("Content-Type", "text/html; charset=utf-8")
        headers.add("Cache-Control", "no-store")
        headers.add("Referrer-Policy", "no-referrer")
        headers.add("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
        headers.add("X-Content-Type-Options", "nosniff")
        let bytes = Array(html.utf8)
        if head { headers.add("Content-Length", String(bytes.count)) }
        return ModuleHTTPResponse(status: status, headers: headers, body: head ? .empty : .bytes(bytes))
    }

    private static func escape(_ text: String) -> String {
        var output = ""
        XMLSerializer.escape(text, attribute: true, into: &output)
        return output
    }
}
