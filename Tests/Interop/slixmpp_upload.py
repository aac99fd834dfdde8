"""HTTP File Upload (XEP-0363) with slixmpp's own xep_0363 plugin: alice finds the upload
service through disco (store/file at upload.DOMAIN, max-file-size in its XEP-0128 form),
uploads a file of random bytes with upload_file() (slot request, then an HTTPS PUT with
aiohttp), sends bob the GET URL, and bob downloads it byte for byte. Then the refusals
slixmpp itself reports: a file larger than max-file-size (FileTooBig, before any slot), and
the same slot's PUT URL used twice (an HTTPError from the second PUT).

Usage: slixmpp_upload.py HOST PORT CA_FILE [DOMAIN]
Accounts alice@ and bob@DOMAIN (default localhost) must exist with passwords <name>-pass.
The upload URLs point at the server's HTTPS listener, whose certificate CA_FILE is: both the
upload and the download verify it. On a failure it names the step, prints the last stanzas,
and exits non-zero. INTEROP_DEBUG=1 logs every stanza as it goes.
"""
import asyncio
import io
import os
import ssl
import sys

import aiohttp
import slixmpp
import slixmpp.plugins.xep_0363.http_upload as http_upload
from interop_checks import begin, check, progress, run
from interop_client import InteropClient
from slixmpp.exceptions import IqError

HOST, PORT, CA_FILE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
DOMAIN = sys.argv[4] if len(sys.argv) > 4 else "localhost"
SERVICE = slixmpp.JID(f"upload.{DOMAIN}")
NS_UPLOAD = "urn:xmpp:http:upload:0"
TIMEOUT = 30
TLS = ssl.create_default_context(cafile=CA_FILE)


def trusting_session(*args, **kwargs):
    """slixmpp's plugin opens aiohttp sessions with the system's trust store; the server's
    certificate is self-signed, so its sessions trust CA_FILE instead (still verified)."""
    kwargs.setdefault("connector", aiohttp.TCPConnector(ssl=TLS))
    return aiohttp.ClientSession(*args, **kwargs)


http_upload.ClientSession = trusting_session


class Client(InteropClient):
    def __init__(self, name):
        super().__init__(f"{name}@{DOMAIN}/upload", f"{name}-pass", CA_FILE,
                         plugins=("xep_0030", "xep_0004", "xep_0128", "xep_0363"))
        self.messages = asyncio.Queue()
        self.add_event_handler("message", self.messages.put_nowait)

    async def login(self):
        await super().login(HOST, PORT)


async def download(url):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=TLS)) as session:
        async with session.get(url) as response:
            return response.status, response.headers, await response.read()


async def discovery(alice):
    begin("the upload service in disco")
    items = await alice.plugin["xep_0030"].get_items(jid=DOMAIN, timeout=TIMEOUT)
    check(SERVICE in [item[0] for item in items["disco_items"]["items"]], f"{SERVICE} is listed in {DOMAIN}'s disco#items")
    info = await alice.plugin["xep_0363"].find_upload_service(timeout=TIMEOUT)
    check(info is not None and info["from"] == SERVICE, "xep_0363 finds the service (store/file with the upload feature)")
    forms = [form for form in info["disco_info"].iterables if form["values"].get("FORM_TYPE") == [NS_UPLOAD]]
    check(len(forms) == 1, "disco#info carries one upload data form")
    limit = int(forms[0]["values"]["max-file-size"])
    check(limit > 0, f"max-file-size is announced ({limit})")
    return limit


async def upload_and_download(alice, bob):
    begin("upload with xep_0363 and download by another client")
    data = os.urandom(700_000)
    url = await alice.plugin["xep_0363"].upload_file("interop sample.bin", size=len(data), content_type="application/octet-stream",
                                              input_file=io.BytesIO(data), timeout=TIMEOUT)
    check(url.startswith("https://"), f"upload_file returns an https GET URL ({url.split('?')[0]})")
    alice.send_message(mto=bob.boundjid.bare, mbody=url, mtype="chat")
    message = await asyncio.wait_for(bob.messages.get(), TIMEOUT)
    check(message["body"] == url, "bob gets the URL")
    status, headers, body = await download(message["body"])
    check(status == 200, "bob's GET is 200")
    check(body == data, f"bob downloads the {len(data)} bytes alice uploaded, byte for byte")
    check(headers.get("Content-Disposition", "").startswith("attachment"), "binary data is served as an attachment")
    check(headers.get("X-Content-Type-Options") == "nosniff", "with nosniff")


async def refusals(alice, limit):
    begin("refusals slixmpp reports")
    try:
        await alice.plugin["xep_0363"].upload_file("huge.bin", size=limit + 1, input_file=io.BytesIO(b""), timeout=TIMEOUT)
        check(False, "a file over max-file-size is refused")
    except http_upload.FileTooBig:
        check(True, "a file over max-file-size is refused by the plugin (FileTooBig)")
    try:
        await alice.plugin["xep_0363"].request_slot(SERVICE, "huge.bin", limit + 1, timeout=TIMEOUT)
        check(False, "the service refuses a slot over max-file-size")
    except IqError as error:
        check(error.iq["error"]["condition"] == "not-acceptable", "the service refuses the slot with not-acceptable")
        too_large = error.iq.xml.find(f".//{{{NS_UPLOAD}}}file-too-large/{{{NS_UPLOAD}}}max-file-size")
        check(too_large is not None and int(too_large.text) == limit, "and names the limit in <file-too-large/>")

    slot_iq = await alice.plugin["xep_0363"].request_slot(SERVICE, "twice.txt", 5, "text/plain", timeout=TIMEOUT)
    put_url = slot_iq["http_upload_slot"]["put"]["url"]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=TLS)) as session:
        headers = {"Content-Type": "text/plain"}
        async with session.put(put_url, data=b"first", headers=headers) as response:
            check(response.status == 201, "the first PUT to a slot is 201")
        async with session.put(put_url, data=b"again", headers=headers) as response:
            check(response.status in (403, 409), f"a second PUT to the same slot is refused ({response.status})")
    status, _, body = await download(slot_iq["http_upload_slot"]["get"]["url"])
    check(status == 200 and body == b"first", "the stored file is the first one")


async def main():
    alice, bob = Client("alice"), Client("bob")
    for client in (alice, bob):
        await client.login()
    limit = await discovery(alice)
    await upload_and_download(alice, bob)
    await refusals(alice, limit)
    for client in (alice, bob):
        client.disconnect()
    print(f"slixmpp upload interop: {progress.passed} passed, 0 failed")


run(main, "slixmpp upload interop")
