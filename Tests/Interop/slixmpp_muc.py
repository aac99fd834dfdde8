"""Multi-User Chat (XEP-0045) against the server's MUC service with slixmpp's own xep_0045,
xep_0030 and xep_0004 plugins: alice creates a room (201 and 110, owner and moderator, the
room locked until configured), configures it through the owner form, the room's disco#info
and the service's disco#items show the configuration, bob joins (the occupant list before his
own presence, 110, real JIDs), groupchat messages reflected to everyone, a subject change, a
private message each way, a mediated invitation to carol, who joins, a kick (307) and a ban
(301) with reasons, the outcast list with its reason (MUC_LIST_REASONS=0: without it), a
banned user kept out, the kicked user back with the discussion history, and the room
destroyed with a reason that every occupant sees.

Usage: slixmpp_muc.py HOST PORT CA_FILE [DOMAIN]
Accounts alice@, bob@ and carol@DOMAIN (default localhost) must exist with passwords
<name>-pass; the MUC service is conference.DOMAIN. On a failure it names the step, prints the
last stanzas every client sent and received, and exits non-zero. INTEROP_DEBUG=1 logs every
stanza as it goes.
"""
import asyncio
import os
import sys

import slixmpp
from interop_checks import begin, check, progress, run
from interop_client import InteropClient
from slixmpp.exceptions import IqError, PresenceError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

HOST, PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
DOMAIN = sys.argv[4] if len(sys.argv) > 4 else "localhost"
SERVICE = f"conference.{DOMAIN}"
ROOM = slixmpp.JID(f"interop@{SERVICE}")
TIMEOUT = 30
# The outcast list must carry the reason given with the ban. XEP-0045 shows it in its example
# but requires only 'affiliation' and 'jid' (9.2), and Prosody 0.12 leaves it out: the run
# against Prosody sets MUC_LIST_REASONS=0, which checks the list without the reason.
LIST_REASONS = os.environ.get("MUC_LIST_REASONS", "1") != "0"
NS_MUC = "http://jabber.org/protocol/muc"
NS_USER = "http://jabber.org/protocol/muc#user"
NS_ADMIN = "http://jabber.org/protocol/muc#admin"
NS_ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"


def occupant(nick):
    return slixmpp.JID(f"{ROOM}/{nick}")


def codes(stanza):
    return stanza["muc"]["status_codes"]


def item(stanza):
    """The muc#user <item/> of a presence, as (affiliation, role, jid or None, reason)."""
    x = stanza.xml.find(f"{{{NS_USER}}}x")
    element = None if x is None else x.find(f"{{{NS_USER}}}item")
    if element is None:
        return None
    reason = element.find(f"{{{NS_USER}}}reason")
    return (element.get("affiliation"), element.get("role"), element.get("jid"),
            None if reason is None else (reason.text or ""))


def user_x(stanza, child):
    """A child element of the muc#user <x/> of a stanza, or None."""
    x = stanza.xml.find(f"{{{NS_USER}}}x")
    return None if x is None else x.find(f"{{{NS_USER}}}{child}")


class Inbox:
    """Every presence and message a client receives, in order; take() removes and returns the
    first one that matches, waiting at most TIMEOUT seconds."""

    def __init__(self, owner):
        self.owner = owner
        self.stanzas = []
        self.received = []  # everything, in arrival order, never taken away
        self.arrived = asyncio.Event()

    def put(self, stanza):
        self.stanzas.append(stanza)
        self.received.append(stanza)
        self.arrived.set()

    def arrival(self, stanza):
        return next(index for index, seen in enumerate(self.received) if seen is stanza)

    def find(self, predicate):
        for index, stanza in enumerate(self.stanzas):
            if predicate(stanza):
                return index
        return None

    async def take(self, predicate, description):
        async def scan():
            for _ in range(10_000):
                index = self.find(predicate)
                if index is not None:
                    return self.stanzas.pop(index)
                self.arrived.clear()
                await self.arrived.wait()
            raise AssertionError(f"{self.owner}: too many stanzas without one that matches")
        try:
            return await asyncio.wait_for(scan(), TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.owner} timed out after {TIMEOUT} s waiting for: {description}") from None


