#!/usr/bin/env bash
# Federation interoperability: Starling (starling.test, 127.0.0.1) with Prosody
# (prosody.test, 127.0.0.2) and ejabberd (ejabberd.test, 127.0.0.3), from Debian's packages.
#
# Everything runs inside a network namespace this script creates, with its own /etc/hosts
# (the static host mapping) and a resolv.conf that points at loopback, so no DNS query or
# connection can leave the machine. Two rounds: certificates from a test CA made here (SASL
# EXTERNAL), then self-signed certificates nobody trusts (dialback only). In each round real
# slixmpp clients on both sides exchange messages, subscriptions, presence and pings; then the
# peer's user joins a room on Starling's MUC service (conference.starling.test) over s2s and
# exchanges groupchat messages with a Starling user in it (Tests/Interop/s2s_muc_check.py).
# It stops only the processes it started. Needs root (network namespaces, apt).
#
# Usage: scripts/interop-s2s.sh [prosody|ejabberd ...]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/servers.sh
source scripts/lib/servers.sh
ROOT="$(pwd)"
STARLING="${STARLING:-$ROOT/.build/debug/starling}"
VENV="${SLIXMPP_VENV:-$ROOT/.build-interop/venv}"
PEERS=("${@:-prosody ejabberd}")
read -r -a PEERS <<< "${PEERS[*]}"
NS="starling-s2s-$$"
WORK="$(mktemp -d /tmp/starling-s2s.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
RESULTS=()

cleanup() {
    [[ -n "${DNS_PID:-}" ]] && kill "$DNS_PID" 2>/dev/null || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns pids "$NS" 2>/dev/null | while read -r pid; do
        # Only what runs in our own namespace: the peers' helper processes (epmd, beam).
        kill "$pid" 2>/dev/null || true
    done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "/etc/netns/$NS" "$WORK"
}
trap cleanup EXIT

# --- Installation -----------------------------------------------------------------------
install_peer_servers
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import slixmpp" 2> /dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "slixmpp>=1.8"
fi
[[ -x "$STARLING" ]] || swift build --product starling

# --- The namespace ------------------------------------------------------------------------
mkdir -p "/etc/netns/$NS"
cat > "/etc/netns/$NS/hosts" << 'EOF'
127.0.0.1 localhost starling.test conference.starling.test
127.0.0.2 prosody.test
127.0.0.3 ejabberd.test
EOF
echo "nameserver 127.0.0.1" > "/etc/netns/$NS/resolv.conf"
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
IN=(ip netns exec "$NS")
# A loopback DNS server: A records for the three domains and Starling's MUC service (a peer
# opens a stream of its own to it; without the record Prosody answers remote-server-not-found),
# NXDOMAIN for the rest (SRV included), at once.
"${IN[@]}" python3 Tests/Interop/loopback_dns.py 127.0.0.1 starling.test=127.0.0.1 conference.starling.test=127.0.0.1 \
    prosody.test=127.0.0.2 ejabberd.test=127.0.0.3 &
DNS_PID=$!

# --- Certificates -------------------------------------------------------------------------
make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=Starling interop test CA" \
        -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2> /dev/null
}
make_cert() { # domain mode(ca|self)
    local domain="$1" mode="$2"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$domain" \
        -keyout "$WORK/$domain.key" -out "$WORK/$domain.csr" 2> /dev/null
    # prosody.test gets serverAuth only, as public CAs issue them since 2026: Starling must
    # still accept it as the client certificate of an inbound stream.
    local usage="serverAuth,clientAuth"
    [[ "$domain" == prosody.test ]] && usage="serverAuth"
    # Starling's certificate names its MUC service too, not only through the wildcard.
    local names="DNS:$domain,DNS:*.$domain"
    [[ "$domain" == starling.test ]] && names+=",DNS:conference.$domain"
    printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$names" "$usage" > "$WORK/$domain.ext"
    if [[ "$mode" == ca ]]; then
        openssl x509 -req -in "$WORK/$domain.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 30 \
            -extfile "$WORK/$domain.ext" -out "$WORK/$domain.crt" 2> /dev/null
    else
        openssl x509 -req -in "$WORK/$domain.csr" -signkey "$WORK/$domain.key" -days 30 -extfile "$WORK/$domain.ext" -out "$WORK/$domain.crt" 2> /dev/null
    fi
    cat "$WORK/$domain.crt" "$WORK/$domain.key" > "$WORK/$domain.combined.pem"
    chmod 644 "$WORK/$domain".*
}

