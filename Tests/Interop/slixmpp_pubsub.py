"""Publish-subscribe against Starling with slixmpp's own plugins (xep_0060, xep_0163,
xep_0084, xep_0118, xep_0115, xep_0048, xep_0049, xep_0402, xep_0054, xep_0030, xep_0004):

1. the pubsub service at pubsub.DOMAIN: alice creates a node with a configuration form, bob
   subscribes, alice publishes items with IDs and bob gets the event notifications through
   slixmpp's pubsub event handlers; retrieval of all items, by ID and with max_items; a
   retraction with notify, a purge and a deletion, each notified; bob may not publish, purge,
   configure or delete (forbidden);
2. personal eventing (XEP-0163): alice and bob subscribed to each other, bob's client says
   it wants user tunes and avatar metadata through entity capabilities (answering the
   server's disco#info query for its verification string), alice publishes a tune and bob
   gets it; a stranger (carol) may not read alice's presence-access node;
3. an OMEMO device list and bundle published with the publish-options Conversations and Dino
   send (access_model open, max_items max), fetched by carol, who has no roster relation to
   alice, and a publish whose publish-options conflict with the node refused with
   <conflict/> and <precondition-not-met/>;
4. bookmarks (XEP-0402 with #compat): XEP-0048 bookmarks stored in private XML storage show
   up in the urn:xmpp:bookmarks:1 PEP node, a conference published there shows up in private
   XML storage, and the account's disco#info lists urn:xmpp:bookmarks:1#compat;
5. avatars (XEP-0398): an avatar published with xep_0084 is the PHOTO of alice's vCard, and
   her presence carries the vcard-temp:x:update hash.

Usage: slixmpp_pubsub.py HOST PORT CA_FILE [DOMAIN]
Accounts alice@, bob@ and carol@DOMAIN (default localhost) must exist with passwords
<name>-pass. On a failure it names the step, prints the last stanzas every client sent and
received, and exits non-zero. INTEROP_DEBUG=1 logs every stanza as it goes.
"""
import asyncio
import base64
import hashlib
import os
import sys
import uuid
import xml.etree.ElementTree as ET

import slixmpp
from interop_checks import begin, check, progress, run
from interop_client import InteropClient
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

HOST, PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
DOMAIN = sys.argv[4] if len(sys.argv) > 4 else "localhost"
SERVICE = slixmpp.JID(f"pubsub.{DOMAIN}")
TIMEOUT = 30
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_ERRORS = "http://jabber.org/protocol/pubsub#errors"
NS_NODE_CONFIG = "http://jabber.org/protocol/pubsub#node_config"
NS_PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_TUNE = "http://jabber.org/protocol/tune"
NS_AVATAR_DATA = "urn:xmpp:avatar:data"
NS_AVATAR_METADATA = "urn:xmpp:avatar:metadata"
NS_AXOLOTL = "eu.siacs.conversations.axolotl"
NS_BOOKMARKS2 = "urn:xmpp:bookmarks:1"
NS_VCARD = "vcard-temp"
NS_VCARD_UPDATE = "vcard-temp:x:update"
ATOM = "http://www.w3.org/2005/Atom"
# XEP-0060 §6.5.9.4: reading a presence-access node without a presence subscription is
# <not-authorized/> with <presence-subscription-required/>. Prosody 0.12 answers <forbidden/>
# alone; the run against Prosody sets PUBSUB_PRESENCE_REFUSAL=forbidden.
PRESENCE_REFUSAL = os.environ.get("PUBSUB_PRESENCE_REFUSAL", "not-authorized")


class Inbox:
    """What a client receives, in order; take() removes and returns the first entry that
    matches, waiting at most TIMEOUT seconds."""

    def __init__(self, owner):
        self.owner = owner
        self.entries = []
        self.arrived = asyncio.Event()

    def put(self, entry):
        self.entries.append(entry)
        self.arrived.set()

    def find(self, predicate):
        return next((index for index, entry in enumerate(self.entries) if predicate(entry)), None)

    async def take(self, predicate, description):
        async def scan():
            for _ in range(10_000):
                index = self.find(predicate)
                if index is not None:
                    return self.entries.pop(index)
                self.arrived.clear()
                await self.arrived.wait()
            raise AssertionError(f"{self.owner}: too many entries without one that matches")
        try:
            return await asyncio.wait_for(scan(), TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.owner} timed out after {TIMEOUT} s waiting for: {description}") from None

    def discard(self, predicate):
        self.entries = [entry for entry in self.entries if not predicate(entry)]


PLUGINS = ("xep_0030", "xep_0004", "xep_0060", "xep_0163", "xep_0115", "xep_0084", "xep_0118",
           "xep_0048", "xep_0049", "xep_0402", "xep_0054", "xep_0199")