class Client(InteropClient):
    def __init__(self, name):
        super().__init__(f"{name}@{DOMAIN}/muc", f"{name}-pass", CA_FILE,
                         plugins=("xep_0030", "xep_0004", "xep_0045"))
        self.name = name
        self.inbox = Inbox(name)
        # Raw handlers next to the plugin's: the plugin tells the roster to ignore room
        # presences, so slixmpp's 'presence' event would not show them all.
        self.register_handler(Callback(f"{name} presence", MatchXPath(f"{{{self.default_ns}}}presence"), self.inbox.put))
        self.register_handler(Callback(f"{name} message", MatchXPath(f"{{{self.default_ns}}}message"), self.inbox.put))

    async def login(self):
        await super().login(HOST, PORT)

    @property
    def muc(self):
        return self.plugin["xep_0045"]

    def presence_from(self, jid, kind=None):
        def match(stanza):
            return (stanza.name == "presence" and stanza["from"] == jid
                    and (kind is None or stanza["type"] == kind))
        return match

    def message_from(self, jid, kind, body=None):
        def match(stanza):
            return (stanza.name == "message" and stanza["from"] == jid and stanza["type"] == kind
                    and (body is None or stanza["body"] == body))
        return match


def available(stanza):
    return stanza["type"] not in ("unavailable", "error")


async def expect_join_error(client, nick, condition, description):
    """client asks to enter the room as nick and must get a presence error with condition."""
    client.muc.make_join_stanza(ROOM, nick, maxstanzas=0).send()
    error = await client.inbox.take(client.presence_from(occupant(nick), "error"), description)
    check(error["error"]["condition"] == condition,
          f"{description}: the error is <{error['error']['condition']}/>, not <{condition}/>")


async def join(client, nick, description, history=0):
    """Enters the room with slixmpp's join_muc_wait, asking for at most `history` messages of
    discussion history; it waits for the self-presence (110) and then the subject, and keeps
    the history messages (delayed, from the room) that came before the subject. Returns
    (self-presence, subject message, occupant presences, history messages)."""
    try:
        return await client.muc.join_muc_wait(ROOM, nick, maxstanzas=history, timeout=TIMEOUT)
    except PresenceError as error:
        raise AssertionError(f"{description}: the room refused with <{error.condition}/>: {error.presence}") from None
    except asyncio.TimeoutError:
        raise AssertionError(f"{description}: no self-presence (status 110) and subject within {TIMEOUT} s") from None


