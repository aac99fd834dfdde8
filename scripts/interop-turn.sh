#!/usr/bin/env bash
# Audio/video relay credentials (XEP-0215) against a real TURN server: coturn (Debian's
# `coturn`) runs on loopback with `use-auth-secret`; a slixmpp client asks Starling for its
# external services and gets TURN credentials made with the shared secret; coturn's own
# client (turnutils_uclient) allocates a relay with them and moves packets through it, and is
# refused with a password that is off by one character. Exits 77 when coturn cannot be
# installed (no package source).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v turnserver > /dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        (apt-get install -y -q coturn > /dev/null 2>&1 || { apt-get update -q > /dev/null 2>&1 && apt-get install -y -q coturn > /dev/null 2>&1; }) || true
    fi
    command -v turnserver > /dev/null || { echo "coturn is not installed and could not be"; exit 77; }
fi

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh
TURN_PID=""
turn_cleanup() {
    [[ -n "$TURN_PID" ]] && { kill "$TURN_PID" 2> /dev/null || true; wait "$TURN_PID" 2> /dev/null || true; }
    interop_cleanup
}
trap turn_cleanup EXIT

SECRET="turn-secret-$RANDOM$RANDOM"
TURN_PORT="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port="$TURN_PORT" --min-port=49200 --max-port=49400 \
    --use-auth-secret --static-auth-secret="$SECRET" --realm=localhost --no-cli --no-tls --no-dtls --allow-loopback-peers \
    --userdb="$WORK/turndb" --pidfile="$WORK/turn.pid" --log-file=stdout --simple-log > "$WORK/turn.log" 2>&1 &
TURN_PID=$!

cat > "$WORK/starling.yaml" << YAML
hosts: [localhost]
data_dir: $WORK/data
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: 0, tls: starttls}
contact_info:
  admin: ["mailto:admin@localhost"]
external_services:
  - {type: stun, transport: udp, host: 127.0.0.1, port: $TURN_PORT}
  - {type: turn, transport: udp, host: 127.0.0.1, port: $TURN_PORT, secret: "$SECRET"}
YAML
echo "alice-pass" | "$STARLING" adduser alice@localhost --password-stdin --config "$WORK/starling.yaml"
start_starling "$WORK/server.log" serve --config "$WORK/starling.yaml"

timeout 60 "$VENV/bin/python" Tests/Interop/slixmpp_extdisco.py 127.0.0.1 "$PORT" "$WORK/data/tls/certificate.pem" alice@localhost alice-pass > "$WORK/services"
read -r _ _ _ username password < <(grep '^turn ' "$WORK/services") || { echo "no TURN service in the answer:"; cat "$WORK/services"; exit 1; }
grep -q "^stun 127.0.0.1 $TURN_PORT - -$" "$WORK/services" || { echo "the STUN entry is not as configured:"; cat "$WORK/services"; exit 1; }
[[ "$username" == *":alice@localhost" ]] || { echo "the TURN username does not name the account: $username"; exit 1; }

relay() { timeout 30 turnutils_uclient -y -n 5 -m 1 -l 120 -u "$username" -w "$1" -p "$TURN_PORT" 127.0.0.1 > "$WORK/uclient.log" 2>&1; }
if ! relay "$password" || ! grep -q "Total lost packets 0 " "$WORK/uclient.log"; then
    echo "coturn refused the credentials Starling made, or lost packets:"; tail -5 "$WORK/uclient.log"; tail -5 "$WORK/turn.log"; exit 1
fi
forged="$([[ ${password:0:1} == A ]] && echo B || echo A)${password:1}"
if relay "$forged"; then
    echo "coturn accepted a password Starling did not make"; exit 1
fi
echo "TURN: coturn relayed packets with the credentials slixmpp got from Starling (XEP-0215), and refused a forged password"
