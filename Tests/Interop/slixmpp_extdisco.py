"""Asks Starling for its external services (XEP-0215) as a slixmpp client and prints each
service as `type host port username password` (username and password `-` when it has none)."""
import asyncio
import ssl
import sys

import slixmpp
from slixmpp.xmlstream import ET

NS = "urn:xmpp:extdisco:2"


async def main(host, port, cert, jid, password):
    client = slixmpp.ClientXMPP(jid, password)
    context = ssl.create_default_context(cafile=cert)
    context.check_hostname = False
    client.ssl_context = context
    ready = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(True))
    client.connect(host=host, port=int(port))
    await asyncio.wait_for(ready, 30)
    iq = client.make_iq_get(ito=client.boundjid.domain)
    iq.append(ET.Element(f"{{{NS}}}services"))
    answer = await iq.send(timeout=15)
    for service in answer.xml.iter(f"{{{NS}}}service"):
        print(" ".join(service.get(name) or "-" for name in ("type", "host", "port", "username", "password")), flush=True)
    client.disconnect()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
