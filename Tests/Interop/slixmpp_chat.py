"""Two slixmpp clients log in to Starling with STARTTLS and SCRAM-SHA-256 and exchange a
message each way. Exits 0 only when both messages arrived with the right body and sender.

Usage: slixmpp_chat.py HOST PORT CA_FILE
Accounts alice@localhost / bob@localhost must exist with passwords alice-pass / bob-pass.
"""
import asyncio
import logging
import ssl
import sys

import slixmpp

HOST, PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TIMEOUT = 30


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password, sasl_mech="SCRAM-SHA-256")
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.ssl_context = ssl.create_default_context(cafile=CA_FILE)
        self.ready = asyncio.get_event_loop().create_future()
        self.received = asyncio.Queue()
        self.mechanism_used = None
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("auth_success", self.on_auth_success)

    async def on_session_start(self, _event):
        # The roster (RFC 6121 §2) arrives with the IM work; this test needs only presence.
        self.send_presence()
        if not self.ready.done():
            self.ready.set_result(True)

    def on_auth_success(self, _event):
        self.mechanism_used = self.plugin["feature_mechanisms"].mech.name

    def on_failed_auth(self, _event):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.boundjid.bare}: authentication failed"))

    def on_message(self, message):
        if message["type"] in ("chat", "normal"):
            self.received.put_nowait((str(message["from"].bare), message["body"]))


async def main():
    alice = Client("alice@localhost", "alice-pass")
    bob = Client("bob@localhost", "bob-pass")
    for client in (alice, bob):
        client.connect(HOST, PORT)
    await asyncio.wait_for(asyncio.gather(alice.ready, bob.ready), TIMEOUT)
    for client in (alice, bob):
        assert client.mechanism_used == "SCRAM-SHA-256", client.mechanism_used
        assert client.is_connected()

    alice.send_message(mto="bob@localhost", mbody="hello bob, from slixmpp", mtype="chat")
    sender, body = await asyncio.wait_for(bob.received.get(), TIMEOUT)
    assert (sender, body) == ("alice@localhost", "hello bob, from slixmpp"), (sender, body)

    bob.send_message(mto=str(alice.boundjid), mbody="hi alice <3 & welcome", mtype="chat")
    sender, body = await asyncio.wait_for(alice.received.get(), TIMEOUT)
    assert (sender, body) == ("bob@localhost", "hi alice <3 & welcome"), (sender, body)

    for client in (alice, bob):
        client.disconnect()
    print("slixmpp interop: 2 passed, 0 failed")


logging.basicConfig(level=logging.WARNING)
asyncio.run(main())
