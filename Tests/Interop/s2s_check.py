"""Federation between two servers as their users see it: a message each way, a subscription
handshake each way ending in 'both', presence seen across, and an XMPP ping each way.

Usage: s2s_check.py JID_A HOST_A JID_B HOST_B CA_FILE
Both accounts use the password 'interop-pass'; each client connects to its own server
with STARTTLS on port 5222 and trusts CA_FILE.
"""
import asyncio
import logging
import sys

import slixmpp
from interop_client import InteropClient

JID_A, HOST_A, JID_B, HOST_B, CA_FILE = sys.argv[1:6]
TIMEOUT = 60
passed = 0


def check(condition, description):
    global passed
    if not condition:
        raise AssertionError(description)
    passed += 1
    print(f"  ok: {description}")


class Client(InteropClient):
    def __init__(self, jid, host):
        super().__init__(jid + "/interop", "interop-pass", CA_FILE, plugins=("xep_0199",))
        self.host = host
        self.roster.auto_authorize = True
        self.roster.auto_subscribe = True
        self.messages = asyncio.Queue()
        self.add_event_handler("message", lambda message: self.messages.put_nowait(message))

    async def login(self):
        await super().login(self.host, 5222, TIMEOUT)


async def wait_until(predicate, description):
    for _ in range(TIMEOUT * 10):
        if predicate():
            check(True, description)
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out: {description}")


async def main():
    a, b = Client(JID_A, HOST_A), Client(JID_B, HOST_B)
    await a.login()
    await b.login()
    bare_a, bare_b = slixmpp.JID(JID_A).bare, slixmpp.JID(JID_B).bare

    a.send_message(mto=bare_b, mbody=f"hello from {bare_a}", mtype="chat")
    message = await asyncio.wait_for(b.messages.get(), TIMEOUT)
    check(message["body"] == f"hello from {bare_a}" and message["from"].bare == bare_a, f"message {bare_a} -> {bare_b}")
    b.send_message(mto=bare_a, mbody=f"hello from {bare_b}", mtype="chat")
    message = await asyncio.wait_for(a.messages.get(), TIMEOUT)
    check(message["body"] == f"hello from {bare_b}" and message["from"].bare == bare_b, f"message {bare_b} -> {bare_a}")

    # Each asks; each side auto-approves and asks back, so both handshakes run.
    a.send_presence_subscription(pto=bare_b)
    await wait_until(lambda: a.client_roster[bare_b]["subscription"] == "both", f"{bare_a}'s roster: {bare_b} is 'both'")
    await wait_until(lambda: b.client_roster[bare_a]["subscription"] == "both", f"{bare_b}'s roster: {bare_a} is 'both'")
    await wait_until(lambda: len(a.client_roster[bare_b].resources) > 0, f"{bare_a} sees {bare_b} online")
    await wait_until(lambda: len(b.client_roster[bare_a].resources) > 0, f"{bare_b} sees {bare_a} online")

    rtt = await a.plugin["xep_0199"].ping(jid=b.boundjid, timeout=TIMEOUT)
    check(rtt is not None, f"ping {bare_a} -> {b.boundjid}")
    rtt = await b.plugin["xep_0199"].ping(jid=a.boundjid, timeout=TIMEOUT)
    check(rtt is not None, f"ping {bare_b} -> {a.boundjid}")

    a.disconnect()
    b.disconnect()
    print(f"s2s interop {bare_a} <-> {bare_b}: {passed} passed, 0 failed")


logging.basicConfig(level=logging.ERROR)
asyncio.run(main())
