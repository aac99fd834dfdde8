"""XEP-0114 interop: slixmpp's own ComponentXMPP connects to Starling as echo.localhost,
and a slixmpp client talks to it through the server: disco#items on the host lists the
component, disco#info reaches the component (answered by slixmpp's XEP-0030 plugin), and a
message to a JID of the component comes back echoed.

Usage: slixmpp_component.py HOST C2S_PORT COMPONENT_PORT CA_FILE SECRET"""
import asyncio
import sys

import slixmpp
from slixmpp.componentxmpp import ComponentXMPP

from interop_client import TIMEOUT, InteropClient

COMPONENT = "echo.localhost"


class EchoComponent(ComponentXMPP):
    def __init__(self, secret, host, port):
        super().__init__(COMPONENT, secret, host, port)
        self.register_plugin("xep_0030")
        self.ready = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", lambda _e: self.ready.done() or self.ready.set_result(True))
        self.add_event_handler("message", self.echo)

    def echo(self, message):
        if message["type"] in ("chat", "normal") and message["body"]:
            reply = self.make_message(mto=message["from"], mfrom=message["to"], mbody="echo: " + message["body"], mtype="chat")
            reply.send()


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


async def main(host, c2s_port, component_port, ca_file, secret):
    component = EchoComponent(secret, host, component_port)
    component.connect()
    await asyncio.wait_for(component.ready, TIMEOUT)

    alice = InteropClient("alice@localhost/interop", "alice-pass", ca_file, plugins=("xep_0030",))
    echoed = asyncio.get_event_loop().create_future()
    alice.add_event_handler(
        "message", lambda m: m["from"].bare == "bot@" + COMPONENT and not echoed.done() and echoed.set_result(m["body"]))
    await alice.login(host, c2s_port)

    items = await alice.plugin["xep_0030"].get_items(jid="localhost", timeout=TIMEOUT)
    listed = [item[0] for item in items["disco_items"]["items"]]
    check(COMPONENT in listed, f"the host's disco#items does not list {COMPONENT}: {listed}")

    info = await alice.plugin["xep_0030"].get_info(jid=COMPONENT, timeout=TIMEOUT)
    check(info["type"] == "result", f"disco#info to the component was answered {info['type']}")

    alice.send_message(mto="bot@" + COMPONENT + "/r", mbody="hello component", mtype="chat")
    body = await asyncio.wait_for(echoed, TIMEOUT)
    check(body == "echo: hello component", f"unexpected echo {body!r}")

    alice.disconnect()
    component.disconnect()
    print("slixmpp component interop: OK")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]))
