# Sourced by the slixmpp interop scripts; run from the repository root. Sets STARLING (the
# binary, built if missing), WORK (a temporary directory removed at exit), VENV (slixmpp and
# aiohttp, installed from PyPI when missing) and SERVER_PID (set it to the server you start: it is
# stopped at exit, and nothing else is).
STARLING="${STARLING:-.build/debug/starling}"
WORK="$(mktemp -d)"
VENV="${SLIXMPP_VENV:-.build-interop/venv}"
SERVER_PID=""
interop_cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap interop_cleanup EXIT

# aiohttp: slixmpp's xep_0363 plugin (HTTP upload) does its HTTP with it.
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import slixmpp, aiohttp" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "slixmpp>=1.8" aiohttp
fi
[[ -x "$STARLING" ]] || swift build --product starling
# shellcheck source=starling.sh
source scripts/lib/starling.sh
