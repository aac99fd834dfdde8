"""Serves the browser check's page on loopback and holds the page's load open until the page
reports that its XMPP exchange is over: the page ends with <script src="/wait">, answered only
after the page fetched /done (or 30 s passed), so Chromium's --dump-dom shows the final DOM."""
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

finished = threading.Event()


class Handler(SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/done"):
            finished.set()
            self.reply(b"ok", "text/plain")
        elif self.path.startswith("/wait"):
            finished.wait(30)
            self.reply(b"// the exchange is over\n", "application/javascript")
        else:
            super().do_GET()

    def reply(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    directory = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: Handler(*a, directory=directory, **k))
    print(f"serving on port {server.server_address[1]}", flush=True)
    server.serve_forever()
