"""Multi-User Chat across federation: a user of the local server creates a room on its MUC
service, a user of the peer server discovers the service and joins the room over s2s, and
groupchat messages go both ways; then the remote user leaves and the room is destroyed.

Usage: s2s_muc_check.py LOCAL_JID LOCAL_HOST REMOTE_JID REMOTE_HOST CA_FILE MUC_SERVICE
LOCAL_JID must be an account of the server whose MUC service is MUC_SERVICE (it creates the
room); REMOTE_JID an account of the peer. Both use the password 'interop-pass'; each client
connects to its own server with STARTTLS on port 5222 and trusts CA_FILE.
"""
import asyncio
import sys

import slixmpp
from interop_checks import begin, check, progress, run
from interop_client import InteropClient
from slixmpp.exceptions import IqError, PresenceError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

LOCAL_JID, LOCAL_HOST, REMOTE_JID, REMOTE_HOST, CA_FILE, SERVICE = sys.argv[1:7]
ROOM = slixmpp.JID(f"federation@{SERVICE}")
TIMEOUT = 60
NS_MUC = "http://jabber.org/protocol/muc"
NS_USER = "http://jabber.org/protocol/muc#user"
progress.verbose = True


def occupant(nick):
    return slixmpp.JID(f"{ROOM}/{nick}")


def item(stanza):
    x = stanza.xml.find(f"{{{NS_USER}}}x")
    element = None if x is None else x.find(f"{{{NS_USER}}}item")
    return None if element is None else (element.get("affiliation"), element.get("role"), element.get("jid"))


class Client(InteropClient):
    def __init__(self, jid, host):
        super().__init__(jid + "/interop", "interop-pass", CA_FILE, plugins=("xep_0030", "xep_0004", "xep_0045"))
        self.host = host
        self.nick = slixmpp.JID(jid).user
        self.stanzas = []
        self.arrived = asyncio.Event()
        for kind in ("presence", "message"):
            self.register_handler(Callback(f"muc-{kind}", MatchXPath(f"{{{self.default_ns}}}{kind}"), self._received))

    def _received(self, stanza):
        self.stanzas.append(stanza)
        self.arrived.set()

    async def login(self):
        await super().login(self.host, 5222, TIMEOUT)

    async def take(self, predicate, description):
        async def scan():
            for _ in range(10_000):
                for index, stanza in enumerate(self.stanzas):
                    if predicate(stanza):
                        return self.stanzas.pop(index)
                self.arrived.clear()
                await self.arrived.wait()
            raise AssertionError("too many stanzas without one that matches")
        try:
            return await asyncio.wait_for(scan(), TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.boundjid.bare} timed out after {TIMEOUT} s waiting for: {description}") from None


