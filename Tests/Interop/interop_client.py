"""What every interop script's slixmpp client shares: STARTTLS only, trust in one CA file,
a future that resolves once the session has started (or fails on a refused login), and a
login with a timeout."""
import asyncio
import ssl

import slixmpp

TIMEOUT = 30


class InteropClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password, ca_file, plugins=(), roster_first=True, **kwargs):
        super().__init__(jid, password, **kwargs)
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.ssl_context = ssl.create_default_context(cafile=ca_file)
        for plugin in plugins:
            self.register_plugin(plugin)
        self.roster_first = roster_first
        self.ready = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self._started)
        self.add_event_handler("failed_auth", self._refused)

    async def _started(self, _event):
        if self.roster_first:
            await self.get_roster()
        self.send_presence()
        if not self.ready.done():
            self.ready.set_result(True)

    def _refused(self, _event):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.boundjid.bare}: authentication failed"))

    async def login(self, host, port, timeout=TIMEOUT):
        self.connect(host, port)
        await asyncio.wait_for(self.ready, timeout)
