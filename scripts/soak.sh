#!/usr/bin/env bash
# A bounded soak test (not part of CI): a release Starling on loopback, USERS clients (default
# 1000) logging in and out and chatting for SECONDS (default 600), then all logged out. Prints
# the server's resident memory before, at the peak and after, to show it returns near its
# baseline. Usage: [ROUNDS=2] [SOAK_LOGINS_ONLY=1] scripts/soak.sh [USERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/servers.sh
source scripts/lib/servers.sh
USERS="${1:-1000}"
SECONDS_TO_RUN="${2:-600}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
swift build -c release --product starling > /dev/null
swift build -c release --product starling-bench > /dev/null
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
write_starling_load_config "$WORK/soak.yml" "$WORK/data" "$PORT" error "${SOAK_ARCHIVE:-true}"
MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-}" .build/release/starling serve --config "$WORK/soak.yml" &
SERVER_PID=$!
for _ in $(seq 1 100); do [[ -s "$WORK/data/tls/certificate.pem" ]] && (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
anonymous() { awk '/^Anonymous/ {print $2}' "/proc/$SERVER_PID/smaps_rollup"; }
echo "baseline RSS: $(rss) KiB (anonymous $(anonymous) KiB)"
PEAK=0
( while kill -0 "$SERVER_PID" 2>/dev/null; do r=$(rss); [[ $r -gt $PEAK ]] && PEAK=$r && echo "$PEAK" > "$WORK/peak"; sleep 1; done ) &
SAMPLER=$!
# Two rounds: memory that keeps growing from one to the next would be a leak; memory that
# comes back to the same level is the allocator's working set.
for round in $(seq 1 "${ROUNDS:-2}"); do
    .build/release/starling-bench soak 127.0.0.1 "$PORT" "$WORK/data/tls/certificate.pem" "$USERS" "$SECONDS_TO_RUN"
    sleep 10
    echo "round $round: peak RSS $(cat "$WORK/peak") KiB, after all clients left $(rss) KiB (anonymous $(anonymous) KiB)"
done
kill "$SAMPLER" 2>/dev/null || true
echo "server CPU seconds: $(awk '{print ($14+$15)/100}' "/proc/$SERVER_PID/stat")"
