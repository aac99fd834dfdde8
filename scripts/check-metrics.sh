#!/usr/bin/env bash
# The Prometheus endpoint checked by Prometheus' own tool: starts Starling with a c2s listener
# and a metrics listener on loopback (its own configuration file and data directory), lets two
# slixmpp clients log in and chat (Tests/Interop/slixmpp_chat.py), fetches /metrics with curl,
# runs `promtool check metrics` on it (no lint problem allowed) and checks that the login and
# stanza counters moved. Installs Debian's prometheus package (promtool) when promtool is
# missing, without starting the Prometheus service it ships. Stops only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool > /dev/null; then
    # The package's maintainer scripts would start a Prometheus server; policy-rc.d says no.
    made_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus > /dev/null
    [[ -n "$made_policy" ]] && rm -f /usr/sbin/policy-rc.d
fi
command -v promtool > /dev/null || { echo "promtool is not installed and could not be installed"; exit 1; }
command -v curl > /dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl > /dev/null; }

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh

cat > "$WORK/starling.yaml" << EOF
hosts: [localhost]
data_dir: $WORK/data
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: 0, tls: starttls}
  - {kind: metrics, addresses: [127.0.0.1], port: 0}
EOF
for name in alice bob; do
    echo "$name-pass" | "$STARLING" adduser "$name@localhost" --password-stdin --config "$WORK/starling.yaml"
done
start_starling "$WORK/server.log" serve --config "$WORK/starling.yaml"
METRICS_PORT="$(listener_port 'metrics')"
[[ -n "$METRICS_PORT" ]] || { echo "no metrics port in: $SERVING"; exit 1; }

if ! timeout 120 "$VENV/bin/python" Tests/Interop/slixmpp_chat.py 127.0.0.1 "$PORT" "$WORK/data/tls/certificate.pem"; then
    echo "--- slixmpp_chat failed; server log ---"; cat "$WORK/server.log"
    exit 1
fi

curl --silent --show-error --fail --max-time 10 -D "$WORK/headers" -o "$WORK/metrics.txt" "http://127.0.0.1:$METRICS_PORT/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$WORK/headers" || { echo "unexpected headers:"; cat "$WORK/headers"; exit 1; }
if ! promtool check metrics < "$WORK/metrics.txt"; then
    echo "promtool found problems in /metrics:"; cat "$WORK/metrics.txt"
    exit 1
fi

# The value of one sample, its labels written as the server orders them; 0 when absent.
sample() {
    awk -v key="$1" '$1 == key { print $2; found = 1 } END { if (!found) print 0 }' "$WORK/metrics.txt"
}
at_least() {
    local key="$1" minimum="$2" value
    value="$(sample "$key")"
    if ! awk -v v="$value" -v m="$minimum" 'BEGIN { exit !(v + 0 >= m) }'; then
        echo "$key is $value, expected at least $minimum"; cat "$WORK/metrics.txt"
        exit 1
    fi
    echo "$key $value"
}
at_least 'starling_logins_total{mechanism="SCRAM-SHA-256",outcome="success"}' 2
at_least 'starling_stanzas_received_total{stream="c2s",kind="message"}' 2
at_least 'starling_stanzas_sent_total{stream="c2s",kind="message"}' 2
at_least 'starling_routing_duration_seconds_count' 2
at_least 'starling_process_resident_memory_bytes' 1000000
families="$(grep -c '^# TYPE ' "$WORK/metrics.txt")"
echo "promtool check metrics: no problems in $families metric families; the counters moved"
