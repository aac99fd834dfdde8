#!/usr/bin/env bash
# The admin web UI in a real browser: headless Chromium (Debian's `chromium`), driven over its
# DevTools protocol by Tests/Interop/admin_ui_browser.py, logs in to Starling's HTTPS admin
# listener (a wrong password first), creates an account, sees a slixmpp client of that account
# among the sessions, kicks it, and has a form without its CSRF token refused. Screenshots of
# each page are kept in $ARTIFACTS (default .build-interop/admin-ui). Exits 77 when Chromium
# cannot be installed (no package source).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/chromium.sh
source scripts/lib/chromium.sh

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh
ARTIFACTS="${ARTIFACTS:-.build-interop/admin-ui}"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.png

cat > "$WORK/starling.yaml" << YAML
hosts: [localhost]
data_dir: $WORK/data
log_level: notice
admins: [admin@localhost]
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: 0, tls: starttls}
  - {kind: admin, addresses: [127.0.0.1], port: 0, tls: direct}
YAML
echo "admin-password" | "$STARLING" adduser admin@localhost --password-stdin --config "$WORK/starling.yaml"
start_starling "$WORK/server.log" serve --config "$WORK/starling.yaml"
ADMIN="$(listener_port 'admin https')"
[[ -n "$ADMIN" ]] || { echo "no HTTPS admin port in: $SERVING"; exit 1; }

if ! timeout 180 "$VENV/bin/python" Tests/Interop/admin_ui_browser.py "https://localhost:$ADMIN" 127.0.0.1 "$PORT" \
    "$WORK/data/tls/certificate.pem" "$ARTIFACTS"; then
    echo "--- the admin UI check failed; server log ---"; tail -40 "$WORK/server.log"
    exit 1
fi
grep -q "refused a web UI login" "$WORK/server.log" || { echo "the wrong password was not logged"; exit 1; }
grep -q "web UI action" "$WORK/server.log" || { echo "the UI's actions were not audited in the log"; exit 1; }
echo "admin UI: Chromium logged in, created an account, kicked its session; screenshots in $ARTIFACTS: $(cd "$ARTIFACTS" && ls -- *.png | tr '\n' ' ')"
