"""Ad-hoc commands (XEP-0050) and service administration (XEP-0133) against Starling with
slixmpp's own xep_0050 plugin: the admin lists the commands and runs add-user through the
plugin's session workflow (execute, form, complete), the new account logs in, the admin
counts online users and sends an announcement that reaches another user; a non-admin sees no
admin command and is refused with forbidden; last, the admin shuts the server down.

Usage: slixmpp_adhoc.py HOST PORT CA_FILE
Accounts admin@localhost (listed in `admins`) and bob@localhost must exist with passwords
admin-pass and bob-pass.
"""
import asyncio
import logging
import sys

from interop_client import InteropClient
from slixmpp.exceptions import IqError

HOST, PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TIMEOUT = 30
ADMIN = "http://jabber.org/protocol/admin#"
passed = 0


def check(condition, description):
    # Not `assert`: python -O removes asserts, and the check with them.
    global passed
    if not condition:
        raise AssertionError(description)
    passed += 1


class Client(InteropClient):
    def __init__(self, name, password):
        super().__init__(f"{name}@localhost/slix", password, CA_FILE, plugins=("xep_0004", "xep_0030", "xep_0050"), roster_first=False)
        self.headlines = asyncio.Queue()
        self.add_event_handler("message", self.on_message)

    def on_message(self, message):
        if message["type"] == "headline":
            self.headlines.put_nowait(message)

    async def command_nodes(self):
        iq = await self.plugin["xep_0050"].get_commands(jid="localhost", timeout=TIMEOUT)
        return {node for (_jid, node, _name) in iq["disco_items"]["items"]}

    async def run(self, node, fields=None):
        """Runs a command through the plugin's workflow. Returns (status, iq). With `fields`, the first answer must be a form, which is submitted with
        them through complete_command."""
        loop = asyncio.get_running_loop()
        outcome = loop.create_future()
        adhoc = self.plugin["xep_0050"]

        def finished(iq, session):
            if not outcome.done():
                outcome.set_result((iq["command"]["status"], iq))

        def failed(iq, session):
            if not outcome.done():
                outcome.set_result(("error", iq))

        def form_received(iq, session):
            if iq["command"]["status"] != "executing":
                finished(iq, session)
                return
            form = self.plugin["xep_0004"].make_form(ftype="submit")
            form.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/admin")
            for var, value in (fields or {}).items():
                form.add_field(var=var, value=value)
            session["payload"] = form
            session["next"] = finished
            adhoc.complete_command(session)

        session = {"next": form_received if fields is not None else finished, "error": failed}
        adhoc.start_command("localhost", node, session)
        return await asyncio.wait_for(outcome, TIMEOUT)


async def main():
    admin = Client("admin", "admin-pass")
    bob = Client("bob", "bob-pass")
    await asyncio.gather(admin.login(HOST, PORT), bob.login(HOST, PORT))

    info = await admin.plugin["xep_0030"].get_info(jid="localhost", timeout=TIMEOUT)
    check("http://jabber.org/protocol/commands" in info["disco_info"]["features"], "the server announces XEP-0050")

    nodes = await admin.command_nodes()
    for name in ("add-user", "delete-user", "disable-user", "change-user-password", "announce", "get-online-users-num"):
        check(ADMIN + name in nodes, f"the admin sees {name}: {sorted(nodes)}")
    bob_nodes = await bob.command_nodes()
    check(not any(node.startswith(ADMIN) for node in bob_nodes), f"bob sees no admin command: {sorted(bob_nodes)}")

    status, iq = await admin.run(ADMIN + "add-user", {"accountjid": "carol@localhost", "password": "carol-pass", "password-verify": "carol-pass"})
    check(status == "completed", f"add-user completed: {iq}")
    check(all(kind != "error" for kind, _text in iq["command"]["notes"]), f"add-user reported no error: {iq['command']['notes']}")
    carol = Client("carol", "carol-pass")
    await carol.login(HOST, PORT)
    check(carol.is_connected(), "the account add-user made logs in")

    status, iq = await admin.run(ADMIN + "get-online-users-num")
    check(status == "completed", f"get-online-users-num completed: {iq}")
    check(iq["command"]["form"].get_values().get("onlineusersnum") == "3", f"three users online: {iq['command']['form'].get_values()}")

    status, iq = await admin.run(ADMIN + "announce", {"subject": "Maintenance", "announcement": "Back soon"})
    check(status == "completed", f"announce completed: {iq}")
    headline = await asyncio.wait_for(bob.headlines.get(), TIMEOUT)
    check(str(headline["from"]) == "localhost" and headline["body"] == "Back soon", f"bob got the announcement: {headline}")

    # send_command, not the session workflow: the workflow sends with a callback and leaves
    # the error's future unread, which asyncio then reports as an unhandled exception.
    try:
        iq = await bob.plugin["xep_0050"].send_command("localhost", ADMIN + "add-user", timeout=TIMEOUT)
        check(False, f"bob was allowed to start add-user: {iq}")
    except IqError as error:
        check(error.iq["error"]["condition"] == "forbidden", f"bob is forbidden to add users: {error.iq}")

    # Last: the server stops (interop-adhoc.sh checks that the process ends).
    status, iq = await admin.run(ADMIN + "shutdown", {"delay": "0", "announcement": "Going down"})
    check(status == "completed", f"shutdown completed: {iq}")
    check(all(kind != "error" for kind, _text in iq["command"]["notes"]), f"shutdown was accepted: {iq['command']['notes']}")
    headline = await asyncio.wait_for(bob.headlines.get(), TIMEOUT)
    check(headline["body"] == "Going down", f"bob got the shutdown announcement: {headline}")

    for client in (admin, bob, carol):
        client.disconnect()
    print(f"slixmpp ad-hoc interop: {passed} passed, 0 failed")


logging.basicConfig(level=logging.WARNING)
asyncio.run(main())
