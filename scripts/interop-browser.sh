#!/usr/bin/env bash
# A real browser: headless Chromium (Debian's `chromium`) loads a test page served on
# loopback, which opens a WebSocket (RFC 7395) to Starling's HTTPS listener, logs in with
# SASL, binds, and exchanges a message with a slixmpp client over TCP. The result is read
# from the page's DOM (--dump-dom), and the peer's own record of what it received is checked
# too. Exits 77 when Chromium cannot be installed (no package source).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium > /dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        (apt-get install -y -q chromium > /dev/null 2>&1 || { apt-get update -q > /dev/null 2>&1 && apt-get install -y -q chromium > /dev/null 2>&1; }) || true
    fi
    command -v chromium > /dev/null || { echo "chromium is not installed and could not be"; exit 77; }
fi

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh
PAGE_PID=""
PEER_PID=""
browser_cleanup() {
    for pid in "$PAGE_PID" "$PEER_PID"; do
        [[ -n "$pid" ]] && { kill "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true; }
    done
    interop_cleanup
}
trap browser_cleanup EXIT

for name in alice bob; do
    echo "$name-password" | "$STARLING" adduser "$name@localhost" --password-stdin --data-dir "$WORK/data"
done
start_starling "$WORK/server.log" serve --data-dir "$WORK/data" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0 --log-level info
HTTPS_PORT="$(listener_port 'https')"
[[ -n "$HTTPS_PORT" ]] || { echo "no HTTPS port in: $SERVING"; exit 1; }

"$VENV/bin/python" Tests/Interop/browser_peer.py 127.0.0.1 "$PORT" "$WORK/data/tls/certificate.pem" "$WORK/received" > "$WORK/peer.log" 2>&1 &
PEER_PID=$!
for _ in $(seq 1 300); do grep -q "peer ready" "$WORK/peer.log" && break; sleep 0.1; done
grep -q "peer ready" "$WORK/peer.log" || { echo "the slixmpp peer did not log in:"; cat "$WORK/peer.log"; exit 1; }

# The page comes from another origin than the WebSocket, as a web client's would.
python3 Tests/Interop/browser_page_server.py Tests/Interop/browser > "$WORK/page.log" 2>&1 &
PAGE_PID=$!
PAGE_PORT=""
for _ in $(seq 1 100); do
    PAGE_PORT="$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/page.log" | head -1)"
    [[ -n "$PAGE_PORT" ]] && break
    sleep 0.1
done
[[ -n "$PAGE_PORT" ]] || { echo "the page server did not start"; cat "$WORK/page.log"; exit 1; }

URL="http://127.0.0.1:$PAGE_PORT/websocket.html?ws=wss://localhost:$HTTPS_PORT/xmpp-websocket&user=alice&password=alice-password&peer=bob@localhost"
# The certificate is the self-signed one Starling made; the page's own check is the XMPP exchange.
timeout 60 chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors --user-data-dir="$WORK/profile" \
    --dump-dom "$URL" > "$WORK/dom.html" 2> "$WORK/chromium.log" || true

result="$(sed -n 's/.*<p id="result">\([^<]*\)<\/p>.*/\1/p' "$WORK/dom.html")"
expected="ok:bob@localhost/tcp:pong: ping from chromium"
if [[ "$result" != "$expected" ]]; then
    echo "the page says '$result', expected '$expected'"
    echo "--- page log ---"; sed -n '/<pre id="log">/,/<\/pre>/p' "$WORK/dom.html" | head -40
    echo "--- server log ---"; tail -20 "$WORK/server.log"
    exit 1
fi
# What the peer saw, independently of the page.
[[ "$(sed -n 1p "$WORK/received")" == "alice@localhost/chromium" && "$(sed -n 2p "$WORK/received")" == "ping from chromium" ]] || {
    echo "the slixmpp peer did not record the browser's message:"; cat "$WORK/received" 2> /dev/null; exit 1
}
echo "browser: Chromium logged in over WebSocket and exchanged a message with slixmpp over TCP ($result)"
