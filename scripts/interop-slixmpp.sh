#!/usr/bin/env bash
# Interoperability: two slixmpp clients chat through a Starling server over STARTTLS with
# SCRAM-SHA-256, then roster, presence, vCard, blocking and offline delivery through
# slixmpp's own plugins. Installs slixmpp into a virtual environment, starts Starling on a free
# loopback port with a fresh data directory, and stops only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

STARLING="${STARLING:-.build/debug/starling}"
WORK="$(mktemp -d)"
VENV="${SLIXMPP_VENV:-.build-interop/venv}"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import slixmpp" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "slixmpp>=1.8"
fi
[[ -x "$STARLING" ]] || swift build --product starling

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
TLS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
for name in alice bob carol; do
    echo "$name-pass" | "$STARLING" adduser "$name@localhost" --password-stdin --data-dir "$WORK/data"
done
"$STARLING" serve --data-dir "$WORK/data" --c2s-port "$PORT" --tls-port "$TLS_PORT" --log-level warning > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    [[ -f "$WORK/data/tls/certificate.pem" ]] && (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

for test in slixmpp_chat slixmpp_im slixmpp_mobile; do
    if ! timeout 120 "$VENV/bin/python" "Tests/Interop/$test.py" 127.0.0.1 "$PORT" "$WORK/data/tls/certificate.pem"; then
        echo "--- $test failed; server log ---"; cat "$WORK/server.log"
        exit 1
    fi
done
grep -qi "password" "$WORK/server.log" && { echo "the server log mentions a password"; exit 1; }
exit 0
