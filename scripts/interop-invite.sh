#!/usr/bin/env bash
# Invitations end to end with slixmpp (Tests/Interop/slixmpp_invite.py): an invitation made
# with the ad-hoc command, its landing page, a newcomer registering with its token (XEP-0445)
# and ending up subscribed both ways with the inviter; the used token refused to the next.
# Starts Starling on loopback ports it picks itself, with a fresh data directory, and stops
# only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh

cat > "$WORK/starling.yaml" <<YAML
hosts: [localhost]
data_dir: $WORK/data
log_level: debug
invites: {user_invites: accounts}
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: 0, tls: starttls}
  - {kind: http, addresses: [127.0.0.1], port: 0, tls: none}
YAML
echo "alice-pass" | "$STARLING" adduser alice@localhost --password-stdin --config "$WORK/starling.yaml"
start_starling "$WORK/server.log" serve --config "$WORK/starling.yaml"
HTTP_PORT="$(listener_port http)"
[[ -n "$HTTP_PORT" ]] || { echo "no HTTP port in: $SERVING"; exit 1; }

if ! timeout 120 "$VENV/bin/python" Tests/Interop/slixmpp_invite.py 127.0.0.1 "$PORT" "$HTTP_PORT" "$WORK/data/tls/certificate.pem" | tee "$WORK/client.log"; then
    echo "--- slixmpp_invite failed; server log ---"; cat "$WORK/server.log"
    exit 1
fi
token="$(sed -n 's/^token: //p' "$WORK/client.log")"
[[ ${#token} -eq 48 ]] || { echo "the client did not report the invitation's token"; exit 1; }
# Neither the token (nor its secret half alone) nor the newcomer's password reaches the log,
# even at debug level.
grep -q "invitation accepted" "$WORK/server.log" || { echo "the server log does not show the accepted invitation"; exit 1; }
for secret in "${token:16}" "juliet-pass"; do
    if grep -qF -- "$secret" "$WORK/server.log"; then
        echo "the server log contains a secret ($secret):"; grep -F -- "$secret" "$WORK/server.log" | head -5
        exit 1
    fi
done
exit 0