# The slixmpp events the pubsub plugins raise, each kept as (event name, message).
EVENTS = ("pubsub_publish", "pubsub_retract", "pubsub_purge", "pubsub_delete", "pubsub_config",
          "user_tune_publish", "avatar_metadata_publish")


class Client(InteropClient):
    def __init__(self, name):
        super().__init__(f"{name}@{DOMAIN}/pubsub", f"{name}-pass", CA_FILE, plugins=PLUGINS)
        self.name = name
        self.events = Inbox(f"{name} (pubsub events)")
        self.presences = Inbox(f"{name} (presences)")
        self.caps_queries = Inbox(f"{name} (disco#info queries)")
        for event in EVENTS:
            self.add_event_handler(event, lambda message, event=event: self.events.put((event, message)))
        self.register_handler(Callback(f"{name} presence", MatchXPath(f"{{{self.default_ns}}}presence"), self.presences.put))
        self.register_handler(Callback(f"{name} disco#info get", MatchXPath(f"{{{self.default_ns}}}iq/{{{NS_DISCO_INFO}}}query"),
                                       self._disco_query))

    def _disco_query(self, iq):
        if iq["type"] == "get":
            self.caps_queries.put(iq)

    async def login(self):
        await super().login(HOST, PORT)

    @property
    def pubsub(self):
        return self.plugin["xep_0060"]

    @property
    def bare(self):
        return self.boundjid.bare


def submit_form(client, form_type, fields):
    """A data form of type submit with FORM_TYPE and the given fields (text values)."""
    form = client.plugin["xep_0004"].make_form(ftype="submit")
    form.add_field(var="FORM_TYPE", ftype="hidden", value=form_type)
    for var, value in fields.items():
        form.add_field(var=var, value=value)
    return form


def payload_element(namespace, name, text=None, **attributes):
    element = ET.Element(f"{{{namespace}}}{name}", {key: str(value) for key, value in attributes.items()})
    if text is not None:
        element.text = text
    return element


def entry(title):
    element = payload_element(ATOM, "entry")
    ET.SubElement(element, f"{{{ATOM}}}title").text = title
    return element


def items_of(result):
    """(id, payload element or None) of each item in a pubsub <items/> result, in order."""
    return [(item["id"], item.xml[0] if len(item.xml) else None) for item in result["pubsub"]["items"]]


def event_items(message):
    """The <item/> and <retract/> children of a pubsub event's <items/>, with the node."""
    items = message.xml.find(f"{{{NS_EVENT}}}event/{{{NS_EVENT}}}items")
    return (None, []) if items is None else (items.get("node"), list(items))


def published_ids(message):
    node, children = event_items(message)
    return node, [child.get("id") for child in children if child.tag == f"{{{NS_EVENT}}}item"]


def app_condition(error):
    """The pubsub#errors application condition of an IqError, as its element name."""
    element = error.iq.xml.find("{jabber:client}error")
    if element is None:
        return None
    for child in element:
        if child.tag.startswith(f"{{{NS_ERRORS}}}"):
            return child.tag.split("}", 1)[1]
    return None


async def expect_error(awaitable, condition, description, application=None):
    try:
        result = await awaitable
    except IqError as error:
        check(error.condition == condition, f"{description}: the error is <{error.condition}/>, not <{condition}/>: {error.iq}")
        if application is not None:
            check(app_condition(error) == application,
                  f"{description}: the pubsub#errors condition is {app_condition(error)!r}, not {application!r}: {error.iq}")
        return error
    raise AssertionError(f"{description}: expected <{condition}/>, got a result: {result}")


async def request(awaitable, description):
    """An IQ that must succeed; an error names the step and the condition."""
    try:
        return await awaitable
    except IqError as error:
        raise AssertionError(f"{description}: <{error.condition}/> {error.text or ''}: {error.iq}") from None
    except IqTimeout:
        raise AssertionError(f"{description}: no answer within {TIMEOUT} s") from None


async def wait_until(predicate, description):
    for _ in range(TIMEOUT * 10):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out: {description}")