async def main():
    alice, bob, carol = Client("alice"), Client("bob"), Client("carol")
    for client in (alice, bob, carol):
        await client.login()

    begin("disco#info on the MUC service")
    info = await alice.plugin["xep_0030"].get_info(jid=SERVICE, timeout=TIMEOUT)
    identities = {(category, kind) for category, kind, _lang, _name in info["disco_info"]["identities"]}
    check(("conference", "text") in identities, f"{SERVICE} has the identity conference/text: {identities}")
    check(NS_MUC in info["disco_info"]["features"], f"{SERVICE} has the feature {NS_MUC}")

    begin("alice creates the room")
    alice.muc.make_join_stanza(ROOM, "Alice", maxstanzas=0).send()
    created = await alice.inbox.take(alice.presence_from(occupant("Alice")), "alice's own presence in the new room")
    check(created["type"] != "error", f"the room refused to be created: {created}")
    check(created["to"] == alice.boundjid, f"the self-presence goes to alice's full JID, not {created['to']}")
    check({110, 201} <= codes(created), f"the creator's presence carries 110 and 201: {sorted(codes(created))}")
    check(not codes(created) - {100, 110, 170, 201}, f"no other status codes on creation: {sorted(codes(created))}")
    affiliation, role, _jid, _reason = item(created)
    check((affiliation, role) == ("owner", "moderator"), f"the creator is owner and moderator, not {affiliation}/{role}")

    begin("the new room is locked until configured")
    await expect_join_error(bob, "Bob", "item-not-found", "bob enters the locked room")

    begin("the owner gets the configuration form")
    form = await alice.muc.get_room_config(ROOM, timeout=TIMEOUT)
    fields = form.get_fields()
    check(form["type"] == "form", f"the owner query holds a form of type 'form', not {form['type']!r}")
    form_type = fields["FORM_TYPE"]["value"] if "FORM_TYPE" in fields else None
    check(form_type in (NS_ROOMCONFIG, [NS_ROOMCONFIG]), f"FORM_TYPE is {NS_ROOMCONFIG}, not {form_type!r}")
    wanted = {
        "muc#roomconfig_roomname": "Interop Room",
        "muc#roomconfig_roomdesc": "Where slixmpp meets the server",
        "muc#roomconfig_persistentroom": True,
        "muc#roomconfig_publicroom": True,
        "muc#roomconfig_membersonly": False,
        "muc#roomconfig_moderatedroom": False,
        "muc#roomconfig_whois": "anyone",
    }
    missing = [var for var in wanted if var not in fields]
    check(not missing, f"the form has the standard fields; missing: {missing}")
    # History length: XEP-0045's registered field is muc#maxhistoryfetch; Prosody and others
    # name it muc#roomconfig_historylength. Whichever the form has, one of them.
    history_fields = [var for var in ("muc#maxhistoryfetch", "muc#roomconfig_historylength") if var in fields]
    check(history_fields, f"the form has a history length field (muc#maxhistoryfetch or muc#roomconfig_historylength): {sorted(fields)}")
    for var in history_fields:
        wanted[var] = "15"
    whois_options = [option["value"] for option in fields["muc#roomconfig_whois"]["options"]]
    check("anyone" in whois_options, f"whois offers 'anyone': {whois_options}")

    begin("the owner submits the configuration form")
    # As a client with a form on screen would: every field back with its value, the changes in.
    for field in form.xml.findall("{jabber:x:data}field"):
        if field.get("type") == "fixed":
            form.xml.remove(field)
    for var, value in wanted.items():
        form.get_fields()[var]["value"] = value
    try:
        await alice.muc.set_room_config(ROOM, form, timeout=TIMEOUT)
    except IqError as error:
        raise AssertionError(f"the room refused the configuration: <{error.condition}/> {error.text}") from None
    check(True, "configuration accepted")

    begin("the configuration reads back")
    form = await alice.muc.get_room_config(ROOM, timeout=TIMEOUT)
    values = form.get_values()
    for var, value in wanted.items():
        got = values.get(var)
        if isinstance(value, bool):
            # A form may leave a false boolean without a <value/> (Prosody does): None is false.
            check(bool(got) is value, f"{var} reads back as {value}, not {got!r}")
        else:
            check(got == value, f"{var} reads back as {value!r}, not {got!r}")

    begin("disco#info on the room")
    info = await bob.plugin["xep_0030"].get_info(jid=ROOM, timeout=TIMEOUT)
    identities = info["disco_info"]["identities"]
    check(any(category == "conference" and kind == "text" for category, kind, _lang, _name in identities),
          f"the room has the identity conference/text: {identities}")
    check(any(name == "Interop Room" for _category, _kind, _lang, name in identities),
          f"the room's identity is named after muc#roomconfig_roomname: {identities}")
    features = set(info["disco_info"]["features"])
    for feature in (NS_MUC, "muc_persistent", "muc_public", "muc_open", "muc_unmoderated", "muc_nonanonymous", "muc_unsecured"):
        check(feature in features, f"the room has the feature {feature}: {sorted(features)}")
    for feature in ("muc_temporary", "muc_hidden", "muc_membersonly", "muc_moderated", "muc_semianonymous", "muc_passwordprotected"):
        check(feature not in features, f"the room does not have the feature {feature}: {sorted(features)}")

    begin("disco#items on the MUC service lists the public room")
    items = await bob.plugin["xep_0030"].get_items(jid=SERVICE, timeout=TIMEOUT)
    listed = {slixmpp.JID(jid): name for jid, _node, name in items["disco_items"]["items"]}
    check(ROOM in listed, f"{SERVICE} lists {ROOM}: {listed}")
    check(listed[ROOM] == "Interop Room", f"the listed room is named 'Interop Room', not {listed[ROOM]!r}")

    begin("bob joins")
    presence, subject, _occupants, _history = await join(bob, "Bob", "bob enters the configured room")
    check(presence["from"] == occupant("Bob") and presence["to"] == bob.boundjid,
          f"bob's self-presence is from {occupant('Bob')} to {bob.boundjid}: from={presence['from']} to={presence['to']}")
    check(110 in codes(presence), f"bob's self-presence carries 110: {sorted(codes(presence))}")
    check(not codes(presence) - {100, 110, 170}, f"no other status codes on entering: {sorted(codes(presence))}")
    check(item(presence)[:3] == ("none", "participant", str(bob.boundjid)),
          f"bob is none/participant with his full JID (whois anyone): {item(presence)}")
    check(subject["from"] == ROOM, f"with no subject set, the empty subject comes from the room's bare JID, not {subject['from']}")
    # join_muc_wait only takes a message with a <subject/> element; slixmpp reads an empty one as None.
    check(subject["subject"] in ("", None), f"the subject is empty: {subject['subject']!r}")
    # The occupant list comes first, then the new occupant's own presence (XEP-0045 7.2.2).
    own = await bob.inbox.take(bob.presence_from(occupant("Bob")), "bob's self-presence (seen by join_muc_wait)")
    alice_presence = await bob.inbox.take(lambda s: s.name == "presence" and s["from"] == occupant("Alice") and available(s),
                                          "alice's presence in bob's occupant list")
    check(bob.inbox.arrival(alice_presence) < bob.inbox.arrival(own), "alice's presence reached bob before bob's own (occupant list first)")
    check(item(alice_presence)[:3] == ("owner", "moderator", str(alice.boundjid)),
          f"bob sees alice as owner/moderator with her full JID: {item(alice_presence)}")
    check(110 not in codes(alice_presence), "alice's presence to bob does not carry 110")
    seen = await alice.inbox.take(alice.presence_from(occupant("Bob")), "bob's arrival, as alice sees it")
    check(available(seen) and seen["to"] == alice.boundjid, f"alice gets bob's available presence at her full JID: {seen}")
    check(item(seen)[:3] == ("none", "participant", str(bob.boundjid)), f"alice sees bob as none/participant with his full JID: {item(seen)}")
    check(110 not in codes(seen), "bob's presence to alice does not carry 110")

    begin("groupchat messages")
    for sender, nick in ((alice, "Alice"), (bob, "Bob")):
        body = f"hello from {nick}"
        sender.send_message(mto=ROOM, mbody=body, mtype="groupchat")
        for receiver in (alice, bob):
            message = await receiver.inbox.take(receiver.message_from(occupant(nick), "groupchat", body), f"{nick}'s groupchat message")
            check(message["to"] == receiver.boundjid, f"{receiver.name} gets {nick}'s message at the full JID, not {message['to']}")

    begin("subject change")
    alice.muc.set_subject(ROOM, "Interop subject")
    for receiver in (alice, bob):
        message = await receiver.inbox.take(
            lambda s: s.name == "message" and s["type"] == "groupchat" and s["subject"] == "Interop subject",
            "the new subject")
        check(message["from"] == occupant("Alice"), f"{receiver.name} sees the subject set by {occupant('Alice')}, not {message['from']}")
        check(message["body"] == "", f"the subject change has no body: {message['body']!r}")

    begin("private messages")
    bob.send_message(mto=occupant("Alice"), mbody="psst, alice", mtype="chat")
    message = await alice.inbox.take(alice.message_from(occupant("Bob"), "chat", "psst, alice"), "bob's private message")
    check(message["to"] == alice.boundjid, f"the private message reaches alice's full JID, not {message['to']}")
    alice.send_message(mto=occupant("Bob"), mbody="psst, bob", mtype="chat")
    message = await bob.inbox.take(bob.message_from(occupant("Alice"), "chat", "psst, bob"), "alice's private message")
    check(message["to"] == bob.boundjid, f"the private message reaches bob's full JID, not {message['to']}")

    begin("mediated invitation")
    alice.muc.invite(ROOM, f"carol@{DOMAIN}", reason="come and see")
    invitation = await carol.inbox.take(
        lambda s: s.name == "message" and user_x(s, "invite") is not None, "the invitation from the room")
    check(invitation["from"] == ROOM, f"the invitation comes from the room's bare JID, not {invitation['from']}")
    invite = user_x(invitation, "invite")
    check(slixmpp.JID(invite.get("from") or "").bare == alice.boundjid.bare,
          f"the invitation names alice as the inviter: from={invite.get('from')!r}")
    reason = invite.find(f"{{{NS_USER}}}reason")
    check(reason is not None and reason.text == "come and see", f"the invitation carries the reason: {invitation}")

    begin("carol accepts and joins")
    presence, subject, _occupants, _history = await join(carol, "Carol", "carol enters after the invitation")
    check(110 in codes(presence) and item(presence)[:2] == ("none", "participant"), f"carol is in as none/participant: {presence}")
    check(subject["subject"] == "Interop subject", f"carol gets the current subject: {subject['subject']!r}")
    check(subject["from"] == occupant("Alice"), f"the subject comes from the occupant who set it, not {subject['from']}")
    for receiver in (alice, bob):
        seen = await receiver.inbox.take(receiver.presence_from(occupant("Carol")), f"carol's arrival, as {receiver.name} sees it")
        check(available(seen), f"{receiver.name} sees carol arrive: {seen}")

    begin("alice kicks bob")
    try:
        await alice.muc.set_role(ROOM, "Bob", "none", reason="kick test", timeout=TIMEOUT)
    except IqError as error:
        raise AssertionError(f"the kick was refused: <{error.condition}/> {error.text}") from None
    gone = await bob.inbox.take(bob.presence_from(occupant("Bob"), "unavailable"), "bob's own unavailable presence after the kick")
    check(gone["to"] == bob.boundjid, f"the kick notice goes to bob's full JID, not {gone['to']}")
    check({110, 307} <= codes(gone), f"bob's kick notice carries 307 and 110: {sorted(codes(gone))}")
    check(item(gone)[:2] == ("none", "none"), f"bob's item is none/none after the kick: {item(gone)}")
    check(item(gone)[3] == "kick test", f"bob sees the reason 'kick test': {item(gone)[3]!r}")
    for receiver in (alice, carol):
        seen = await receiver.inbox.take(receiver.presence_from(occupant("Bob"), "unavailable"), f"bob's kick, as {receiver.name} sees it")
        check(307 in codes(seen) and 110 not in codes(seen), f"{receiver.name} sees 307 (and no 110): {sorted(codes(seen))}")
        check(item(seen)[1] == "none", f"{receiver.name} sees bob's role none: {item(seen)}")

    begin("alice bans carol")
    try:
        await alice.muc.set_affiliation(ROOM, "outcast", jid=f"carol@{DOMAIN}", reason="ban test", timeout=TIMEOUT)
    except IqError as error:
        raise AssertionError(f"the ban was refused: <{error.condition}/> {error.text}") from None
    gone = await carol.inbox.take(carol.presence_from(occupant("Carol"), "unavailable"), "carol's own unavailable presence after the ban")
    check({110, 301} <= codes(gone), f"carol's ban notice carries 301 and 110: {sorted(codes(gone))}")
    check(item(gone)[:2] == ("outcast", "none"), f"carol's item is outcast/none after the ban: {item(gone)}")
    check(item(gone)[3] == "ban test", f"carol sees the reason 'ban test': {item(gone)[3]!r}")
    seen = await alice.inbox.take(alice.presence_from(occupant("Carol"), "unavailable"), "carol's ban, as alice sees it")
    check(301 in codes(seen) and 110 not in codes(seen), f"alice sees 301 (and no 110): {sorted(codes(seen))}")
    check(item(seen)[:2] == ("outcast", "none"), f"alice sees carol as outcast/none: {item(seen)}")

    begin("the outcast list")
    query = alice.make_iq_get(NS_ADMIN, ito=ROOM)
    query["mucadmin_query"]["item"]["affiliation"] = "outcast"
    result = await query.send(timeout=TIMEOUT)
    outcasts = [(str(entry["jid"]), entry["affiliation"], entry["reason"]) for entry in result["mucadmin_query"]]
    if LIST_REASONS:
        check(outcasts == [(f"carol@{DOMAIN}", "outcast", "ban test")], f"the outcast list is carol with the reason 'ban test': {outcasts}")
    else:
        check([entry[:2] for entry in outcasts] == [(f"carol@{DOMAIN}", "outcast")], f"the outcast list is carol: {outcasts}")

    begin("a banned user cannot enter")
    await expect_join_error(carol, "Carol", "forbidden", "carol enters after the ban")

    begin("bob comes back after the kick")
    presence, subject, _occupants, history = await join(bob, "Bob", "bob enters again after the kick", history=10)
    check(110 in codes(presence), f"bob is back: {presence}")
    # Discussion history (XEP-0045 7.2.15): before the subject, delayed, from the room, in
    # order, with the senders' occupant JIDs; no private message in it.
    check([(str(m["from"]), m["body"]) for m in history] == [(str(occupant("Alice")), "hello from Alice"), (str(occupant("Bob")), "hello from Bob")],
          f"bob gets the two groupchat messages as history before the subject: {[(str(m['from']), m['body']) for m in history]}")
    check(all(m["delay"]["stamp"] is not None for m in history), "each history message carries a delay stamp")
    check(subject["subject"] == "Interop subject", f"bob gets the subject on entering again: {subject['subject']!r}")
    await alice.inbox.take(lambda s: s.name == "presence" and s["from"] == occupant("Bob") and available(s), "bob back, as alice sees it")

    begin("alice destroys the room")
    try:
        await alice.muc.destroy(ROOM, reason="interop over", timeout=TIMEOUT)
    except IqError as error:
        raise AssertionError(f"destroying was refused: <{error.condition}/> {error.text}") from None
    for receiver, nick in ((bob, "Bob"), (alice, "Alice")):
        gone = await receiver.inbox.take(receiver.presence_from(occupant(nick), "unavailable"), f"{receiver.name}'s removal as the room is destroyed")
        destroy = user_x(gone, "destroy")
        check(destroy is not None, f"{receiver.name}'s removal carries <destroy/>: {gone}")
        reason = destroy.find(f"{{{NS_USER}}}reason")
        check(reason is not None and reason.text == "interop over", f"{receiver.name} sees the reason 'interop over': {gone}")
        check(item(gone)[1] == "none", f"{receiver.name}'s role is none: {item(gone)}")
    try:
        await bob.plugin["xep_0030"].get_info(jid=ROOM, timeout=TIMEOUT)
        check(False, "the destroyed room no longer answers disco#info")
    except IqError as error:
        # item-not-found (no such room), or gone (Prosody keeps a tombstone of a destroyed room).
        check(error.condition in ("item-not-found", "gone"), f"disco#info on the destroyed room is item-not-found or gone, not <{error.condition}/>")

    for client in (alice, bob, carol):
        client.disconnect()
    print(f"slixmpp MUC interop ({SERVICE}): {progress.passed} passed, 0 failed")


run(main, "slixmpp MUC interop")
