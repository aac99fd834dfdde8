#!/usr/bin/env bash
# tls-exporter (RFC 9266) against an implementation that is not ours: OpenSSL's s_client is the
# TLS client and computes the binding with its own exporter (-keymatexport), and a hashlib SCRAM
# client logs in with it (Tests/Interop/openssl_tls_exporter.py). For each TLS 1.3 cipher suite
# and both STARTTLS and direct TLS: OpenSSL's binding logs in, a wrong one is refused, and
# server-first carries the XEP-0474 hash; over TLS 1.2 only tls-server-end-point is offered.
# Then XEP-0484 FAST: a SASL2 login asks for tokens, and new connections log in with
# HT-SHA-256-EXPR (over OpenSSL's exporter) and HT-SHA-256-NONE computed with Python's hmac.
# Then the server log (debug level) must hold no exporter or traffic secret. Needs openssl and
# python3; starts Starling on free loopback ports and stops only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

STARLING="${STARLING:-.build/debug/starling}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
[[ -x "$STARLING" ]] || swift build --product starling
# shellcheck source=lib/starling.sh
source scripts/lib/starling.sh

echo "exporter-pass" | "$STARLING" adduser alice@localhost --password-stdin --data-dir "$WORK/data"
: > "$WORK/server.log"
start_starling "$WORK/server.log" serve --data-dir "$WORK/data" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0 --log-level debug
DIRECT_PORT="$(listener_port 'direct')"

for target in "$PORT starttls" "$DIRECT_PORT direct"; do
    for suite in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 tls1.2; do
        # shellcheck disable=SC2086
        if ! timeout 60 python3 Tests/Interop/openssl_tls_exporter.py $target "$suite" exporter-pass; then
            echo "--- $target $suite failed; server log ---"; cat "$WORK/server.log"
            exit 1
        fi
    done
    # shellcheck disable=SC2086
    if ! timeout 120 python3 Tests/Interop/openssl_tls_exporter.py $target TLS_AES_128_GCM_SHA256 exporter-pass fast; then
        echo "--- $target FAST failed; server log ---"; cat "$WORK/server.log"
        exit 1
    fi
done

# Key-log labels never reach the log, nor does anything that looks like a 32- or 48-byte secret in hex.
if grep -qE "EXPORTER_SECRET|TRAFFIC_SECRET|CLIENT_RANDOM|[0-9a-fA-F]{64}" "$WORK/server.log"; then
    echo "the server log holds key-log material:"; grep -E "EXPORTER_SECRET|TRAFFIC_SECRET|CLIENT_RANDOM|[0-9a-fA-F]{64}" "$WORK/server.log" | head -5
    exit 1
fi
echo "server log at debug level: no key-log material in $(wc -l < "$WORK/server.log") lines"
# FAST tokens never reach the log either.
if grep -q "secret-token:" "$WORK/server.log"; then
    echo "the server log holds a FAST token"; exit 1
fi