async def pubsub_service(alice, bob):
    node = f"interop-{uuid.uuid4().hex[:8]}"

    begin("disco#info on the pubsub service")
    info = await request(alice.plugin["xep_0030"].get_info(jid=SERVICE, timeout=TIMEOUT), "disco#info on the service")
    identities = {(category, kind) for category, kind, _lang, _name in info["disco_info"]["identities"]}
    check(("pubsub", "service") in identities, f"{SERVICE} has the identity pubsub/service: {identities}")
    features = set(info["disco_info"]["features"])
    for feature in ("", "#create-nodes", "#create-and-configure", "#publish", "#subscribe", "#retrieve-items",
                    "#retract-items", "#purge-nodes", "#delete-nodes", "#item-ids", "#publish-options"):
        check(NS_PUBSUB + feature in features, f"{SERVICE} has the feature {NS_PUBSUB + feature}")

    begin("alice creates a node with a configuration form")
    config = alice.plugin["xep_0004"].make_form(ftype="submit")
    config.add_field(var="pubsub#title", value="Interop news")
    config.add_field(var="pubsub#access_model", value="open")
    config.add_field(var="pubsub#max_items", value="10")
    config.add_field(var="pubsub#notify_retract", ftype="boolean", value=True)
    config.add_field(var="pubsub#notify_delete", ftype="boolean", value=True)
    config.add_field(var="pubsub#send_last_published_item", value="never")
    created = await request(alice.pubsub.create_node(SERVICE, node, config=config, timeout=TIMEOUT), "creating the node")
    # §8.1.2: the service may leave out <create/> when it used the requested name.
    create = created.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}create")
    check(create is None or create.get("node") == node, f"the node is named as asked: {created}")

    begin("the node's configuration reads back")
    owner_config = await request(alice.pubsub.get_node_config(SERVICE, node, timeout=TIMEOUT), "reading the node configuration")
    values = owner_config["pubsub_owner"]["configure"]["form"].get_values()
    check(values.get("pubsub#title") == "Interop news", f"pubsub#title reads back: {values.get('pubsub#title')!r}")
    check(values.get("pubsub#max_items") == "10", f"pubsub#max_items reads back as 10: {values.get('pubsub#max_items')!r}")
    check(values.get("pubsub#access_model") == "open", f"pubsub#access_model reads back as open: {values.get('pubsub#access_model')!r}")
    check(values.get("pubsub#send_last_published_item") == "never",
          f"pubsub#send_last_published_item reads back as never: {values.get('pubsub#send_last_published_item')!r}")

    begin("the node is listed and described")
    items = await request(bob.plugin["xep_0030"].get_items(jid=SERVICE, timeout=TIMEOUT), "disco#items on the service")
    check(any(listed_node == node for _jid, listed_node, _name in items["disco_items"]["items"]),
          f"{SERVICE} lists the node {node}: {items['disco_items']['items']}")
    info = await request(bob.plugin["xep_0030"].get_info(jid=SERVICE, node=node, timeout=TIMEOUT), "disco#info on the node")
    identities = {(category, kind) for category, kind, _lang, _name in info["disco_info"]["identities"]}
    check(("pubsub", "leaf") in identities, f"the node is a pubsub/leaf: {identities}")
    meta = info.xml.find(f"{{{NS_DISCO_INFO}}}query/{{jabber:x:data}}x")
    check(meta is not None, f"the node's disco#info carries the meta-data form: {info}")
    meta_values = {field.get("var"): [value.text for value in field.findall("{jabber:x:data}value")] for field in meta.findall("{jabber:x:data}field")}
    check(meta_values.get("pubsub#title") == ["Interop news"], f"the meta-data names the title: {meta_values}")
    # pubsub#owner is optional in the meta-data (Prosody leaves it out); when listed, it is alice.
    check(meta_values.get("pubsub#owner") in (None, [alice.bare]), f"the meta-data names alice as the owner, if any: {meta_values}")

    begin("bob subscribes")
    subscribed = await request(bob.pubsub.subscribe(SERVICE, node, timeout=TIMEOUT), "subscribing")
    subscription = subscribed["pubsub"]["subscription"]
    check(subscription["subscription"] == "subscribed", f"bob is subscribed: {subscription}")
    check(slixmpp.JID(subscription["jid"]) == slixmpp.JID(bob.bare), f"the subscription is bob's bare JID: {subscription['jid']}")
    check(subscription["node"] == node, f"the subscription is to {node}: {subscription['node']}")
    mine = await request(bob.pubsub.get_subscriptions(SERVICE, node, timeout=TIMEOUT), "bob's subscriptions")
    check([(s["node"], s["subscription"]) for s in mine["pubsub"]["subscriptions"]] == [(node, "subscribed")],
          f"bob's subscriptions list the node: {mine}")

    begin("alice publishes items with IDs; bob is notified")
    for item_id, title in (("one", "First"), ("two", "Second"), ("three", "Third")):
        reply = await request(alice.pubsub.publish(SERVICE, node, id=item_id, payload=entry(title), timeout=TIMEOUT), f"publishing {item_id}")
        published = reply.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}publish/{{{NS_PUBSUB}}}item")
        check(published is not None and published.get("id") == item_id, f"the publish result names the item {item_id}: {reply}")
        name, message = await bob.events.take(lambda e: e[0] == "pubsub_publish" and published_ids(e[1]) == (node, [item_id]),
                                              f"the notification of item {item_id}")
        check(message["from"] == SERVICE, f"the notification comes from {SERVICE}, not {message['from']}")
        _node, children = event_items(message)
        title_element = children[0].find(f"{{{ATOM}}}entry/{{{ATOM}}}title")
        check(title_element is not None and title_element.text == title, f"the notification carries the payload {title!r}: {message}")

    begin("retrieving all items")
    result = await request(bob.pubsub.get_items(SERVICE, node, timeout=TIMEOUT), "retrieving all items")
    got = items_of(result)
    check([item_id for item_id, _ in got] == ["one", "two", "three"], f"all three items, oldest first: {[i for i, _ in got]}")
    check([payload.find(f"{{{ATOM}}}title").text for _, payload in got] == ["First", "Second", "Third"], "with their payloads")

    begin("retrieving an item by ID")
    result = await request(bob.pubsub.get_item(SERVICE, node, "two", timeout=TIMEOUT), "retrieving item two")
    got = items_of(result)
    check([item_id for item_id, _ in got] == ["two"], f"only item two: {[i for i, _ in got]}")
    check(got[0][1] is not None and got[0][1].find(f"{{{ATOM}}}title").text == "Second", f"with its payload: {result}")

    begin("retrieving with max_items")
    result = await request(bob.pubsub.get_items(SERVICE, node, max_items=2, timeout=TIMEOUT), "retrieving the last two items")
    ids = [item_id for item_id, _ in items_of(result)]
    check(sorted(ids) == ["three", "two"], f"max_items=2 gives the two newest items: {ids}")

    begin("bob may not publish, purge, configure or delete")
    await expect_error(bob.pubsub.publish(SERVICE, node, id="bob", payload=entry("Bob's"), timeout=TIMEOUT), "forbidden", "bob publishes")
    await expect_error(bob.pubsub.purge(SERVICE, node, timeout=TIMEOUT), "forbidden", "bob purges")
    await expect_error(bob.pubsub.get_node_config(SERVICE, node, timeout=TIMEOUT), "forbidden", "bob reads the configuration")
    await expect_error(bob.pubsub.delete_node(SERVICE, node, timeout=TIMEOUT), "forbidden", "bob deletes")
    result = await request(bob.pubsub.get_items(SERVICE, node, timeout=TIMEOUT), "retrieving after bob's attempts")
    check([item_id for item_id, _ in items_of(result)] == ["one", "two", "three"], "bob's attempts changed nothing")
    check(not bob.events.find(lambda e: e[0] == "pubsub_publish" and published_ids(e[1])[1] == ["bob"]), "and notified nothing")

    begin("alice retracts an item with notify")
    await request(alice.pubsub.retract(SERVICE, node, "two", notify=True, timeout=TIMEOUT), "retracting item two")

    def retraction(e):
        item_node, children = event_items(e[1])
        return e[0] == "pubsub_retract" and item_node == node and [c.get("id") for c in children if c.tag == f"{{{NS_EVENT}}}retract"] == ["two"]
    await bob.events.take(retraction, "the retraction notice for item two")
    result = await request(bob.pubsub.get_items(SERVICE, node, timeout=TIMEOUT), "retrieving after the retraction")
    check([item_id for item_id, _ in items_of(result)] == ["one", "three"], f"item two is gone: {[i for i, _ in items_of(result)]}")
    await expect_error(bob.pubsub.retract(SERVICE, node, "one", notify=True, timeout=TIMEOUT), "forbidden", "bob retracts alice's item")

    begin("alice purges the node")
    await request(alice.pubsub.purge(SERVICE, node, timeout=TIMEOUT), "purging")
    _name, message = await bob.events.take(lambda e: e[0] == "pubsub_purge" and e[1]["pubsub_event"]["purge"]["node"] == node, "the purge notice")
    check(message["from"] == SERVICE, f"the purge notice comes from {SERVICE}")
    result = await request(bob.pubsub.get_items(SERVICE, node, timeout=TIMEOUT), "retrieving after the purge")
    check(items_of(result) == [], f"no items after the purge: {items_of(result)}")

    begin("alice deletes the node")
    await request(alice.pubsub.delete_node(SERVICE, node, timeout=TIMEOUT), "deleting")
    await bob.events.take(lambda e: e[0] == "pubsub_delete" and e[1]["pubsub_event"]["delete"]["node"] == node, "the deletion notice")
    await expect_error(bob.pubsub.get_items(SERVICE, node, timeout=TIMEOUT), "item-not-found", "retrieving from the deleted node")
    await expect_error(bob.plugin["xep_0030"].get_info(jid=SERVICE, node=node, timeout=TIMEOUT), "item-not-found", "disco#info on the deleted node")
    others = [(name, str(message)) for name, message in bob.events.entries if message["from"] == SERVICE]
    check(not others, f"bob got no other notifications from {SERVICE}: {others}")


