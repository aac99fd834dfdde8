#!/usr/bin/env bash
# The project's test command: unit and integration tests, then the slixmpp interop test.
# On a fresh Debian machine it installs the two C libraries Starling links (ICU, SQLite)
# when they are missing.
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

swift build --build-tests
swift test --skip-build
bash scripts/cli-smoke.sh
bash scripts/interop-slixmpp.sh
bash scripts/interop-component.sh
# Federation with Prosody and ejabberd needs root for its network namespace.
if [[ $(id -u) -eq 0 ]]; then
    bash scripts/interop-s2s.sh
else
    echo "skipping scripts/interop-s2s.sh: it needs root to create its network namespace"
fi
