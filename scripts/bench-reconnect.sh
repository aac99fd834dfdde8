#!/usr/bin/env bash
# What a reconnect costs: login/logout churn with each login profile starling-load speaks —
# rfc6120 (SASL, stream restart, bind), sasl2 (XEP-0388 SASL2 with XEP-0386 Bind 2) and fast
# (SASL2 and Bind 2 with a XEP-0484 token, HT-SHA-256-NONE) — over STARTTLS and direct TLS
# (XEP-0368). Per run: logins/s, server CPU per login, login latency on loopback and the round
# trips each login waited on (TCP and the TLS 1.3 handshake counted as one each): on a phone
# network the latency is roughly loopback latency + round trips × RTT. One release build, a
# fresh server per run, SCRAM-SHA-1 for the password logins (as the rivals' benchmarks use).
# Server on core SERVER_CORE, generator on LOAD_CORE. Prints each run's RESULT line.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/servers.sh
source scripts/lib/servers.sh
N="${N:-1000}"
DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-50}"
SERVER_CORE="${SERVER_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"
SOURCES="127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"
WORK="$(mktemp -d /tmp/starling-reconnect.XXXXXX)"
PID=""
trap 'stop_pinned_starling; rm -rf "$WORK"' EXIT
ulimit -n "$(ulimit -Hn)"

# SKIP_BUILD=1 runs the binaries already in .build/release (built from another tree state).
[[ "${SKIP_BUILD:-}" == 1 ]] || swift build -c release --product starling > /dev/null
[[ "${SKIP_BUILD:-}" == 1 ]] || swift build -c release --product starling-load > /dev/null
LOAD=(taskset -c "$LOAD_CORE" .build/release/starling-load)

make_bench_certificate "$WORK"
write_starling_load_config "$WORK/starling.yml" "$WORK/data" 25222 warning false \
    "tls: {certificate: $WORK/localhost.crt, private_key: $WORK/localhost.key}"
sed -i 's|^  - {kind: c2s, addresses: \[127.0.0.1\], port: 25222, tls: starttls}$|&\n  - {kind: c2s, addresses: [127.0.0.1], port: 25223, tls: direct}|' "$WORK/starling.yml"

start() { start_pinned_starling "$WORK/starling.yml" "$WORK/server.log" 25223; }

start
"${LOAD[@]}" register --port 25222 --users "$N" --concurrency 200 --sources "$SOURCES" --mechanism PLAIN | grep RESULT
stop_pinned_starling
for profile in rfc6120 sasl2 fast; do
    for tls in "starttls 25222" "direct 25223"; do
        read -r mode port <<< "$tls"
        start
        sleep 1
        echo "=== $profile over $mode ==="
        "${LOAD[@]}" churn --port "$port" --tls "$mode" --login "$profile" --accounts "$N" --concurrency "$CONCURRENCY" \
            --duration "$DURATION" --sources "$SOURCES" --scram-cache "$WORK/scram-cache" --server-pid "$PID" | grep RESULT
        stop_pinned_starling
    done
done