async def mutual_subscription(alice, bob, carol):
    begin("alice and bob subscribe to each other")
    alice.roster.auto_authorize = True
    bob.roster.auto_authorize = True
    bob.roster.auto_subscribe = True
    if alice.client_roster["bob@" + DOMAIN]["subscription"] != "both":
        alice.send_presence_subscription(pto=f"bob@{DOMAIN}")
    await wait_until(lambda: alice.client_roster[f"bob@{DOMAIN}"]["subscription"] == "both", "alice's roster item for bob is 'both'")
    await wait_until(lambda: bob.client_roster[f"alice@{DOMAIN}"]["subscription"] == "both", "bob's roster item for alice is 'both'")
    check(True, "alice and bob are subscribed to each other")
    check(carol.bare not in alice.client_roster or alice.client_roster[carol.bare]["subscription"] == "none",
          f"carol has no presence subscription to alice: {alice.client_roster[carol.bare]['subscription'] if carol.bare in alice.client_roster else 'not in roster'}")


async def personal_eventing(alice, bob, carol):
    begin("disco#info on the account")
    info = await request(alice.plugin["xep_0030"].get_info(jid=alice.bare, timeout=TIMEOUT), "disco#info on alice's bare JID")
    identities = {(category, kind) for category, kind, _lang, _name in info["disco_info"]["identities"]}
    check(("pubsub", "pep") in identities, f"alice's account has the identity pubsub/pep: {identities}")
    features = set(info["disco_info"]["features"])
    check(NS_PUBSUB in features and f"{NS_PUBSUB}#publish-options" in features, "the account lists pubsub and publish-options")

    begin("bob's client announces its PEP interests through caps")
    # xep_0118 and xep_0084 registered tune+notify and avatar metadata+notify at bind. An
    # identity of his own makes bob's verification string unlike alice's, so that the server
    # (which remembers verified strings) has to ask bob's client what his stands for.
    await bob.plugin["xep_0030"].add_identity(category="client", itype="pc", name="bob's pubsub interop client")
    await bob.plugin["xep_0115"].update_caps(broadcast=False)
    ver = await bob.plugin["xep_0115"].get_verstring(bob.boundjid)
    info = await bob.plugin["xep_0030"].get_info(jid=bob.boundjid, local=True)
    own = set((info["disco_info"] if isinstance(info, slixmpp.Iq) else info)["features"])
    check(f"{NS_TUNE}+notify" in own and f"{NS_AVATAR_METADATA}+notify" in own, f"bob's client announces tune+notify and metadata+notify: {sorted(own)}")
    bob.caps_queries.discard(lambda _iq: True)
    bob.send_presence()
    caps_node = bob.plugin["xep_0115"].caps_node
    query = await bob.caps_queries.take(lambda iq: iq["disco_info"]["node"] == f"{caps_node}#{ver}",
                                        f"the server's disco#info query for bob's verification string {ver}")
    # From the PEP service of an account that got bob's presence: alice's or bob's own (a
    # server may ask once for both, as Starling does, or once per account, as Prosody does).
    check(query["from"] in (slixmpp.JID(alice.bare), slixmpp.JID(bob.bare)),
          f"the caps query comes from alice's or bob's bare JID (a PEP service), not {query['from']}")

    begin("alice publishes a tune; bob is notified")
    reply = await request(alice.plugin["xep_0118"].publish_tune(artist="Starling", title="Interop Blues", length=240, timeout=TIMEOUT),
                          "publishing the tune")
    check(reply["type"] == "result", "the tune is published")
    _name, message = await bob.events.take(lambda e: e[0] == "user_tune_publish" and e[1]["from"] == slixmpp.JID(alice.bare),
                                           "the tune notification from alice")
    tune = message["pubsub_event"]["items"]["item"]["tune"]
    check((tune["artist"], tune["title"]) == ("Starling", "Interop Blues"), f"the notification carries the tune: {message}")
    check(message["to"].bare == bob.bare, f"the notification is addressed to bob: {message['to']}")

    begin("a second tune reaches bob as it is published")
    await request(alice.plugin["xep_0118"].publish_tune(artist="Starling", title="Second Song", timeout=TIMEOUT), "publishing a second tune")
    _name, message = await bob.events.take(
        lambda e: e[0] == "user_tune_publish" and e[1]["pubsub_event"]["items"]["item"]["tune"]["title"] == "Second Song",
        "the second tune notification")
    check(message["pubsub_event"]["items"]["item"]["id"] == "current", "the tune item is 'current'")

    begin("reading the tune node: bob may, carol (no subscription) may not")
    result = await request(bob.pubsub.get_items(alice.bare, NS_TUNE, timeout=TIMEOUT), "bob reads alice's tune node")
    got = items_of(result)
    check(len(got) == 1 and got[0][0] == "current", f"the node keeps one item, 'current': {[i for i, _ in got]}")
    await expect_error(carol.pubsub.get_items(alice.bare, NS_TUNE, timeout=TIMEOUT), PRESENCE_REFUSAL,
                       "carol reads alice's presence-access tune node",
                       application="presence-subscription-required" if PRESENCE_REFUSAL == "not-authorized" else None)
    check(not carol.events.find(lambda e: e[0] == "user_tune_publish"), "carol got no tune notification")