wait_port() { # ip port
    for _ in $(seq 1 150); do
        "${IN[@]}" bash -c "echo > /dev/tcp/$1/$2" 2> /dev/null && return 0
        sleep 0.2
    done
    return 1
}

# --- Servers ------------------------------------------------------------------------------
start_starling() { # mode
    local mode="$1" dir="$WORK/starling"
    mkdir -p "$dir/tls"
    cp "$WORK/starling.test.crt" "$dir/tls/certificate.pem"
    cp "$WORK/starling.test.key" "$dir/tls/private-key.pem"
    cat > "$dir/starling.yml" << EOF
hosts: [starling.test]
data_dir: $dir
log_level: info
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: 5222, tls: starttls}
  - {kind: s2s, addresses: [127.0.0.1], port: 5269, tls: starttls}
s2s:
  routes: {prosody.test: "127.0.0.2:5269", ejabberd.test: "127.0.0.3:5269"}
  resolve_dns: false
  ca_file: $( [[ "$mode" == ca ]] && echo "$WORK/ca.pem" || echo "$WORK/none.pem" )
EOF
    [[ "$mode" == ca ]] || : > "$WORK/none.pem"
    echo "interop-pass" | "$STARLING" adduser alice@starling.test --password-stdin --config "$dir/starling.yml" > /dev/null
    "${IN[@]}" "$STARLING" serve --config "$dir/starling.yml" > "$dir/log" 2>&1 &
    PIDS+=($!)
    wait_port 127.0.0.1 5269
}