async def main():
    local, remote = Client(LOCAL_JID, LOCAL_HOST), Client(REMOTE_JID, REMOTE_HOST)
    await local.login()
    await remote.login()
    muc = local.plugin["xep_0045"]

    begin(f"{remote.boundjid.bare} discovers {SERVICE} over s2s")
    info = await remote.plugin["xep_0030"].get_info(jid=SERVICE, timeout=TIMEOUT)
    identities = {(category, kind) for category, kind, _lang, _name in info["disco_info"]["identities"]}
    check(("conference", "text") in identities and NS_MUC in info["disco_info"]["features"],
          f"{remote.boundjid.bare} sees {SERVICE} as conference/text with {NS_MUC}")

    begin(f"{local.boundjid.bare} creates {ROOM}")
    muc.make_join_stanza(ROOM, local.nick, maxstanzas=0).send()
    created = await local.take(lambda s: s.name == "presence" and s["from"] == occupant(local.nick), "the creator's self-presence")
    if created["type"] == "error":
        raise AssertionError(f"the room refused to be created: {created}")
    check({110, 201} <= created["muc"]["status_codes"], f"{ROOM} created (110 and 201): {sorted(created['muc']['status_codes'])}")
    # An instant room (XEP-0045 10.1.2): the owner accepts the defaults with an empty submit.
    query = local.make_iq_set(ito=ROOM)
    query["mucowner_query"]["form"]["type"] = "submit"
    try:
        await query.send(timeout=TIMEOUT)
    except IqError as error:
        raise AssertionError(f"the instant room was refused: <{error.condition}/> {error.text}") from None
    check(True, f"{ROOM} unlocked as an instant room")

    begin(f"{remote.boundjid.bare} joins {ROOM} over s2s")
    try:
        presence, _subject, _occupants, _history = await remote.plugin["xep_0045"].join_muc_wait(
            ROOM, remote.nick, maxstanzas=0, timeout=TIMEOUT)
    except PresenceError as error:
        raise AssertionError(f"the room refused {remote.boundjid.bare}: <{error.condition}/> {error.presence}") from None
    except asyncio.TimeoutError:
        raise AssertionError(f"no self-presence (110) and subject for {remote.boundjid.bare} within {TIMEOUT} s") from None
    check(presence["from"] == occupant(remote.nick) and presence["to"] == remote.boundjid and 110 in presence["muc"]["status_codes"],
          f"{remote.boundjid.bare} is in the room as {occupant(remote.nick)} (110, to its full JID)")
    check(item(presence)[:2] == ("none", "participant"), f"{remote.boundjid.bare} is none/participant: {item(presence)}")
    owner = await remote.take(lambda s: s.name == "presence" and s["from"] == occupant(local.nick) and s["type"] != "unavailable",
                              f"{local.nick}'s presence in the occupant list")
    check(item(owner)[:2] == ("owner", "moderator"), f"{remote.boundjid.bare} sees {local.nick} as owner/moderator: {item(owner)}")
    seen = await local.take(lambda s: s.name == "presence" and s["from"] == occupant(remote.nick), f"{remote.nick}'s arrival")
    check(seen["type"] != "unavailable" and item(seen)[:2] == ("none", "participant"),
          f"{local.boundjid.bare} sees {remote.nick} arrive as none/participant: {item(seen)}")
    # The owner is a moderator, who sees real JIDs in any room.
    check(slixmpp.JID(item(seen)[2] or "") == remote.boundjid, f"the moderator sees {remote.nick}'s full JID: {item(seen)[2]}")

    for sender, receivers in ((remote, (remote, local)), (local, (local, remote))):
        begin(f"groupchat message from {sender.boundjid.bare}")
        body = f"hello from {sender.boundjid.bare}"
        sender.send_message(mto=ROOM, mbody=body, mtype="groupchat")
        for receiver in receivers:
            message = await receiver.take(
                lambda s: s.name == "message" and s["type"] == "groupchat" and s["body"] == body,
                f"{sender.nick}'s groupchat message")
            check(message["from"] == occupant(sender.nick) and message["to"] == receiver.boundjid,
                  f"{receiver.boundjid.bare} gets '{body}' from {occupant(sender.nick)}: from={message['from']} to={message['to']}")

    begin(f"{remote.boundjid.bare} leaves")
    remote.plugin["xep_0045"].leave_muc(ROOM, remote.nick)
    gone = await remote.take(lambda s: s.name == "presence" and s["from"] == occupant(remote.nick) and s["type"] == "unavailable",
                             "the remote user's own unavailable presence")
    check(110 in gone["muc"]["status_codes"], f"{remote.boundjid.bare} gets its own unavailable presence (110)")
    await local.take(lambda s: s.name == "presence" and s["from"] == occupant(remote.nick) and s["type"] == "unavailable",
                     f"{remote.nick} leaving")
    check(True, f"{local.boundjid.bare} sees {remote.nick} leave")

    begin(f"{local.boundjid.bare} destroys {ROOM}")
    await muc.destroy(ROOM, reason="federation check over", timeout=TIMEOUT)
    check(True, f"{ROOM} destroyed")

    local.disconnect()
    remote.disconnect()
    print(f"s2s MUC interop {remote.boundjid.bare} in {ROOM}: {progress.passed} passed, 0 failed")


run(main, "s2s MUC interop")
