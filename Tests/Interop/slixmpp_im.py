"""Instant messaging against Starling with slixmpp's own roster, presence, blocking and vCard
code: a subscription handshake ending in 'both', presence seen across, vCards, the blocking
command, disco, and a message kept offline and delivered with a delay stamp.

Usage: slixmpp_im.py HOST PORT CA_FILE
Accounts alice@, bob@ and carol@localhost must exist with passwords <name>-pass.
"""
import asyncio
import logging
import sys

import slixmpp
from interop_client import InteropClient
from slixmpp.exceptions import IqError, IqTimeout

HOST, PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TIMEOUT = 30
passed = 0


def check(condition, description):
    global passed
    if not condition:
        raise AssertionError(description)
    passed += 1


class Client(InteropClient):
    def __init__(self, name):
        super().__init__(f"{name}@localhost/slix", f"{name}-pass", CA_FILE, plugins=("xep_0030", "xep_0054", "xep_0191", "xep_0199", "xep_0203"))
        self.messages = asyncio.Queue()
        self.add_event_handler("message", lambda message: self.messages.put_nowait(message))

    async def login(self):
        await super().login(HOST, PORT)


async def wait_until(predicate, description):
    for _ in range(TIMEOUT * 10):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out: {description}")


async def wait_until_async(predicate, description):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while loop.time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out: {description}")


async def carol_gone(client, jid):
    try:
        await client.make_iq_get(ito=jid, queryxmlns="urn:xmpp:ping").send(timeout=2)
        return False
    except IqTimeout:
        return False
    except IqError as error:
        return error.condition == "service-unavailable"


async def main():
    alice, bob, carol = Client("alice"), Client("bob"), Client("carol")
    # Bob accepts requests and asks back, as slixmpp can do on its own.
    bob.roster.auto_authorize = True
    bob.roster.auto_subscribe = True
    alice.roster.auto_authorize = True
    for client in (alice, bob, carol):
        await client.login()

    # Subscription handshake through slixmpp's roster.
    alice.send_presence_subscription(pto="bob@localhost")
    await wait_until(lambda: alice.client_roster["bob@localhost"]["subscription"] == "both", "alice's roster item for bob is 'both'")
    await wait_until(lambda: bob.client_roster["alice@localhost"]["subscription"] == "both", "bob's roster item for alice is 'both'")
    check(True, "subscription handshake ends in 'both' on both sides")
    await wait_until(lambda: len(alice.client_roster["bob@localhost"].resources) > 0, "alice sees bob online")
    check("slix" in alice.client_roster["bob@localhost"].resources, "bob's resource is known to alice")

    # Presence updates flow.
    bob.send_presence(pshow="away", pstatus="reading")
    await wait_until(
        lambda: alice.client_roster["bob@localhost"].resources.get("slix", {}).get("show") == "away", "alice sees bob away")
    check(True, "presence change seen across")

    # vCards.
    card = alice.plugin["xep_0054"].make_vcard()
    card["FN"] = "Alice Liddell"
    await alice.plugin["xep_0054"].publish_vcard(card)
    fetched = await bob.plugin["xep_0054"].get_vcard(jid="alice@localhost", cached=False, local=False)
    check(fetched["vcard_temp"]["FN"] == "Alice Liddell", "bob reads alice's vCard")

    # Disco on the server.
    info = await bob.plugin["xep_0030"].get_info(jid="localhost")
    features = info["disco_info"]["features"]
    check("urn:xmpp:blocking" in features and "vcard-temp" in features, "disco lists blocking and vcard-temp")

    # Blocking.
    await alice.plugin["xep_0191"].block("carol@localhost")
    blocked = await alice.plugin["xep_0191"].get_blocked_jids()
    check(slixmpp.JID("carol@localhost") in blocked, "the block list holds carol")
    try:
        await carol.make_iq_get(ito=alice.boundjid, queryxmlns="urn:xmpp:ping").send(timeout=TIMEOUT)
        check(False, "a blocked contact's IQ is refused")
    except IqError as error:
        check(error.condition == "service-unavailable", "a blocked contact's IQ is refused with service-unavailable")
    await alice.plugin["xep_0191"].unblock("carol@localhost")
    check(len(await alice.plugin["xep_0191"].get_blocked_jids()) == 0, "unblocked")

    # Offline delivery: carol leaves, alice writes, carol comes back. No fixed sleeps: alice
    # waits until the server answers for carol's full JID itself (an IQ to a resource that is
    # gone gets service-unavailable), and after writing she pings the server, which handles her
    # stanzas in order, so the message has been stored offline when the pong arrives.
    carol_jid = carol.boundjid
    carol.disconnect()
    await wait_until_async(lambda: carol_gone(alice, carol_jid), "the server ended carol's session")
    alice.send_message(mto="carol@localhost", mbody="while you were out", mtype="chat")
    await alice.plugin["xep_0199"].ping(jid="localhost", timeout=TIMEOUT)
    carol2 = Client("carol")
    await carol2.login()
    message = await asyncio.wait_for(carol2.messages.get(), TIMEOUT)
    check(message["body"] == "while you were out", "the offline message arrives")
    check(message["delay"]["stamp"] is not None, "with a delay stamp")

    for client in (alice, bob, carol2):
        client.disconnect()
    print(f"slixmpp IM interop: {passed} passed, 0 failed")


logging.basicConfig(level=logging.ERROR)
asyncio.run(main())