OMEMO_DEVICE = 1234567
BUNDLE_NODE = f"{NS_AXOLOTL}.bundles:{OMEMO_DEVICE}"
DEVICELIST_NODE = f"{NS_AXOLOTL}.devicelist"


def omemo_devicelist():
    devices = payload_element(NS_AXOLOTL, "list")
    ET.SubElement(devices, f"{{{NS_AXOLOTL}}}device", {"id": str(OMEMO_DEVICE)})
    return devices


def omemo_bundle():
    def key(seed):
        return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()
    bundle = payload_element(NS_AXOLOTL, "bundle")
    ET.SubElement(bundle, f"{{{NS_AXOLOTL}}}signedPreKeyPublic", {"signedPreKeyId": "1"}).text = key("spk")
    ET.SubElement(bundle, f"{{{NS_AXOLOTL}}}signedPreKeySignature").text = key("sig") + key("sig2")
    ET.SubElement(bundle, f"{{{NS_AXOLOTL}}}identityKey").text = key("ik")
    prekeys = ET.SubElement(bundle, f"{{{NS_AXOLOTL}}}prekeys")
    for number in range(1, 21):
        ET.SubElement(prekeys, f"{{{NS_AXOLOTL}}}preKeyPublic", {"preKeyId": str(number)}).text = key(f"pk{number}")
    return bundle


