"""Invitations (XEP-0401, XEP-0445) with slixmpp, end to end: alice asks Starling for an
invitation with slixmpp's xep_0050 plugin, its landing page is fetched over HTTP, and a
newcomer's slixmpp presents the token (XEP-0445 <preauth/>) and registers through its xep_0077
plugin, logs in, and finds alice in its roster with a mutual subscription, as alice finds
the newcomer in hers. A second newcomer with the same, now used, token is refused.

Usage: slixmpp_invite.py HOST PORT HTTP_PORT CA_FILE
alice@localhost (password alice-pass) must exist; the server's invites.user_invites is
`accounts`, so an ordinary user's invitation also makes an account.
"""
import asyncio
import sys

import aiohttp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from interop_checks import begin, check, run
from interop_client import TIMEOUT, InteropClient

HOST, PORT, HTTP_PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
INVITE = "urn:xmpp:invite#invite"


class Inviter(InteropClient):
    def __init__(self):
        super().__init__("alice@localhost/slix", "alice-pass", CA_FILE, plugins=("xep_0004", "xep_0030", "xep_0050"))

    async def invitation(self):
        """Runs the invite command through the plugin; returns the result form's values."""
        outcome = asyncio.get_running_loop().create_future()

        def finished(iq, _session):
            if not outcome.done():
                outcome.set_result(iq)

        def failed(iq, _session):
            if not outcome.done():
                outcome.set_exception(RuntimeError(f"the command failed: {iq}"))

        self.plugin["xep_0050"].start_command("localhost", INVITE, {"next": finished, "error": failed})
        iq = await asyncio.wait_for(outcome, TIMEOUT)
        check(iq["command"]["status"] == "completed", f"the invite command completes: {iq}")
        return iq["command"]["form"].get_values()


class Newcomer(InteropClient):
    """Registers in-band with an invitation's token, then logs in with what it registered."""

    def __init__(self, name, token):
        super().__init__(f"{name}@localhost/slix", f"{name}-pass", CA_FILE, plugins=("xep_0030", "xep_0077"))
        self.token = token
        self.plugin["xep_0077"].force_registration = True
        # slixmpp holds back every IQ but XEP-0077's until the session starts; XEP-0445's
        # <preauth/> is one that has to go before it, so nothing is held.
        self._always_send_everything = True
        self.registered = asyncio.get_event_loop().create_future()
        self.add_event_handler("register", self.on_register)

    async def on_register(self, _event):
        try:
            preauth = self.Iq(stype="set")
            preauth.append(ET.Element("{urn:xmpp:pars:0}preauth", {"token": self.token}))
            await preauth.send(timeout=TIMEOUT)
            form = self.Iq(stype="set")
            form["register"]["username"] = self.boundjid.user
            form["register"]["password"] = self.password
            await form.send(timeout=TIMEOUT)
            self.registered.set_result(True)
        except IqError as error:
            self.registered.set_exception(error)
            self.disconnect()


async def main():
    begin("alice logs in and asks for an invitation")
    alice = Inviter()
    await alice.login(HOST, PORT)
    values = await alice.invitation()
    uri, landing = values.get("uri", ""), values.get("landing-url", "")
    check(uri.startswith("xmpp:alice@localhost?roster;preauth=") and uri.endswith(";ibr=y"), f"the URI names alice and allows registration: {uri}")
    token = uri.split("preauth=")[1].split(";")[0]
    check(landing == f"http://localhost:{HTTP_PORT}/invite/{token}", f"the landing page URL: {landing}")

    begin("the landing page")
    async with aiohttp.ClientSession() as http:
        async with http.get(landing.replace("//localhost:", "//127.0.0.1:")) as response:
            page = await response.text()
            check(response.status == 200, f"the landing page answers 200, not {response.status}")
            check(f'href="{uri}"' in page, "the landing page links the URI")
            check(response.headers.get("Referrer-Policy") == "no-referrer", "the landing page sends no referrer on")

    begin("juliet registers with the token and logs in")
    juliet = Newcomer("juliet", token)
    juliet.connect(HOST, PORT)
    await asyncio.wait_for(juliet.registered, TIMEOUT)
    await asyncio.wait_for(juliet.ready, TIMEOUT)
    check(juliet.client_roster["alice@localhost"]["subscription"] == "both", "juliet's roster has alice, subscribed both ways")

    begin("alice's roster shows juliet")
    await alice.get_roster()
    check(alice.client_roster["juliet@localhost"]["subscription"] == "both", "alice's roster has juliet, subscribed both ways")

    begin("the used token is refused to romeo")
    romeo = Newcomer("romeo", token)
    romeo.connect(HOST, PORT)
    try:
        await asyncio.wait_for(romeo.registered, TIMEOUT)
        check(False, "romeo registered with a used token")
    except IqError as error:
        check(error.condition == "item-not-found", f"a used token gets item-not-found, not {error.condition}")

    for client in (alice, juliet):
        client.disconnect()
    # For the script's check that the token never reached the server's log.
    print(f"token: {token}")
    print("slixmpp invitations: passed")


run(main, "slixmpp invitations")
