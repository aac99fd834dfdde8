#!/usr/bin/env bash
# Server memory per idle authenticated session over TCP (STARTTLS) and over WebSocket (wss),
# on one release build: N accounts registered, then ROUNDS rounds of a fresh server measured
# with `starling-load idle` and a fresh server measured with `starling-load idle-websocket`.
# Server on core SERVER_CORE, generator on LOAD_CORE. Prints each scenario's RESULT line.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/servers.sh
source scripts/lib/servers.sh
N="${N:-10000}"
ROUNDS="${ROUNDS:-2}"
SERVER_CORE="${SERVER_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"
SOURCES="127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"
WORK="$(mktemp -d /tmp/starling-web-idle.XXXXXX)"
PID=""
trap 'stop_pinned_starling; rm -rf "$WORK"' EXIT
ulimit -n "$(ulimit -Hn)"

swift build -c release --product starling > /dev/null
swift build -c release --product starling-load > /dev/null
LOAD=(taskset -c "$LOAD_CORE" .build/release/starling-load)

make_bench_certificate "$WORK"
write_starling_load_config "$WORK/starling.yml" "$WORK/data" 25222 warning false \
    "tls: {certificate: $WORK/localhost.crt, private_key: $WORK/localhost.key}"
# The same listeners plus HTTPS for the WebSocket sessions.
sed -i 's|^  - {kind: c2s, addresses: \[127.0.0.1\], port: 25222, tls: starttls}$|&\n  - {kind: http, addresses: [127.0.0.1], port: 25281, tls: direct}|' "$WORK/starling.yml"

start() { start_pinned_starling "$WORK/starling.yml" "$WORK/server.log" 25281; }

start
"${LOAD[@]}" register --port 25222 --users "$N" --concurrency 200 --sources "$SOURCES" --mechanism PLAIN | grep RESULT
stop_pinned_starling
for _ in $(seq 1 "$ROUNDS"); do
    start
    sleep 2
    "${LOAD[@]}" idle --port 25222 --connections "$N" --concurrency 200 --settle 5 --mechanism PLAIN --sources "$SOURCES" --server-pid "$PID" | grep RESULT
    stop_pinned_starling
    start
    sleep 2
    "${LOAD[@]}" idle-websocket --web-port 25281 --connections "$N" --concurrency 200 --settle 5 --server-pid "$PID" | grep RESULT
    stop_pinned_starling
done
