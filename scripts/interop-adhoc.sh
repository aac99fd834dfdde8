#!/usr/bin/env bash
# Interoperability of ad-hoc commands (XEP-0050) and service administration (XEP-0133):
# slixmpp's xep_0050 plugin drives Starling's commands as an admin (listed in `admins`) and as
# a non-admin (Tests/Interop/slixmpp_adhoc.py), ending with the shutdown command, after which
# the server process must end by itself. Starts Starling on loopback ports it picks
# itself (port 0, read back from its start-up line), with a fresh data directory, and stops
# only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh

cat > "$WORK/starling.yaml" <<YAML
hosts: [localhost]
data_dir: $WORK/data
log_level: info
admins: [admin@localhost]
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: 0, tls: starttls}
YAML
for name in admin bob; do
    echo "$name-pass" | "$STARLING" adduser "$name@localhost" --password-stdin --config "$WORK/starling.yaml"
done
start_starling "$WORK/server.log" serve --config "$WORK/starling.yaml"

if ! timeout 120 "$VENV/bin/python" Tests/Interop/slixmpp_adhoc.py 127.0.0.1 "$PORT" "$WORK/data/tls/certificate.pem"; then
    echo "--- slixmpp_adhoc failed; server log ---"; cat "$WORK/server.log"
    exit 1
fi
# The script ended with the shutdown command: `starling serve` stops as for SIGTERM.
for _ in $(seq 1 200); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server still runs 20 s after the shutdown command"; cat "$WORK/server.log"
    exit 1
fi
wait "$SERVER_PID" || { echo "the server exited with status $? after the shutdown command"; cat "$WORK/server.log"; exit 1; }
SERVER_PID=""
grep -q "shutdown requested by an administrator" "$WORK/server.log" || { echo "the server log does not show the shutdown request"; exit 1; }
# The password add-user set went through a form: it must not reach the log.
if grep -qF "carol-pass" "$WORK/server.log"; then
    echo "the server log contains a password set through add-user"
    exit 1
fi
grep -q "account created by an administrator" "$WORK/server.log" || { echo "the server log does not show add-user's account"; exit 1; }
exit 0
