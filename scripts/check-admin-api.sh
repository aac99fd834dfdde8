#!/usr/bin/env bash
# The admin API against its OpenAPI document (docs/admin-api.yaml): schemathesis, from PyPI,
# generates calls from the document — valid and invalid paths, queries and bodies — and sends
# them to a running Starling with a write token, then with a read token and with none. Every
# answer must be one the document describes, in status, content type and schema, and none may
# be a 5xx. Bounded: a fixed number of examples per operation and a time limit per run.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${EXAMPLES:-40}"
# STARLING, WORK, SERVER_PID (stopped at exit) and start_starling, as the interop scripts use.
# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh
SCHEMATHESIS_VENV="${SCHEMATHESIS_VENV:-.build-interop/schemathesis}"
if [[ ! -x "$SCHEMATHESIS_VENV/bin/schemathesis" ]]; then
    python3 -m venv "$SCHEMATHESIS_VENV"
    "$SCHEMATHESIS_VENV/bin/pip" install --quiet "schemathesis>=4,<5"
fi

D=(--data-dir "$WORK/data")
echo "admin-pass" | "$STARLING" adduser admin@localhost --password-stdin "${D[@]}"
echo "alice-pass" | "$STARLING" adduser alice@localhost --password-stdin "${D[@]}"
WRITE="$("$STARLING" token create --scope write --label schemathesis --expires 1d "${D[@]}" 2>/dev/null)"
READ="$("$STARLING" token create --scope read --label schemathesis --expires 1d "${D[@]}" 2>/dev/null)"
cat > "$WORK/starling.yml" << YAML
admin_api:
  requests_per_second: 10000
  burst: 10000
  lockout_failures: 10000
YAML
start_starling "$WORK/server.log" serve --config "$WORK/starling.yml" "${D[@]}" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0 --admin-port 0 --log-level notice
ADMIN="$(listener_port admin)"
[[ -n "$ADMIN" ]] || { echo "no admin port in: $SERVING"; exit 1; }
BASE="http://127.0.0.1:$ADMIN/admin/api/v1"

# The command line's admin commands go through the same API.
cli() { STARLING_ADMIN_TOKEN="$1" "$STARLING" "${@:2}" --api "http://127.0.0.1:$ADMIN" 2>&1; }
expect_output() { # description, text, output
    [[ "$3" == *"$2"* ]] || { echo "FAILED: $1: $3"; exit 1; }
}
expect_output "starling sessions" "no sessions" "$(cli "$READ" sessions)"
expect_output "starling announce" "sent to 0 sessions" "$(cli "$WRITE" announce "maintenance at noon" --subject Maintenance)"
expect_output "starling kick" "ended 0 sessions" "$(cli "$WRITE" kick alice@localhost)"
expect_output "starling kick with a read token" "needs a token with the scope write (HTTP 403)" "$(cli "$READ" kick alice@localhost || true)"
expect_output "starling kick of another domain" "HTTP 400" "$(cli "$WRITE" kick alice@elsewhere.example || true)"
expect_output "starling status" "accounts   2 (0 disabled)" "$(cli "$READ" status)"
expect_output "starling log-level" "notice" "$(cli "$READ" log-level)"
expect_output "starling log-level warning" "warning" "$(cli "$WRITE" log-level warning)"
expect_output "starling log-level with a bad level" "level must be one of" "$(cli "$WRITE" log-level loud || true)"
expect_output "starling log-level notice" "notice" "$(cli "$WRITE" log-level notice)"
expect_output "starling rooms" "no rooms" "$(cli "$READ" rooms)"
expect_output "starling rooms of an unknown room" "HTTP 404" "$(cli "$READ" rooms nowhere@conference.localhost || true)"
expect_output "starling destroy-room of an unknown room" "HTTP 404" "$(cli "$WRITE" destroy-room nowhere@conference.localhost --reason gone || true)"
expect_output "starling sessions without a token" "set STARLING_ADMIN_TOKEN" "$(cli "" sessions || true)"
expect_output "starling sessions with a bad token" "(HTTP 401)" "$(cli "sta_nope" sessions || true)"
expect_output "starling sessions with no server" "cannot reach the admin API" "$(STARLING_ADMIN_TOKEN="$READ" "$STARLING" sessions --api http://127.0.0.1:1 2>&1 || true)"

run() { # label, extra schemathesis arguments...
    local label="$1"
    shift
    echo "--- schemathesis: $label"
    if ! timeout 300 "$SCHEMATHESIS_VENV/bin/schemathesis" run docs/admin-api.yaml --url "$BASE" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
        --max-examples "$EXAMPLES" --seed 20261201 --no-color "$@"; then
        echo "--- schemathesis failed ($label); server log:"; tail -50 "$WORK/server.log"
        exit 1
    fi
}
run "write token" --header "Authorization: Bearer $WRITE"
run "read token" --header "Authorization: Bearer $READ"
run "no token" --max-examples 5

# The server is still up and every call was audited without the token.
curl -sf -H "Authorization: Bearer $READ" "$BASE/status" > /dev/null || { echo "the server stopped answering"; exit 1; }
grep -q "admin API call" "$WORK/server.log" || { echo "no admin API call was audited"; exit 1; }
for token in "$WRITE" "$READ"; do
    if grep -qF "${token##*_}" "$WORK/server.log"; then echo "a token secret reached the log"; exit 1; fi
done
echo "admin API: schemathesis found no 5xx and no answer outside docs/admin-api.yaml ($(grep -c 'admin API call' "$WORK/server.log") calls audited)"
