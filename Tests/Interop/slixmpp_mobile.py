"""Multi-device features against Starling with slixmpp's plugins: stream management
(xep_0198), message carbons (xep_0280), the message archive (xep_0313) and client state
indication (xep_0352).

Usage: slixmpp_mobile.py HOST PORT CA_FILE
Accounts alice@ and bob@localhost must exist with passwords <name>-pass.
"""
import asyncio
import logging
import sys

import slixmpp
from interop_client import InteropClient

HOST, PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TIMEOUT = 30
passed = 0


def check(condition, description):
    global passed
    if not condition:
        raise AssertionError(description)
    passed += 1


class Client(InteropClient):
    def __init__(self, name, resource):
        super().__init__(f"{name}@localhost/{resource}", f"{name}-pass", CA_FILE, roster_first=False,
                         plugins=("xep_0198", "xep_0280", "xep_0313", "xep_0352", "xep_0059", "xep_0199"))
        self.events = asyncio.Queue()
        self.add_event_handler("message", lambda m: self.events.put_nowait(("message", m)))
        self.add_event_handler("carbon_sent", lambda m: self.events.put_nowait(("sent", m)))
        self.add_event_handler("carbon_received", lambda m: self.events.put_nowait(("received", m)))
        self.add_event_handler("presence", lambda p: self.events.put_nowait(("presence", p)))

    async def login(self):
        await super().login(HOST, PORT)

    async def next(self, kind, predicate=lambda _: True):
        while True:
            got, stanza = await asyncio.wait_for(self.events.get(), TIMEOUT)
            if got == kind and predicate(stanza):
                return stanza


async def wait_until(predicate, description):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while loop.time() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out: {description}")


async def main():
    one, two, bob = Client("alice", "one"), Client("alice", "two"), Client("bob", "desk")
    for client in (one, two, bob):
        await client.login()

    await wait_until(lambda: one.plugin["xep_0198"].sm_id, "stream management is enabled with a resumption id")
    check(True, "stream management is enabled with a resumption id")

    await one.plugin["xep_0280"].enable()
    await two.plugin["xep_0280"].enable()
    one.send_message(mto="bob@localhost/desk", mbody="sent from one", mtype="chat")
    carbon = await two.next("sent")
    check(carbon["carbon_sent"]["body"] == "sent from one", "the other resource gets a sent carbon")
    # Bob answers once he has the message (the server archives it for him before delivering
    # it), so his archive holds the two in this order; answering on the carbon alone raced.
    await bob.next("message", lambda m: m["body"] == "sent from one")
    bob.send_message(mto="alice@localhost/one", mbody="for one", mtype="chat")
    carbon = await two.next("received")
    check(carbon["carbon_received"]["body"] == "for one", "the other resource gets a received carbon")

    # Acknowledgements: ask the server, which must report what it handled.
    one.plugin["xep_0198"].request_ack()
    await wait_until(lambda: one.plugin["xep_0198"].last_ack > 0, "the server acknowledges handled stanzas")
    check(True, "the server acknowledges handled stanzas")

    iq = await bob.plugin["xep_0313"].retrieve(with_jid=slixmpp.JID("alice@localhost"))
    bodies = [result["mam_result"]["forwarded"]["stanza"]["body"] for result in iq["mam"]["results"]]
    check(bodies[-2:] == ["sent from one", "for one"], f"the archive holds the conversation in order: {bodies}")
    check(iq["mam_fin"]["complete"], "the archive query is complete")

    # `two` goes inactive, then pings the server: the server handles a stream's stanzas in
    # order, so the pong means it took the <inactive/>. The presences and the message below come
    # from one stream, in order, so the presences are held before the message arrives.
    two.plugin["xep_0352"].send_inactive()
    await two.plugin["xep_0199"].ping(jid="localhost", timeout=TIMEOUT)
    for status in ("one", "two", "three"):
        one.send_presence(pstatus=status)
    one.send_message(mto="alice@localhost/two", mbody="flush", mtype="chat")
    seen = []
    while True:
        kind, stanza = await asyncio.wait_for(two.events.get(), TIMEOUT)
        if kind == "presence" and stanza["from"] == one.boundjid:
            seen.append(stanza["status"])
        if kind == "message" and stanza["body"] == "flush":
            break
    check(seen == ["three"], f"while inactive only the latest presence is kept, and it comes first: {seen}")

    for client in (one, two, bob):
        client.disconnect()
    print(f"slixmpp mobile interop: {passed} passed, 0 failed")


logging.basicConfig(level=logging.ERROR)
asyncio.run(main())
