#!/usr/bin/env bash
# A real browser: headless Chromium (Debian's `chromium`) loads test pages served on
# loopback, which connect to Starling's HTTPS listener over WebSocket (RFC 7395) and then over
# BOSH (XEP-0206, with fetch() across origins), log in with SASL, bind, and exchange a
# message with a slixmpp client over TCP. The result is read
# from the page's DOM (--dump-dom), and the peer's own record of what it received is checked
# too. Exits 77 when Chromium cannot be installed (no package source).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/chromium.sh
source scripts/lib/chromium.sh

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

# The page comes from another origin than Starling, as a web client's would. Each check gets
# its own page server (the page server finishes one page's load).
run_page() {  # name url expected resource body
    local name="$1" url="$2" expected="$3" resource="$4" body="$5"
    rm -f "$WORK/received"
    python3 Tests/Interop/browser_page_server.py Tests/Interop/browser > "$WORK/page-$name.log" 2>&1 &
    PAGE_PID=$!
    local page_port=""
    for _ in $(seq 1 100); do
        page_port="$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/page-$name.log" | head -1)"
        [[ -n "$page_port" ]] && break
        sleep 0.1
    done
    [[ -n "$page_port" ]] || { echo "the page server did not start"; cat "$WORK/page-$name.log"; exit 1; }
    # The certificate is the self-signed one Starling made; the page's own check is the XMPP exchange.
    timeout 60 chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors --user-data-dir="$WORK/profile-$name" \
        --dump-dom "http://127.0.0.1:$page_port/$url" > "$WORK/dom-$name.html" 2> "$WORK/chromium-$name.log" || true
    kill "$PAGE_PID" 2> /dev/null || true
    wait "$PAGE_PID" 2> /dev/null || true
    PAGE_PID=""
    local result
    result="$(sed -n 's/.*<p id="result">\([^<]*\)<\/p>.*/\1/p' "$WORK/dom-$name.html")"
    if [[ "$result" != "$expected" ]]; then
        echo "$name: the page says '$result', expected '$expected'"
        echo "--- page log ---"; sed -n '/<pre id="log">/,/<\/pre>/p' "$WORK/dom-$name.html" | head -40
        echo "--- server log ---"; tail -20 "$WORK/server.log"
        exit 1
    fi
    # What the peer saw, independently of the page.
    [[ "$(sed -n 1p "$WORK/received")" == "alice@localhost/$resource" && "$(sed -n 2p "$WORK/received")" == "$body" ]] || {
        echo "$name: the slixmpp peer did not record the browser's message:"; cat "$WORK/received" 2> /dev/null; exit 1
    }
    echo "browser: Chromium logged in over $name and exchanged a message with slixmpp over TCP ($result)"
}

run_page WebSocket "websocket.html?ws=wss://localhost:$HTTPS_PORT/xmpp-websocket&user=alice&password=alice-password&peer=bob@localhost" \
    "ok:bob@localhost/tcp:pong: ping from chromium" chromium "ping from chromium"
run_page BOSH "bosh.html?bosh=https://localhost:$HTTPS_PORT/http-bind&user=alice&password=alice-password&peer=bob@localhost" \
    "ok:bob@localhost/tcp:pong: ping from chromium over BOSH" chromium-bosh "ping from chromium over BOSH"
