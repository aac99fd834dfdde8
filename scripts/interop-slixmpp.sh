#!/usr/bin/env bash
# Interoperability: two slixmpp clients chat through a Starling server over STARTTLS with
# SCRAM-SHA-256, then roster, presence, vCard, blocking and offline delivery through
# slixmpp's own plugins, then Multi-User Chat at conference.localhost with slixmpp's xep_0045
# (Tests/Interop/slixmpp_muc.py; scripts/interop-prosody-checks.sh muc runs the same check against
# Prosody's MUC, to show the check itself is right), then publish-subscribe with slixmpp's
# pubsub, PEP, avatar and bookmark plugins: the pubsub.localhost service, PEP notifications
# through entity capabilities, OMEMO keys with publish-options, XEP-0402 bookmarks beside
# XEP-0048 ones in private storage, and XEP-0398 avatars in vCards and presence
# (Tests/Interop/slixmpp_pubsub.py; scripts/interop-prosody-checks.sh pubsub runs it against
# Prosody), then HTTP File Upload with slixmpp's xep_0363: a file uploaded over the HTTPS
# listener and downloaded byte for byte by a second client (Tests/Interop/slixmpp_upload.py).
# Installs slixmpp (and aiohttp, which its upload plugin uses) into a virtual environment, starts Starling on a free
# loopback port with a fresh data directory, and stops only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh

for name in alice bob carol; do
    echo "$name-pass" | "$STARLING" adduser "$name@localhost" --password-stdin --data-dir "$WORK/data"
done
# Port 0: the server binds free ports itself and prints them ("Starling serving localhost on
# 127.0.0.1 port N (starttls), ..."), so no port is probed, closed and bound again later.
# Debug level, so that the secret check at the end sees everything the server logs then.
start_starling "$WORK/server.log" serve --data-dir "$WORK/data" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0 --log-level debug

for test in slixmpp_chat slixmpp_im slixmpp_mobile slixmpp_muc slixmpp_pubsub slixmpp_upload; do
    if ! timeout 120 "$VENV/bin/python" "Tests/Interop/$test.py" 127.0.0.1 "$PORT" "$WORK/data/tls/certificate.pem"; then
        echo "--- $test failed; server log ---"; cat "$WORK/server.log"
        exit 1
    fi
done

# No secret reaches the log: the passwords used above, as typed and in base64, and the SCRAM
# messages that carry the username and nonces (raw and base64: "n,,n=" is "biwsbj1", "c=biws"
# is "Yz1iaXdz"). The log must hold the logins (info), or this check looks at nothing.
grep -q "authenticated" "$WORK/server.log" || { echo "the server log has no 'authenticated' lines: the secret check would prove nothing"; exit 1; }
secrets=("n=alice,r=" "n=bob,r=" "c=biws" "biwsbj1" "Yz1iaXdz")
for name in alice bob carol; do
    secrets+=("$name-pass" "$(printf '%s' "$name-pass" | base64)")
done
for secret in "${secrets[@]}"; do
    if grep -qF -- "$secret" "$WORK/server.log"; then
        echo "the server log contains a secret ($secret):"; grep -F -- "$secret" "$WORK/server.log" | head -5
        exit 1
    fi
done
echo "server log at debug level: no password or SASL payload in $(wc -l < "$WORK/server.log") lines"
exit 0
