"""Drives Starling's admin web UI in headless Chromium over the DevTools protocol, as an
operator would with a mouse: log in (a wrong password first), create an account, watch a
slixmpp client of that account appear among the sessions, kick it, and check that a form
stripped of its CSRF token is refused. Screenshots of each page go to the artifacts directory.

Usage: admin_ui_browser.py ADMIN_URL C2S_HOST C2S_PORT CERTIFICATE ARTIFACTS_DIR
Exits non-zero with the reason on the first check that fails."""
import asyncio
import base64
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile

import aiohttp
import slixmpp


class Failed(Exception):
    pass


class Page:
    """One Chromium tab, spoken to over its DevTools WebSocket."""

    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.events = []

    async def call(self, method, **params):
        self.next_id += 1
        ident = self.next_id
        await self.socket.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.socket.receive_json(), 30)
            if message.get("id") == ident:
                if "error" in message:
                    raise Failed(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def wait_for_load(self, action):
        """Runs an action that navigates, and waits for the new page's load event."""
        self.events.clear()
        await action()
        for _ in range(600):
            if any(event.get("method") == "Page.loadEventFired" for event in self.events):
                return
            try:
                message = await asyncio.wait_for(self.socket.receive_json(), 0.05)
                self.events.append(message)
            except asyncio.TimeoutError:
                pass
        raise Failed("the page did not finish loading within 30 s")

    async def open(self, url):
        await self.wait_for_load(lambda: self.call("Page.navigate", url=url))

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise Failed(f"script failed: {expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def submit(self, form_selector, fields, button="button[type=submit]"):
        """Fills a form's fields and clicks its submit button, as a person would."""
        assignments = "".join(
            f"form.querySelector('[name={name}]').value = {json.dumps(value)};" for name, value in fields.items())
        script = (f"(() => {{ const form = document.querySelector({json.dumps(form_selector)}); {assignments}"
                  f" form.querySelector({json.dumps(button)}).click(); }})()")
        await self.wait_for_load(lambda: self.evaluate(script))

    async def text(self):
        return await self.evaluate("document.body.innerText")

    async def url(self):
        return await self.evaluate("location.pathname + location.search")

    async def screenshot(self, path):
        result = await self.call("Page.captureScreenshot", format="png")
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(result["data"]))


def expect(condition, message):
    if not condition:
        raise Failed(message)
    print(f"ok: {message}", flush=True)


async def start_chromium(profile):
    process = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
         "--window-size=1200,900", "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    loop = asyncio.get_running_loop()
    for _ in range(200):
        line = await loop.run_in_executor(None, process.stderr.readline)
        found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if found:
            port = int(found.group(1))
            break
        if not line and process.poll() is not None:
            break
    if port is None:
        process.kill()
        raise Failed("Chromium did not open its DevTools port")
    return process, port


async def xmpp_client(jid, password, host, port, certificate):
    """A slixmpp client logged in as jid; resolves `ended` when the server closes its stream."""
    client = slixmpp.ClientXMPP(jid, password)
    client.register_plugin("xep_0045")
    context = ssl.create_default_context(cafile=certificate)
    context.check_hostname = False
    client.ssl_context = context
    loop = asyncio.get_running_loop()
    started, ended = loop.create_future(), loop.create_future()
    client.add_event_handler("session_start", lambda _: (client.send_presence(), started.done() or started.set_result(True)))
    client.add_event_handler("stream_error", lambda error: ended.done() or ended.set_result(error["condition"]))
    client.add_event_handler("disconnected", lambda _: ended.done() or ended.set_result("disconnected"))
    client.connect(host=host, port=port)
    await asyncio.wait_for(started, 30)
    return client, ended


async def run(admin_url, host, port, certificate, artifacts):
    profile = tempfile.mkdtemp(prefix="starling-chromium-")
    chromium, devtools = await start_chromium(profile)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{devtools}/json/list") as answer:
                targets = await answer.json()
            target = next(target for target in targets if target["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024) as socket:
                page = Page(socket)
                await page.call("Page.enable")
                await check_ui(page, admin_url, host, port, certificate, artifacts)
    finally:
        chromium.terminate()
        try:
            chromium.wait(10)
        except subprocess.TimeoutExpired:
            chromium.kill()
        shutil.rmtree(profile, ignore_errors=True)


async def check_ui(page, admin_url, host, port, certificate, artifacts):
    shot = lambda name: page.screenshot(os.path.join(artifacts, f"{name}.png"))

    await page.open(f"{admin_url}/admin/")
    expect(await page.url() == "/admin/login", "an anonymous visit to the dashboard lands on the login page")
    await shot("login")

    await page.submit("form[action='/admin/login']", {"account": "admin@localhost", "password": "wrong-password"})
    text = await page.text()
    expect("Wrong address or password" in text, f"a wrong password is refused (the page says: {text[:300]!r})")
    expect(await page.url() == "/admin/login", "a wrong password stays on the login page")

    await page.submit("form[action='/admin/login']", {"account": "admin@localhost", "password": "admin-password"})
    expect(await page.url() == "/admin/", "the administrator's password opens the dashboard")
    text = await page.text()
    expect("connected sessions" in text and "messages/s" in text and "uptime" in text, "the dashboard shows the server's figures")
    cookies = (await page.call("Network.getCookies")).get("cookies", [])
    session = [cookie for cookie in cookies if cookie["name"] == "starling_admin"]
    expect(len(session) == 1 and session[0]["httpOnly"] and session[0]["secure"] and session[0]["sameSite"] == "Strict",
           "the session cookie is HttpOnly, Secure and SameSite=Strict in the browser's jar")
    expect(await page.evaluate("document.cookie") == "", "scripts on the page cannot read the session cookie")

    await page.open(f"{admin_url}/admin/accounts")
    await page.submit("form[action='/admin/accounts'][method='post']", {"jid": "newcomer@localhost", "password": "newcomer-password"})
    expect("Created newcomer@localhost." in await page.text(), "the accounts page creates an account")
    await page.open(f"{admin_url}/admin/accounts")
    expect("newcomer@localhost" in await page.text(), "the new account is listed")
    await shot("accounts")

    client, ended = await xmpp_client("newcomer@localhost/slixmpp", "newcomer-password", host, port, certificate)
    expect(client.boundjid.bare == "newcomer@localhost", "slixmpp logs in as the account the browser created")
    await page.open(f"{admin_url}/admin/")
    expect("1\nconnected sessions" in await page.text(), "the dashboard counts the session")
    await asyncio.wait_for(client.plugin["xep_0045"].join_muc_wait("lobby@conference.localhost", "Newcomer"), 30)
    await page.open(f"{admin_url}/admin/")
    expect("1 (1)\nrooms in use (occupants)" in await page.text(), "the dashboard counts the room and its occupant")
    await shot("dashboard")
    await page.open(f"{admin_url}/admin/rooms")
    expect("lobby@conference.localhost" in await page.text(), "the room slixmpp joined is on the rooms page")
    await shot("rooms")
    await page.open(f"{admin_url}/admin/room?jid=lobby@conference.localhost")
    expect("Newcomer" in await page.text(), "the room page shows slixmpp's nickname among the occupants")
    await shot("room")
    await page.open(f"{admin_url}/admin/sessions")
    expect("newcomer@localhost/slixmpp" in await page.text(), "the slixmpp session appears on the sessions page")
    await shot("sessions")
    kick = ("(() => { const row = [...document.querySelectorAll('tr')].find(r => r.innerText.includes('newcomer@localhost/slixmpp'));"
            " row.querySelector('button').click(); })()")
    await page.wait_for_load(lambda: page.evaluate(kick))
    expect("Ended 1 session(s) of newcomer@localhost/slixmpp." in await page.text(), "the Kick button ends the session")
    condition = await asyncio.wait_for(ended, 15)
    expect(condition in ("policy-violation", "disconnected"), f"slixmpp saw its stream end ({condition})")
    client.disconnect()
    await page.open(f"{admin_url}/admin/sessions")
    expect("newcomer@localhost/slixmpp" not in await page.text(), "the kicked session is gone from the list")

    await page.open(f"{admin_url}/admin/status")
    await shot("status")
    await page.open(f"{admin_url}/admin/account?jid=newcomer@localhost")
    await shot("account")

    # A form whose CSRF token was taken out is refused, and nothing changes.
    await page.open(f"{admin_url}/admin/accounts")
    await page.evaluate("document.querySelector(\"form[action='/admin/accounts'][method='post'] [name=csrf]\").remove()")
    await page.submit("form[action='/admin/accounts'][method='post']", {"jid": "forged@localhost", "password": "forged-password"})
    expect("CSRF token" in await page.text(), "a form without its CSRF token is refused")
    await page.open(f"{admin_url}/admin/accounts?search=forged")
    expect("0 accounts match" in await page.text(), "the refused form created no account")

    await page.open(f"{admin_url}/admin/")
    await page.submit("header form", {})
    expect(await page.url() == "/admin/login", "logging out returns to the login page")
    await page.open(f"{admin_url}/admin/sessions")
    expect(await page.url() == "/admin/login", "after logging out the pages need a login again")


if __name__ == "__main__":
    try:
        asyncio.run(run(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
    except (Failed, asyncio.TimeoutError, StopIteration) as failure:
        print(f"FAILED: {failure!r}", flush=True)
        sys.exit(1)