start_prosody() { # mode
    local mode="$1" dir="$WORK/prosody"
    mkdir -p "$dir/data"
    cat > "$dir/prosody.cfg.lua" << EOF
run_as_root = true
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
certificates = "$WORK"
interfaces = { "127.0.0.2" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = $( [[ "$mode" == ca ]] && echo true || echo false )
authentication = "internal_hashed"
unbound = { hoststxt = "/etc/hosts"; resolvconf = "/etc/resolv.conf" }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix" }
log = { debug = "$dir/prosody.log" }
ssl = { certificate = "$WORK/prosody.test.crt"; key = "$WORK/prosody.test.key"; cafile = "$( [[ "$mode" == ca ]] && echo "$WORK/ca.pem" || echo "/etc/ssl/certs/ca-certificates.crt" )" }
VirtualHost "prosody.test"
EOF
    prosodyctl --config "$dir/prosody.cfg.lua" register bob prosody.test interop-pass
    "${IN[@]}" prosody --config "$dir/prosody.cfg.lua" -F > "$dir/stdout.log" 2>&1 &
    PIDS+=($!)
    wait_port 127.0.0.2 5269
}

start_ejabberd() { # mode
    local mode="$1" dir="$WORK/ejabberd"
    mkdir -p "$dir/spool" "$dir/logs"
    cat > "$dir/ejabberd.yml" << EOF
hosts: [ejabberd.test]
loglevel: info
certfiles: ["$WORK/ejabberd.test.combined.pem"]
ca_file: "$( [[ "$mode" == ca ]] && echo "$WORK/ca.pem" || echo "/etc/ssl/certs/ca-certificates.crt" )"
s2s_use_starttls: required
s2s_dns_timeout: 2
listen:
  - {port: 5222, ip: "127.0.0.3", module: ejabberd_c2s, starttls_required: true}
  - {port: 5269, ip: "127.0.0.3", module: ejabberd_s2s_in}
auth_method: internal
acl: {local: {user_regexp: ""}}
access_rules: {local: {allow: local}, s2s: {allow: all}}
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_s2s_dialback: {}
  mod_stream_mgmt: {}
EOF
    cat > "$dir/ejabberdctl.cfg" << EOF
ERLANG_NODE=ejabberd@localhost
EOF
    # ejabberdctl runs the node as the ejabberd user.
    id ejabberd > /dev/null 2>&1 && chown -R ejabberd: "$dir"
    local ctl=(ejabberdctl --config "$dir/ejabberd.yml" --ctl-config "$dir/ejabberdctl.cfg" --logs "$dir/logs" --spool "$dir/spool")
    "${IN[@]}" "${ctl[@]}" foreground > "$dir/stdout.log" 2>&1 &
    PIDS+=($!)
    wait_port 127.0.0.3 5222 || return 1
    for _ in $(seq 1 50); do
        "${IN[@]}" "${ctl[@]}" register carol ejabberd.test interop-pass > /dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    ip netns pids "$NS" 2>/dev/null | while read -r pid; do [[ "$pid" == "${DNS_PID:-}" ]] || kill "$pid" 2>/dev/null || true; done
    sleep 1
    rm -rf "$WORK/starling" "$WORK/prosody" "$WORK/ejabberd"
}

show_logs() { # peer
    local peer="$1"
    echo "--- starling log ---"; tail -40 "$WORK/starling/log"
    [[ -f "$WORK/$peer/logs/ejabberd.log" ]] && { echo "--- ejabberd log ---"; grep -v "^\s*$" "$WORK/$peer/logs/ejabberd.log" | tail -30; }
    [[ -f "$WORK/$peer/prosody.log" ]] && { echo "--- prosody log ---"; tail -30 "$WORK/$peer/prosody.log"; }
    return 0
}

run_round() { # mode
    local mode="$1"
    echo "=== round: $( [[ "$mode" == ca ]] && echo "certificates from a test CA (SASL EXTERNAL)" || echo "self-signed certificates (dialback)" ) ==="
    [[ "$mode" == ca ]] && make_ca
    for domain in starling.test prosody.test ejabberd.test; do make_cert "$domain" "$( [[ "$mode" == ca ]] && echo ca || echo self )"; done
    if [[ "$mode" == ca ]]; then trust="$WORK/ca.pem"; else cat "$WORK"/*.test.crt > "$WORK/trust.pem"; trust="$WORK/trust.pem"; fi
    start_starling "$mode"
    for peer in "${PEERS[@]}"; do
        local peer_jid peer_ip
        case "$peer" in
            prosody) start_prosody "$mode" || { RESULTS+=("$mode/$peer: could not start"); continue; }; peer_jid=bob@prosody.test; peer_ip=127.0.0.2 ;;
            ejabberd) start_ejabberd "$mode" || { RESULTS+=("$mode/$peer: could not start"); cat "$WORK/ejabberd/stdout.log" | tail -20; continue; }; peer_jid=carol@ejabberd.test; peer_ip=127.0.0.3 ;;
        esac
        if "${IN[@]}" timeout 180 "$VENV/bin/python" Tests/Interop/s2s_check.py alice@starling.test 127.0.0.1 "$peer_jid" "$peer_ip" "$trust"; then
            RESULTS+=("$mode/$peer: passed")
        else
            RESULTS+=("$mode/$peer: FAILED")
            show_logs "$peer"
        fi
        if "${IN[@]}" timeout 180 "$VENV/bin/python" Tests/Interop/s2s_muc_check.py alice@starling.test 127.0.0.1 "$peer_jid" "$peer_ip" "$trust" conference.starling.test; then
            RESULTS+=("$mode/$peer MUC over s2s: passed")
        else
            RESULTS+=("$mode/$peer MUC over s2s: FAILED")
            show_logs "$peer"
        fi
    done
    # Each peer on its own: one grep for the round would pass when any one peer used the method.
    # The method must match exactly (dialback, not dialback+certificate).
    local method
    method=$( [[ "$mode" == ca ]] && echo sasl-external || echo dialback )
    for peer in "${PEERS[@]}"; do
        if grep -E "s2s peer authenticated" "$WORK/starling/log" | grep -E "(^| )domain=$peer\.test( |$)" \
            | grep -E "(^| )method=$method( |$)" > /dev/null; then
            RESULTS+=("$mode/$peer: Starling authenticated $peer.test by $method")
        else
            RESULTS+=("$mode/$peer: Starling did not see $method authentication from $peer.test")
            grep -E "s2s peer authenticated" "$WORK/starling/log" || echo "(no s2s peer authenticated in the Starling log)"
        fi
    done
    stop_all
}

run_round ca
run_round self

passed=0
failed=0
for result in "${RESULTS[@]}"; do
    echo "$result"
    if [[ "$result" == *": passed" || "$result" == *"Starling authenticated"* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "s2s interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
