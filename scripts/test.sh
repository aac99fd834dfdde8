#!/usr/bin/env bash
# The project's test command: unit and integration tests, the storage contract suites on
# PostgreSQL (scripts/test-postgres.sh), the CLI smoke test, the slixmpp
# interop tests (ad-hoc commands among them), schemathesis against the admin API's OpenAPI
# document, promtool on /metrics, profanity and poezio driven in tmux, then federation with
# Prosody and ejabberd. On a fresh Debian machine it installs the two C libraries Starling links (ICU,
# SQLite) when they are missing.
#
# Nothing is skipped silently: federation needs root (network namespace, apt), and without it
# the run fails unless STARLING_SKIP_FEDERATION=1 says to leave it out; the summary at the end
# names every part that ran and every part that was skipped, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[[ -f /usr/include/unicode/uidna.h ]] || missing+=(libicu-dev)
[[ -f /usr/include/sqlite3.h ]] || missing+=(libsqlite3-dev)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && apt-get install -y -qq "${missing[@]}"
    else
        echo "install these Debian packages first: ${missing[*]}" >&2
        exit 1
    fi
fi

# Decide about federation before the long part, so a run that cannot do it fails at once.
federation=run
if [[ "${STARLING_SKIP_FEDERATION:-}" == 1 ]]; then
    federation="skipped: STARLING_SKIP_FEDERATION=1 was set"
elif [[ $(id -u) -ne 0 ]]; then
    echo "scripts/interop-s2s.sh (federation with Prosody and ejabberd) needs root for its network namespace." >&2
    echo "Run as root, or set STARLING_SKIP_FEDERATION=1 to skip it knowingly." >&2
    exit 1
fi

ran=()
# Warnings are bugs in our own code: any compiler warning about a file under Sources/ or
# Tests/ fails the run (dependencies' warnings, under .build/checkouts, are theirs). A build
# only reports the files it compiles, so a clean checkout checks everything and an incremental
# build checks what changed.
build_log="$(mktemp)"
trap 'rm -f "$build_log"' EXIT
swift build --build-tests 2>&1 | tee "$build_log"
own_warnings="$(grep -E ': warning: ' "$build_log" | grep -v '/\.build/' | grep -E '(^|/)(Sources|Tests)/' | sort -u || true)"
if [[ -n "$own_warnings" ]]; then
    echo "=== compiler warnings in Sources/ or Tests/ (warnings are bugs here) ===" >&2
    echo "$own_warnings" >&2
    exit 1
fi
ran+=("swift build --build-tests: no compiler warnings in Sources/ or Tests/")
# A crash prints the crashed thread only: the whole-process report of a test binary with
# hundreds of threads took 15 minutes to symbolicate in CI and hid the thread that mattered.
SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=yes,threads=crashed,images=mentioned}" swift test --skip-build
ran+=("swift test (unit and integration tests)")
# The storage contract suites again with PostgreSQL as a backend (a private cluster on loopback),
# a server on PostgreSQL, and `starling migrate-storage` from SQLite.
bash scripts/test-postgres.sh
ran+=("scripts/test-postgres.sh (contract suites on PostgreSQL, serving on it, migrate-storage)")
bash scripts/cli-smoke.sh
ran+=("scripts/cli-smoke.sh")
bash scripts/interop-slixmpp.sh
ran+=("scripts/interop-slixmpp.sh")
bash scripts/interop-component.sh
ran+=("scripts/interop-component.sh")
bash scripts/interop-adhoc.sh
ran+=("scripts/interop-adhoc.sh")
bash scripts/interop-invite.sh
ran+=("scripts/interop-invite.sh (an invitation redeemed by slixmpp)")
bash scripts/interop-migrate.sh
ran+=("scripts/interop-migrate.sh (Prosody and ejabberd users moved in with XEP-0227)")
bash scripts/interop-tls-exporter.sh
ran+=("scripts/interop-tls-exporter.sh")
bash scripts/check-admin-api.sh
ran+=("scripts/check-admin-api.sh (schemathesis against docs/admin-api.yaml)")
bash scripts/check-metrics.sh
ran+=("scripts/check-metrics.sh (promtool check metrics on /metrics)")
skipped=()
# A script that needs software from Debian exits 77 only when the package cannot be
# installed (no package source), and its last line says why: skipped, and said so below.
run_optional() { # script, what it shows
    local status=0 output
    output="$(bash "$1" 2>&1)" || status=$?
    echo "$output"
    case $status in
        0) ran+=("$1 ($2)") ;;
        77) skipped+=("$1 ($2) — $(tail -1 <<< "$output")") ;;
        *) echo "$1 failed" >&2; exit 1 ;;
    esac
}
run_optional scripts/interop-terminal.sh "profanity and poezio in tmux"
run_optional scripts/interop-browser.sh "Chromium over WebSocket and BOSH"
run_optional scripts/check-admin-ui.sh "the admin web UI in Chromium"
run_optional scripts/interop-turn.sh "TURN credentials (XEP-0215) used with coturn"
if [[ "$federation" == run ]]; then
    bash scripts/interop-s2s.sh
    ran+=("scripts/interop-s2s.sh")
else
    skipped+=("scripts/interop-s2s.sh (federation with Prosody and ejabberd) — $federation")
fi

echo "=== scripts/test.sh summary ==="
for part in "${ran[@]}"; do echo "passed:  $part"; done
for part in "${skipped[@]}"; do echo "SKIPPED: $part"; done
((${#skipped[@]})) || echo "nothing skipped"
