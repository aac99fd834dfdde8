#!/usr/bin/env bash
# Checks the checker: runs Tests/Interop/slixmpp_pubsub.py against Prosody (Debian's package:
# mod_pubsub at pubsub.localhost, mod_pep, mod_private, mod_bookmarks, mod_vcard_legacy),
# which nobody here wrote, so a failure there is a fault in the check rather than in Starling.
# Prosody lets only its admins create nodes on a pubsub component, so alice is an admin here.
# Prosody runs on 127.0.0.1 with its own configuration and data in a temporary directory, a
# self-signed certificate for localhost and pubsub.localhost, and users alice, bob and carol;
# only the Prosody started here is stopped, by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/servers.sh
source scripts/lib/servers.sh
VENV="${SLIXMPP_VENV:-.build-interop/venv}"
WORK="$(mktemp -d)"
PROSODY_PID=""
cleanup() {
    if [[ -n "$PROSODY_PID" ]]; then kill "$PROSODY_PID" 2>/dev/null || true; wait "$PROSODY_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v prosody > /dev/null || install_peer_servers
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import slixmpp" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "slixmpp>=1.8"
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,DNS:pubsub.localhost" \
    -keyout "$WORK/localhost.key" -out "$WORK/localhost.crt" 2> /dev/null
chmod 644 "$WORK/localhost.key"

# Prosody cannot bind port 0 and report it, so a free port is picked and, should another
# process take it first, the start is tried again with another one (three times at most).
start_prosody() {
    local port="$1"
    mkdir -p "$WORK/data"
    cat > "$WORK/prosody.cfg.lua" << EOF
$( [[ $(id -u) -eq 0 ]] && echo "run_as_root = true" )
pidfile = "$WORK/prosody.pid"
data_path = "$WORK/data"
certificates = "$WORK"
interfaces = { "127.0.0.1" }
c2s_ports = { $port }
s2s_ports = { }
c2s_require_encryption = true
authentication = "internal_hashed"
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "presence"; "pep"; "private"; "bookmarks"; "vcard_legacy" }
admins = { "alice@localhost" }
modules_disabled = { "s2s" }
log = { debug = "$WORK/prosody.log" }
ssl = { certificate = "$WORK/localhost.crt"; key = "$WORK/localhost.key" }
VirtualHost "localhost"
Component "pubsub.localhost" "pubsub"
EOF
    for name in alice bob carol; do
        prosodyctl --config "$WORK/prosody.cfg.lua" register "$name" localhost "$name-pass"
    done
    prosody --config "$WORK/prosody.cfg.lua" -F > "$WORK/stdout.log" 2>&1 &
    PROSODY_PID=$!
    for _ in $(seq 1 150); do
        (echo > "/dev/tcp/127.0.0.1/$port") 2> /dev/null && return 0
        kill -0 "$PROSODY_PID" 2> /dev/null || break
        sleep 0.2
    done
    kill "$PROSODY_PID" 2> /dev/null || true
    wait "$PROSODY_PID" 2> /dev/null || true
    PROSODY_PID=""
    return 1
}

PORT=""
for _ in 1 2 3; do
    candidate="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    if start_prosody "$candidate"; then PORT="$candidate"; break; fi
done
[[ -n "$PORT" ]] || { echo "Prosody did not start:"; tail -30 "$WORK/stdout.log" "$WORK/prosody.log" 2> /dev/null; exit 1; }

# Prosody 0.12 refuses a read of a presence-access node by a stranger with <forbidden/> alone,
# where XEP-0060 (6.5.9.4) has <not-authorized/> and <presence-subscription-required/>.
if ! PUBSUB_PRESENCE_REFUSAL=forbidden timeout 120 "$VENV/bin/python" Tests/Interop/slixmpp_pubsub.py 127.0.0.1 "$PORT" "$WORK/localhost.crt"; then
    echo "--- slixmpp_pubsub.py failed against Prosody; Prosody log (last 60 lines) ---"
    tail -60 "$WORK/prosody.log"
    exit 1
fi
