"""The TCP side of the browser check: logs in with slixmpp, answers the first chat message
with "pong: <body>", writes what it received to a file, and stays until told to stop."""
import asyncio
import ssl
import sys

import slixmpp


async def main(host, port, cert, received_path):
    client = slixmpp.ClientXMPP("bob@localhost/tcp", "bob-password")
    context = ssl.create_default_context(cafile=cert)
    context.check_hostname = False
    client.ssl_context = context
    ready = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: (client.send_presence(), ready.done() or ready.set_result(True)))

    def on_message(message):
        if message["type"] in ("chat", "normal") and message["body"]:
            with open(received_path, "w") as handle:
                handle.write(f"{message['from']}\n{message['body']}\n")
            message.reply(f"pong: {message['body']}").send()

    client.add_event_handler("message", on_message)
    client.connect(host=host, port=int(port))
    await asyncio.wait_for(ready, 30)
    print("peer ready", flush=True)
    await asyncio.sleep(120)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
