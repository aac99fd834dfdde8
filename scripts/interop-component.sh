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
start_starling "$WORK/server.log" serve --config "$WORK/starling.yaml"
COMPONENT_PORT="$(listener_port component)"
[[ -n "$COMPONENT_PORT" ]] || { echo "no component port in: $SERVING"; exit 1; }

if ! timeout 120 "$VENV/bin/python" Tests/Interop/slixmpp_component.py 127.0.0.1 "$PORT" "$COMPONENT_PORT" "$WORK/data/tls/certificate.pem" "$SECRET"; then
    echo "--- slixmpp_component failed; server log ---"; cat "$WORK/server.log"
    exit 1
fi
if grep -qF "$SECRET" "$WORK/server.log"; then
    echo "the server log contains the component's shared secret"
    exit 1
fi