async def omemo(alice, carol):
    begin("alice publishes an OMEMO device list with publish-options")
    # As Conversations and Dino do: item 'current', access model open.
    options = submit_form(alice, NS_PUBLISH_OPTIONS, {"pubsub#access_model": "open"})
    await request(alice.pubsub.publish(alice.bare, DEVICELIST_NODE, id="current", payload=omemo_devicelist(), options=options, timeout=TIMEOUT),
                  "publishing the device list")

    begin("alice publishes an OMEMO bundle with publish-options")
    options = submit_form(alice, NS_PUBLISH_OPTIONS, {"pubsub#access_model": "open", "pubsub#max_items": "max"})
    await request(alice.pubsub.publish(alice.bare, BUNDLE_NODE, id="current", payload=omemo_bundle(), options=options, timeout=TIMEOUT),
                  "publishing the bundle")

    begin("carol, a stranger, fetches the device list and the bundle")
    result = await request(carol.pubsub.get_items(alice.bare, DEVICELIST_NODE, timeout=TIMEOUT), "carol fetches the device list")
    got = items_of(result)
    check([item_id for item_id, _ in got] == ["current"], f"the device list has the item 'current': {[i for i, _ in got]}")
    devices = [device.get("id") for device in got[0][1].findall(f"{{{NS_AXOLOTL}}}device")] if got[0][1] is not None else []
    check(devices == [str(OMEMO_DEVICE)], f"the device list holds device {OMEMO_DEVICE}: {devices}")
    result = await request(carol.pubsub.get_items(alice.bare, BUNDLE_NODE, max_items=1, timeout=TIMEOUT), "carol fetches the bundle")
    got = items_of(result)
    check([item_id for item_id, _ in got] == ["current"], f"the bundle node has the item 'current': {[i for i, _ in got]}")
    bundle = got[0][1]
    check(bundle is not None and bundle.tag == f"{{{NS_AXOLOTL}}}bundle", f"the item is the bundle: {result}")
    expected = omemo_bundle()
    check(bundle.find(f"{{{NS_AXOLOTL}}}identityKey").text == expected.find(f"{{{NS_AXOLOTL}}}identityKey").text, "the identity key is intact")
    check(len(bundle.findall(f"{{{NS_AXOLOTL}}}prekeys/{{{NS_AXOLOTL}}}preKeyPublic")) == 20, "all 20 prekeys are there")

    begin("the same publish-options again are met")
    options = submit_form(alice, NS_PUBLISH_OPTIONS, {"pubsub#access_model": "open"})
    await request(alice.pubsub.publish(alice.bare, DEVICELIST_NODE, id="current", payload=omemo_devicelist(), options=options, timeout=TIMEOUT),
                  "publishing the device list again with the same publish-options")
    options = submit_form(alice, NS_PUBLISH_OPTIONS, {"pubsub#access_model": "open", "pubsub#max_items": "max"})
    await request(alice.pubsub.publish(alice.bare, BUNDLE_NODE, id="current", payload=omemo_bundle(), options=options, timeout=TIMEOUT),
                  "publishing the bundle again with the same publish-options")

    begin("publish-options that conflict with the node are refused")
    options = submit_form(alice, NS_PUBLISH_OPTIONS, {"pubsub#access_model": "presence"})
    await expect_error(alice.pubsub.publish(alice.bare, DEVICELIST_NODE, id="current", payload=omemo_devicelist(), options=options, timeout=TIMEOUT),
                       "conflict", "publishing the device list with access_model presence", application="precondition-not-met")
    result = await request(carol.pubsub.get_items(alice.bare, DEVICELIST_NODE, timeout=TIMEOUT), "carol fetches the device list after the refusal")
    check([item_id for item_id, _ in items_of(result)] == ["current"], "the refused publish left the node open to carol")


