#!/usr/bin/env bash
# Interoperability of external components (XEP-0114): slixmpp's ComponentXMPP connects to
# Starling with a shared secret and a slixmpp client talks to it through the server. Starts
# Starling on loopback ports it picks itself (port 0, read back from its start-up line), with a
# fresh data directory, and stops only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh

SECRET="component-secret-$RANDOM$RANDOM"
cat > "$WORK/starling.yaml" <<YAML
hosts: [localhost]
data_dir: $WORK/data
log_level: debug
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: 0, tls: starttls}
  - {kind: component, addresses: [127.0.0.1], port: 0}
components:
  echo.localhost: {secret: "$SECRET"}
YAML
echo "alice-pass" | "$STARLING" adduser alice@localhost --password-stdin --config "$WORK/starling.yaml"
"$STARLING" serve --config "$WORK/starling.yaml" > "$WORK/stdout.log" 2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
    grep -q "Starling serving" "$WORK/stdout.log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server did not start"; cat "$WORK/server.log"; exit 1; }
    sleep 0.1
done
C2S_PORT="$(grep -o '127.0.0.1 port [0-9]* (starttls)' "$WORK/stdout.log" | head -1 | cut -d' ' -f3)"
COMPONENT_PORT="$(grep -o 'port [0-9]* (component)' "$WORK/stdout.log" | head -1 | cut -d' ' -f2)"
[[ -n "$C2S_PORT" && -n "$COMPONENT_PORT" ]] || { echo "no ports in: $(cat "$WORK/stdout.log")"; exit 1; }

if ! timeout 120 "$VENV/bin/python" Tests/Interop/slixmpp_component.py 127.0.0.1 "$C2S_PORT" "$COMPONENT_PORT" "$WORK/data/tls/certificate.pem" "$SECRET"; then
    echo "--- slixmpp_component failed; server log ---"; cat "$WORK/server.log"
    exit 1
fi
if grep -qF "$SECRET" "$WORK/server.log"; then
    echo "the server log contains the component's shared secret"
    exit 1
fi
