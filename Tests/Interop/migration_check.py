"""The data a migration must carry, put into one server and looked for in another, with
slixmpp: alice and bob subscribed both ways (bob named and grouped in alice's roster), alice's
vCard and a private XML document (XEP-0049), and carol's subscription request to alice left
unanswered.

Usage: migration_check.py populate|verify HOST PORT CA_FILE
populate runs against the old server (accounts alice, bob and carol with passwords
<name>-pass); verify logs in to the new one with the same passwords.
"""
import asyncio
import sys

from slixmpp.xmlstream import ET

from interop_checks import begin, check, run
from interop_client import TIMEOUT, InteropClient

MODE, HOST, PORT, CA_FILE = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
NOTES = "urn:example:migration-notes"


class Client(InteropClient):
    def __init__(self, name, roster_first=True):
        super().__init__(f"{name}@localhost/migrate", f"{name}-pass", CA_FILE, plugins=("xep_0030", "xep_0049", "xep_0054"), roster_first=roster_first)
        # Accounts moved from Prosody hold SCRAM-SHA-1 keys only: slixmpp's SCRAM-SHA-512 and
        # -256 attempts fail and it goes on to SCRAM-SHA-1, so only running out of mechanisms
        # is a refused login here.
        self.del_event_handler("failed_auth", self._refused)
        self.add_event_handler("failed_all_auth", self._refused)
        self.requests = asyncio.Queue()
        self.add_event_handler("presence_subscribe", lambda presence: self.requests.put_nowait(presence))
        # Requests are answered by the test, not by slixmpp's defaults.
        self.auto_authorize = None
        self.auto_subscribe = False


async def populate():
    begin("alice, bob and carol log in to the old server")
    alice, bob, carol = Client("alice"), Client("bob"), Client("carol")
    for client in (alice, bob, carol):
        await client.login(HOST, PORT)

    begin("alice and bob subscribe to each other")
    alice.update_roster("bob@localhost", name="Bob", groups=["Friends"])
    for asker, answerer in ((alice, bob), (bob, alice)):
        asker.send_presence(pto="bob@localhost" if asker is alice else "alice@localhost", ptype="subscribe")
        request = await asyncio.wait_for(answerer.requests.get(), TIMEOUT)
        answerer.send_presence(pto=request["from"].bare, ptype="subscribed")
    for _ in range(50):
        await asyncio.sleep(0.1)
        if alice.client_roster["bob@localhost"]["subscription"] == "both":
            break
    check(alice.client_roster["bob@localhost"]["subscription"] == "both", "alice and bob are subscribed both ways on the old server")

    begin("alice's vCard and private XML")
    vcard = alice.plugin["xep_0054"].make_vcard()
    vcard["FN"] = "Alice Migrating"
    await alice.plugin["xep_0054"].publish_vcard(vcard, timeout=TIMEOUT)
    notes = ET.Element(f"{{{NOTES}}}notes")
    notes.text = "kept across servers"
    iq = alice.Iq(stype="set")
    query = ET.SubElement(iq.xml, "{jabber:iq:private}query")
    query.append(notes)
    await iq.send(timeout=TIMEOUT)

    begin("carol asks alice, who does not answer")
    carol.send_presence(pto="alice@localhost", ptype="subscribe")
    await asyncio.wait_for(alice.requests.get(), TIMEOUT)
    for client in (alice, bob, carol):
        client.disconnect()
    await asyncio.sleep(0.5)
    print("migration data populated")


async def verify():
    begin("alice logs in to the new server with her old password")
    alice = Client("alice")
    await alice.login(HOST, PORT)
    item = alice.client_roster["bob@localhost"]
    check(item["subscription"] == "both", f"bob is subscribed both ways, not {item['subscription']}")
    check(item["name"] == "Bob" and list(item["groups"]) == ["Friends"], f"bob's name and group came along: {item['name']} {item['groups']}")

    begin("alice's vCard and private XML")
    vcard = await alice.plugin["xep_0054"].get_vcard(jid="alice@localhost", local=False, timeout=TIMEOUT)
    check(vcard["vcard_temp"]["FN"] == "Alice Migrating", f"the vCard came along: {vcard['vcard_temp']['FN']}")
    iq = alice.Iq(stype="get")
    query = ET.SubElement(iq.xml, "{jabber:iq:private}query")
    ET.SubElement(query, f"{{{NOTES}}}notes")
    result = await iq.send(timeout=TIMEOUT)
    stored = result.xml.find(f"{{jabber:iq:private}}query/{{{NOTES}}}notes")
    check(stored is not None and stored.text == "kept across servers", "the private XML came along")

    begin("carol's request is still waiting, and bob logs in too")
    request = await asyncio.wait_for(alice.requests.get(), TIMEOUT)
    check(request["from"].bare == "carol@localhost", f"the pending request is carol's, not {request['from']}")
    bob = Client("bob")
    await bob.login(HOST, PORT)
    check(bob.client_roster["alice@localhost"]["subscription"] == "both", "bob's roster has alice both ways")
    for client in (alice, bob):
        client.disconnect()
    print("migration verified")


run(populate if MODE == "populate" else verify, f"migration {MODE}")