ROOM_ONE = f"interop-one@conference.{DOMAIN}"
ROOM_TWO = f"interop-two@conference.{DOMAIN}"


async def bookmarks(alice):
    begin("the account lists urn:xmpp:bookmarks:1#compat")
    info = await request(alice.plugin["xep_0030"].get_info(jid=alice.bare, timeout=TIMEOUT), "disco#info on alice's bare JID")
    features = set(info["disco_info"]["features"])
    check(f"{NS_BOOKMARKS2}#compat" in features, f"alice's account lists {NS_BOOKMARKS2}#compat: {sorted(features)}")

    begin("alice stores XEP-0048 bookmarks in private XML storage")
    legacy = alice.plugin["xep_0048"].stanza.Bookmarks()
    legacy.add_conference(ROOM_ONE, "Alice", name="Room One", autojoin=True)
    await request(alice.plugin["xep_0048"].set_bookmarks(legacy, method="xep_0049", timeout=TIMEOUT), "storing bookmarks in private XML")

    begin("the conference is in the urn:xmpp:bookmarks:1 PEP node")
    result = await request(alice.pubsub.get_items(alice.bare, NS_BOOKMARKS2, timeout=TIMEOUT), "reading the bookmarks PEP node")
    items = {item["id"]: item for item in result["pubsub"]["items"]}
    check(list(items) == [ROOM_ONE], f"the node has one item, id {ROOM_ONE}: {list(items)}")
    conference = items[ROOM_ONE]["conference"]
    check(conference["name"] == "Room One" and conference["autojoin"] is True and conference["nick"] == "Alice",
          f"the item is the conference with its name, autojoin and nick: {items[ROOM_ONE]}")

    begin("alice publishes a second conference to urn:xmpp:bookmarks:1")
    second = alice.plugin["xep_0402"].stanza.Conference()
    second["name"] = "Room Two"
    second["autojoin"] = False
    second["nick"] = "Alice2"
    # XEP-0402 §5: the publish-options every client sends.
    options = submit_form(alice, NS_PUBLISH_OPTIONS, {
        "pubsub#persist_items": "true", "pubsub#max_items": "max",
        "pubsub#send_last_published_item": "never", "pubsub#access_model": "whitelist"})
    await request(alice.plugin["xep_0163"].publish(second, node=NS_BOOKMARKS2, id=ROOM_TWO, options=options, timeout=TIMEOUT),
                  "publishing the second conference with the XEP-0402 publish-options")

    begin("private XML storage shows both conferences")
    stored = await request(alice.plugin["xep_0048"].get_bookmarks(method="xep_0049", timeout=TIMEOUT), "reading private XML bookmarks")
    conferences = {str(conf["jid"]): conf for conf in stored["private"]["bookmarks"]["conferences"]}
    check(set(conferences) == {ROOM_ONE, ROOM_TWO}, f"private XML storage has both conferences: {sorted(conferences)}")
    check((conferences[ROOM_TWO]["name"], conferences[ROOM_TWO]["nick"], conferences[ROOM_TWO]["autojoin"]) == ("Room Two", "Alice2", False),
          f"the second conference keeps its name, nick and autojoin: {stored}")
    check((conferences[ROOM_ONE]["name"], conferences[ROOM_ONE]["nick"], conferences[ROOM_ONE]["autojoin"]) == ("Room One", "Alice", True),
          f"the first conference is unchanged: {stored}")
    result = await request(alice.pubsub.get_items(alice.bare, NS_BOOKMARKS2, timeout=TIMEOUT), "reading the bookmarks PEP node again")
    check(sorted(item["id"] for item in result["pubsub"]["items"]) == sorted([ROOM_ONE, ROOM_TWO]), "the PEP node has both conferences")


