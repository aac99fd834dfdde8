import Foundation
import Testing
import XMPPCore
@testable import XMPPServerModules

@Suite("AdHocSessionTable: sessions of multi-stage commands (XEP-0050 §3.4, §4.6)")
struct AdHocSessionTableTests {
    let node = "http://jabber.org/protocol/admin#add-user"
    let admin = try! JID("admin@localhost/laptop")
    let start = Date(timeIntervalSince1970: 1_000_000)

    @Test("execute without a session starts the command; other actions without one are bad-sessionid")
    func startsOnlyWithExecute() {
        var table = AdHocSessionTable()
        #expect(table.resolve(node: self.node, sessionID: nil, action: nil, requester: self.admin, now: self.start) == .start)
        #expect(table.resolve(node: self.node, sessionID: nil, action: .execute, requester: self.admin, now: self.start) == .start)
        for action in [AdHocAction.next, .complete, .prev, .cancel] {
            #expect(table.resolve(node: self.node, sessionID: nil, action: action, requester: self.admin, now: self.start) == .refused(.badSessionID))
        }
    }

    @Test("an open session resumes with the chosen action; execute means the form's default")
    func resumesWithDefault() throws {
        var table = AdHocSessionTable()
        #expect(table.open("s1", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start) == nil)
        let resolution = table.resolve(node: self.node, sessionID: "s1", action: nil, requester: self.admin, now: self.start)
        guard case .resume(let session, let action) = resolution else {
            Issue.record("expected a resume, got \(resolution)")
            return
        }
        #expect(session.stage == 1)
        #expect(action == .complete)
        #expect(table.resolve(node: self.node, sessionID: "s1", action: .complete, requester: self.admin, now: self.start) == .resume(session, action: .complete))
    }

    @Test("an action the last form does not offer is bad-action, and the session stays")
    func badAction() {
        var table = AdHocSessionTable()
        _ = table.open("s1", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start)
        #expect(table.resolve(node: self.node, sessionID: "s1", action: .next, requester: self.admin, now: self.start) == .refused(.badAction))
        #expect(table.resolve(node: self.node, sessionID: "s1", action: .prev, requester: self.admin, now: self.start) == .refused(.badAction))
        #expect(table.count == 1)
    }

    @Test("another requester, another node or an unknown id is bad-sessionid")
    func sessionBelongsToItsOwner() throws {
        var table = AdHocSessionTable()
        _ = table.open("s1", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start)
        let otherResource = try JID("admin@localhost/phone")
        #expect(table.resolve(node: self.node, sessionID: "s1", action: .complete, requester: otherResource, now: self.start) == .refused(.badSessionID))
        #expect(table.resolve(node: "other", sessionID: "s1", action: .complete, requester: self.admin, now: self.start) == .refused(.badSessionID))
        #expect(table.resolve(node: self.node, sessionID: "s2", action: .complete, requester: self.admin, now: self.start) == .refused(.badSessionID))
    }

    @Test("cancel ends the session; it cannot be continued afterwards")
    func cancel() {
        var table = AdHocSessionTable()
        _ = table.open("s1", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start)
        guard case .canceled(let session) = table.resolve(node: self.node, sessionID: "s1", action: .cancel, requester: self.admin, now: self.start) else {
            Issue.record("expected canceled")
            return
        }
        #expect(session.id == "s1")
        #expect(table.count == 0)
        #expect(table.resolve(node: self.node, sessionID: "s1", action: .complete, requester: self.admin, now: self.start) == .refused(.badSessionID))
    }

    @Test("a session left alone past its lifetime is session-expired, then forgotten")
    func expiry() {
        var table = AdHocSessionTable(lifetime: 60)
        _ = table.open("s1", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start)
        let later = self.start.addingTimeInterval(61)
        #expect(table.resolve(node: self.node, sessionID: "s1", action: .complete, requester: self.admin, now: later) == .refused(.sessionExpired))
        #expect(table.count == 0)
        #expect(table.resolve(node: self.node, sessionID: "s1", action: .complete, requester: self.admin, now: later) == .refused(.badSessionID))
    }

    @Test("each form moves the session on a stage and renews its lifetime")
    func stagesAdvance() {
        var table = AdHocSessionTable(lifetime: 60)
        _ = table.open("s1", node: self.node, owner: self.admin, actions: [.next], defaultAction: .next, now: self.start)
        let later = self.start.addingTimeInterval(50)
        #expect(table.open("s1", node: self.node, owner: self.admin, actions: [.prev, .complete], defaultAction: .complete, now: later) == nil)
        let resolution = table.resolve(node: self.node, sessionID: "s1", action: .execute, requester: self.admin, now: self.start.addingTimeInterval(100))
        guard case .resume(let session, let action) = resolution else {
            Issue.record("expected a resume, got \(resolution)")
            return
        }
        #expect(session.stage == 2)
        #expect(action == .complete)
    }

    @Test("sessions are bounded per requester and overall; expired ones make room")
    func bounded() throws {
        var table = AdHocSessionTable(maxSessions: 3, maxSessionsPerRequester: 2, lifetime: 60)
        #expect(table.open("a1", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start) == nil)
        #expect(table.open("a2", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start) == nil)
        #expect(table.open("a3", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start) == .tooManySessions)
        let other = try JID("root@localhost/desk")
        #expect(table.open("b1", node: self.node, owner: other, actions: [.complete], defaultAction: .complete, now: self.start) == nil)
        let third = try JID("ops@localhost/desk")
        #expect(table.open("c1", node: self.node, owner: third, actions: [.complete], defaultAction: .complete, now: self.start) == .tooManySessions)
        #expect(table.open("c1", node: self.node, owner: third, actions: [.complete], defaultAction: .complete, now: self.start.addingTimeInterval(61)) == nil)
        #expect(table.count == 1)
    }

    @Test("finishing a session forgets it")
    func finish() {
        var table = AdHocSessionTable()
        _ = table.open("s1", node: self.node, owner: self.admin, actions: [.complete], defaultAction: .complete, now: self.start)
        table.finish("s1")
        #expect(table.count == 0)
    }

    @Test("failures carry XEP-0050's stanza errors and application conditions")
    func failureErrors() {
        let cases: [(AdHocFailure, StanzaErrorCondition, String?)] = [
            (.malformedAction, .badRequest, "malformed-action"), (.badAction, .badRequest, "bad-action"),
            (.badSessionID, .badRequest, "bad-sessionid"), (.sessionExpired, .notAllowed, "session-expired"), (.tooManySessions, .resourceConstraint, nil),
        ]
        for (failure, condition, application) in cases {
            #expect(failure.stanzaError.condition == condition)
            #expect(failure.stanzaError.applicationCondition?.name == application)
            if application != nil { #expect(failure.stanzaError.applicationCondition?.namespace == "http://jabber.org/protocol/commands") }
        }
    }
}
