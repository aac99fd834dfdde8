"""Two slixmpp clients log in to Starling with STARTTLS and SCRAM-SHA-256 and exchange a
message each way. Exits 0 only when both messages arrived with the right body and sender.

Usage: slixmpp_chat.py HOST PORT CA_FILE
Accounts alice@localhost / bob@localhost must exist with passwords alice-pass / bob-pass.
"""
import asyncio
import logging
import sys

import slixmpp
from interop_client import InteropClient

HOST, PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TIMEOUT = 30


def check(condition, description):
    # Not `assert`: python -O (PYTHONOPTIMIZE) removes asserts, and the check with them.
    if not condition:
        raise AssertionError(description)


class Client(InteropClient):
    def __init__(self, jid, password):
        # The roster (RFC 6121 §2) is not needed here: presence only.
        super().__init__(jid, password, CA_FILE, roster_first=False, sasl_mech="SCRAM-SHA-256")
        self.received = asyncio.Queue()
        self.mechanism_used = None
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("auth_success", self.on_auth_success)

    def on_auth_success(self, _event):
        self.mechanism_used = self.plugin["feature_mechanisms"].mech.name

    def on_message(self, message):
        if message["type"] in ("chat", "normal"):
            self.received.put_nowait((str(message["from"].bare), message["body"]))


async def main():
    alice = Client("alice@localhost", "alice-pass")
    bob = Client("bob@localhost", "bob-pass")
    await asyncio.gather(alice.login(HOST, PORT), bob.login(HOST, PORT))
    for client in (alice, bob):
        check(client.mechanism_used == "SCRAM-SHA-256", f"logged in with SCRAM-SHA-256, not {client.mechanism_used}")
        check(client.is_connected(), "connected")

    alice.send_message(mto="bob@localhost", mbody="hello bob, from slixmpp", mtype="chat")
    sender, body = await asyncio.wait_for(bob.received.get(), TIMEOUT)
    check((sender, body) == ("alice@localhost", "hello bob, from slixmpp"), f"bob got alice's message: {(sender, body)}")

    bob.send_message(mto=str(alice.boundjid), mbody="hi alice <3 & welcome", mtype="chat")
    sender, body = await asyncio.wait_for(alice.received.get(), TIMEOUT)
    check((sender, body) == ("bob@localhost", "hi alice <3 & welcome"), f"alice got bob's message: {(sender, body)}")

    for client in (alice, bob):
        client.disconnect()
    print("slixmpp interop: 2 passed, 0 failed")


logging.basicConfig(level=logging.WARNING)
asyncio.run(main())