# A 1×1 PNG.
AVATAR = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


async def avatars(alice, bob):
    avatar_id = hashlib.sha1(AVATAR).hexdigest()

    begin("the account lists urn:xmpp:pep-vcard-conversion:0")
    info = await request(alice.plugin["xep_0030"].get_info(jid=alice.bare, timeout=TIMEOUT), "disco#info on alice's bare JID")
    check("urn:xmpp:pep-vcard-conversion:0" in set(info["disco_info"]["features"]), "alice's account lists urn:xmpp:pep-vcard-conversion:0")

    begin("alice publishes an avatar with xep_0084")
    reply = await request(alice.plugin["xep_0084"].publish_avatar(AVATAR, timeout=TIMEOUT), "publishing the avatar data")
    item = reply.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}publish/{{{NS_PUBSUB}}}item")
    check(item is not None and item.get("id") == avatar_id, f"the avatar data item is the SHA-1 {avatar_id}: {reply}")
    await request(alice.plugin["xep_0084"].publish_avatar_metadata({"id": avatar_id, "type": "image/png", "bytes": len(AVATAR)}, timeout=TIMEOUT),
                  "publishing the avatar metadata")
    _name, message = await bob.events.take(lambda e: e[0] == "avatar_metadata_publish" and e[1]["from"] == slixmpp.JID(alice.bare),
                                           "the avatar metadata notification")
    info = message.xml.find(f"{{{NS_EVENT}}}event/{{{NS_EVENT}}}items/{{{NS_EVENT}}}item/{{{NS_AVATAR_METADATA}}}metadata/{{{NS_AVATAR_METADATA}}}info")
    check(info is not None and info.get("id") == avatar_id, f"bob's notification names the avatar {avatar_id}: {message}")
    result = await request(bob.plugin["xep_0084"].retrieve_avatar(alice.bare, avatar_id, timeout=TIMEOUT), "bob retrieves the avatar data")
    data = [item for item in result["pubsub"]["items"]]
    check(len(data) == 1 and data[0]["avatar_data"]["value"] == AVATAR, f"bob gets the avatar bytes back: {result}")

    begin("alice's vCard has the avatar as PHOTO")
    card = await request(bob.plugin["xep_0054"].get_vcard(jid=alice.bare, cached=False, local=False, timeout=TIMEOUT), "bob reads alice's vCard")
    photo = card.xml.find(f"{{{NS_VCARD}}}vCard/{{{NS_VCARD}}}PHOTO")
    check(photo is not None, f"alice's vCard has a PHOTO: {card}")
    binval = photo.find(f"{{{NS_VCARD}}}BINVAL")
    check(binval is not None and "".join((binval.text or "").split()) == base64.b64encode(AVATAR).decode(),
          f"the PHOTO's BINVAL is the published base64: {card}")
    kind = photo.find(f"{{{NS_VCARD}}}TYPE")
    check(kind is not None and kind.text == "image/png", f"the PHOTO's TYPE is image/png: {card}")
    fn = card.xml.find(f"{{{NS_VCARD}}}vCard/{{{NS_VCARD}}}FN")
    check(fn is None or fn.text == "Alice Liddell", f"the rest of the vCard is kept: {card}")

    begin("alice's presence carries the avatar hash")
    bob.presences.discard(lambda _p: True)
    alice.send_presence(pstatus="with an avatar")

    def stamped(presence):
        if presence["from"] != alice.boundjid or presence["status"] != "with an avatar":
            return False
        return True
    presence = await bob.presences.take(stamped, "alice's new presence")
    photo = presence.xml.find(f"{{{NS_VCARD_UPDATE}}}x/{{{NS_VCARD_UPDATE}}}photo")
    check(photo is not None and photo.text == avatar_id, f"alice's presence carries <x xmlns='{NS_VCARD_UPDATE}'><photo>{avatar_id}</photo></x>: {presence}")


async def main():
    alice, bob, carol = Client("alice"), Client("bob"), Client("carol")
    for client in (alice, bob, carol):
        await client.login()
    await pubsub_service(alice, bob)
    await mutual_subscription(alice, bob, carol)
    await personal_eventing(alice, bob, carol)
    await omemo(alice, carol)
    await bookmarks(alice)
    await avatars(alice, bob)
    for client in (alice, bob, carol):
        client.disconnect()
    print(f"slixmpp pubsub interop: {progress.passed} passed, 0 failed")


run(main, "slixmpp pubsub interop")
