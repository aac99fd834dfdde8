#!/usr/bin/env bash
# Starling against Prosody and ejabberd (Debian's packages) on this machine, under the same
# load from starling-load, on loopback. Not part of CI; run as root (it installs the rivals).
#
#   scripts/bench-compare.sh                 # default sizes: ~15 minutes on 2 cores for the scenarios before MUC,
#                                            # ~15 more per run for the MUC ones, plus ~8 the first time (registration)
#   CONNECTIONS=2000 PAIRS=200 RUNS=1 scripts/bench-compare.sh   # a quick look
#   SCENARIOS="muc muc-join" SERVERS="prosody ejabberd" RUNS=1 CONNECTIONS=200 PAIRS=20 scripts/bench-compare.sh
#
# SCENARIOS picks groups among idle, chat (flat out and paced), churn (paced and flat out),
# presence, muc (groupchat fan-out) and muc-join (joining a large room); all by default.
#
# Every server gets fresh data for every run (a copy of the accounts it registered once by
# XEP-0077), TLS required, SCRAM-SHA-1 with 4096 iterations, no archiving, no rate limits or
# shapers, a listen backlog of 1024 (Starling's), logging at warn. The server is pinned to core 0 and the generator to core 1. Each
# scenario runs RUNS times, the servers interleaved; the table shows medians and the ratio
# Starling / best other. Each MUC service (conference.localhost) runs without occupant caps
# below the sizes used, rate limits or shapers, or room archives, with each server's default
# room history (20 messages). Writes bench-results/<date>/{results.jsonl,table.md}.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/servers.sh
source scripts/lib/servers.sh

CONNECTIONS="${CONNECTIONS:-10000}"   # idle TLS connections
PAIRS="${PAIRS:-1000}"                # chat pairs
CHURN_RATE="${CHURN_RATE:-200}"       # logins/s for the paced churn
PRESENCE_PAIRS="${PRESENCE_PAIRS:-200}"
PRESENCE_RATE="${PRESENCE_RATE:-2000}"
DURATION="${DURATION:-6}"             # measured seconds per timed scenario
MUC_OCCUPANTS="${MUC_OCCUPANTS:-200}" # occupants of the groupchat room
MUC_SENDERS="${MUC_SENDERS:-4}"       # of them sending flat out
MUC_WINDOW="${MUC_WINDOW:-16}"        # messages each sender keeps in flight
MUC_JOIN_SIZE="${MUC_JOIN_SIZE:-2000}" # occupants already in the room for the join measurement
MUC_JOINS="${MUC_JOINS:-5}"           # joins measured (median)
MUC_FILL_TIMEOUT="${MUC_FILL_TIMEOUT:-300}" # seconds the join room may take to fill
MUC_MAX_OCCUPANTS=100000              # the per-room cap on every server, far above the sizes used
SCENARIOS=" ${SCENARIOS:-idle chat churn presence muc muc-join} "
RUNS="${RUNS:-3}"
SERVERS=(${SERVERS:-starling prosody ejabberd})
SERVER_CORE="${SERVER_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"
SOURCES="127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"
PORT=25222
ACCOUNTS=$((CONNECTIONS > 2 * PAIRS ? CONNECTIONS : 2 * PAIRS))
selected() { [[ "$SCENARIOS" == *" $1 "* ]]; }
if selected muc && ((MUC_OCCUPANTS > ACCOUNTS)); then ACCOUNTS=$MUC_OCCUPANTS; fi
if selected muc-join && ((MUC_JOIN_SIZE + MUC_JOINS > ACCOUNTS)); then ACCOUNTS=$((MUC_JOIN_SIZE + MUC_JOINS)); fi

OUT="bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
WORK="$(mktemp -d /tmp/starling-bench.XXXXXX)"
chmod 755 "$WORK"
SERVER_PID=""
LIMITS_FILE=/etc/security/limits.d/starling-bench-ejabberd.conf
cleanup() {
    stop_server
    # The Erlang port mapper the ejabberd node started.
    [[ -n "${EPMD_PID:-}" ]] && kill "$EPMD_PID" 2> /dev/null || true
    rm -f "$LIMITS_FILE"
    rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

# --- Installation -------------------------------------------------------------------------
install_peer_servers
swift build -c release --product starling > /dev/null
swift build -c release --product starling-load > /dev/null
STARLING=.build/release/starling
LOAD=(taskset -c "$LOAD_CORE" .build/release/starling-load)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" -keyout "$WORK/localhost.key" -out "$WORK/localhost.crt" 2> /dev/null
cat "$WORK/localhost.crt" "$WORK/localhost.key" > "$WORK/localhost.pem"
chmod 644 "$WORK/localhost.key" "$WORK/localhost.pem"

# --- Servers --------------------------------------------------------------------------------
# Each start_* takes a data directory and leaves SERVER_PID (the process to measure) set.
wait_port() { # data-dir
    for _ in $(seq 1 300); do
        (echo > "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && return 0
        sleep 0.1
    done
    echo "the server did not open port $PORT; its log:" >&2
    tail -20 "$1/server.log" >&2
    return 1
}

start_starling() { # data-dir
    local dir="$1"
    mkdir -p "$dir"
    # The same certificate as the others, so that the TLS handshakes cost the same.
    write_starling_load_config "$dir/starling.yml" "$dir/data" "$PORT" warning false \
        "tls: {certificate: $WORK/localhost.crt, private_key: $WORK/localhost.key}" \
        "muc: {max_occupants: $MUC_MAX_OCCUPANTS, default_archive: false}"
    taskset -c "$SERVER_CORE" "$STARLING" serve --config "$dir/starling.yml" > "$dir/server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$dir"
}

start_prosody() { # data-dir
    local dir="$1"
    mkdir -p "$dir/data"
    cat > "$dir/prosody.cfg.lua" << EOF
run_as_root = true
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
interfaces = { "127.0.0.1" }
c2s_ports = { $PORT }
s2s_ports = { }
network_backend = "epoll"
network_settings = { tcp_backlog = 1024 }
c2s_require_encryption = true
authentication = "internal_hashed"
default_iteration_count = 4096
allow_registration = true
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "carbons"; "blocklist"; "vcard_legacy"; "version"; "time"; "ping"; "register"; "posix" }
log = { warn = "$dir/prosody.log" }
ssl = { certificate = "$WORK/localhost.crt"; key = "$WORK/localhost.key" }
VirtualHost "localhost"
-- Prosody 0.12's MUC has no occupant cap and no rate limits (those are community modules);
-- rooms keep its default history of 20 messages.
Component "conference.localhost" "muc"
EOF
    taskset -c "$SERVER_CORE" prosody --config "$dir/prosody.cfg.lua" -F > "$dir/server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$dir"
}

start_ejabberd() { # data-dir
    local dir="$1"
    mkdir -p "$dir/spool" "$dir/logs"
    cat > "$dir/ejabberd.yml" << EOF
hosts: [localhost]
loglevel: warning
certfiles: ["$WORK/localhost.pem"]
listen:
  - {port: $PORT, ip: "127.0.0.1", module: ejabberd_c2s, starttls_required: true, shaper: none, max_stanza_size: 262144, backlog: 1024}
auth_method: internal
auth_password_format: scram
registration_timeout: infinity
acl: {local: {user_regexp: ""}}
access_rules: {local: {allow: local}, register: {allow: all}}
shaper_rules: {c2s_shaper: none, max_user_sessions: 10}
modules:
  mod_roster: {}
  mod_disco: {}
  mod_carboncopy: {}
  mod_blocking: {}
  mod_privacy: {}
  mod_vcard: {}
  mod_version: {}
  mod_ping: {}
  mod_offline: {}
  mod_stream_mgmt: {}
  mod_register: {ip_access: all, access: register}
  # Rooms hold up to 200 occupants by default and stop broadcasting presence above 1,000
  # (max_users_presence): both raised far above the sizes used; default history (20).
  mod_muc:
    host: conference.localhost
    max_users: $MUC_MAX_OCCUPANTS
    max_users_presence: $MUC_MAX_OCCUPANTS
    default_room_options: {max_users: $MUC_MAX_OCCUPANTS}
EOF
    echo "ERLANG_NODE=bench@localhost" > "$dir/ejabberdctl.cfg"
    id ejabberd > /dev/null 2>&1 && chown -R ejabberd: "$dir"
    # ejabberdctl starts the node through su, whose PAM session would set the soft fd limit to
    # 1024 (the node sizes its tables at boot, so it must start with the higher limit).
    echo "ejabberd - nofile $(ulimit -Hn)" > "$LIMITS_FILE"
    taskset -c "$SERVER_CORE" ejabberdctl --config "$dir/ejabberd.yml" --ctl-config "$dir/ejabberdctl.cfg" \
        --logs "$dir/logs" --spool "$dir/spool" foreground > "$dir/server.log" 2>&1 &
    EJABBERD_CTL_PID=$!
    wait_port "$dir"
    SERVER_PID="$(pgrep -f 'beam.smp.*bench@localhost' | head -1)"
    EPMD_PID="${EPMD_PID:-$(pgrep -u ejabberd -x epmd | head -1)}"
}

# Stops the server by its PID: SIGTERM, then SIGKILL after 10 s (a server with a backlog of
# queued stanzas may take that long to wind down, and its data is a throwaway copy).
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2> /dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2> /dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2> /dev/null || true
    fi
    if [[ -n "${EJABBERD_CTL_PID:-}" ]]; then
        wait "$EJABBERD_CTL_PID" 2> /dev/null || true
        EJABBERD_CTL_PID=""
    elif [[ -n "$SERVER_PID" ]]; then
        wait "$SERVER_PID" 2> /dev/null || true
    fi
    SERVER_PID=""
}

# Waits (at most 60 s) until the server has used under a tenth of a core for a second, so
# that one scenario's backlog is not measured as the next one's slowness.
wait_idle() {
    [[ -n "$SERVER_PID" && -r "/proc/$SERVER_PID/stat" ]] || return 0
    local ticks before after
    ticks="$(getconf CLK_TCK)"
    for _ in $(seq 1 60); do
        before="$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")"
        sleep 1
        after="$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")"
        (((after - before) * 10 < ticks)) && return 0
    done
    echo "   (the server was still busy after 60 s)"
}

# --- Accounts, once per server ----------------------------------------------------------------
load() { # server scenario-label args...
    local server="$1" label="$2"
    shift 2
    local output
    wait_idle
    output="$("${LOAD[@]}" "$@" --port "$PORT" --server-pid "$SERVER_PID" --sources "$SOURCES" \
        --scram-cache "$WORK/$server.scram" 2>&1)" || { echo "$output" | tail -5 >&2; return 1; }
    local result
    result="$(echo "$output" | sed -n 's/^RESULT //p')"
    echo "$output" | grep -E '^    [0-9]+× ' | head -3 || true
    echo "{\"server\": \"$server\", \"run\": $RUN, \"label\": \"$label\", \"result\": $result}" >> "$OUT/results.jsonl"
    echo "$result" | python3 -c "import json,sys; r=json.load(sys.stdin); print('   $server $label:', ', '.join(f'{k}={v:.4g}' for k,v in sorted(r.items()) if isinstance(v,(int,float)) and k in ('connections_per_second','memory_per_connection_kib','delivered_per_second','latency_p99_ms','server_cpu_seconds_per_1000','logins_per_second','login_latency_p99_ms','generator_cpu_seconds','errors','occupants','join_ms_p50','presences_before_self','fill_seconds')))"
}

# Registering 10,000 accounts takes minutes per server, so the registered data directories
# (and the generator's SCRAM cache) are kept under .build-bench/ for the next invocation;
# every run still starts from a fresh copy. They are named after the last commit that changed
# how Starling stores accounts, so other commits reuse them. FRESH_TEMPLATES=1 registers anew.
STORAGE_VERSION=$(git log -1 --format=%h -- Sources/XMPPStorage Sources/XMPPStorageSQLite Sources/XMPPServer/Accounts 2> /dev/null)
TEMPLATES=".build-bench/templates-$ACCOUNTS-$PRESENCE_PAIRS-${STORAGE_VERSION:-local}"
[[ "${FRESH_TEMPLATES:-0}" == 1 ]] && rm -rf "$TEMPLATES"
mkdir -p "$TEMPLATES"
RUN=0
for server in "${SERVERS[@]}"; do
    if [[ -d "$TEMPLATES/$server" && -s "$TEMPLATES/$server.scram" ]]; then
        cp -a "$TEMPLATES/$server" "$WORK/template-$server"
        cp "$TEMPLATES/$server.scram" "$WORK/$server.scram"
        echo "== $server: $ACCOUNTS accounts from $TEMPLATES"
        continue
    fi
    echo "== $server: registering $ACCOUNTS accounts"
    rm -rf "$WORK/template-$server"
    mkdir -p "$WORK/template-$server"
    "start_$server" "$WORK/template-$server"
    # Registration runs from 127.0.0.1 only: Prosody exempts only that address from its throttle.
    "${LOAD[@]}" register --port "$PORT" --users "$ACCOUNTS" --subscribe-pairs "$PRESENCE_PAIRS" --sources 127.0.0.1 \
        --concurrency 100 --scram-cache "$WORK/$server.scram" | grep -E "^  (registered|subscribed_pairs|errors):"
    # One login per account, unmeasured: fills the generator's SCRAM cache, so that measured
    # logins cost the generator HMACs, not PBKDF2.
    "${LOAD[@]}" idle --port "$PORT" --connections "$ACCOUNTS" --concurrency 200 --settle 0 --sources "$SOURCES" \
        --scram-cache "$WORK/$server.scram" | grep -E "^  (connections|errors):"
    stop_server
    sleep 1
    rm -rf "$TEMPLATES/$server"
    cp -a "$WORK/template-$server" "$TEMPLATES/$server"
    cp "$WORK/$server.scram" "$TEMPLATES/$server.scram"
done

# --- The runs -----------------------------------------------------------------------------------
# fresh_server SERVER DIR: (re)starts the server on DIR, a fresh copy of its template the first time in a run.
fresh_server() {
    stop_server
    if [[ ! -d "$2" ]]; then
        cp -a "$WORK/template-$1" "$2"
        rm -f "$2"/*.pid "$2"/server.log
    fi
    "start_$1" "$2"
    sleep 2
}
for RUN in $(seq 1 "$RUNS"); do
    HALF_RATE=""
    for server in "${SERVERS[@]}"; do
        echo "== run $RUN: $server"
        dir="$WORK/run-$server"
        rm -rf "$dir"
        if selected idle || selected chat; then
            fresh_server "$server" "$dir"
            if selected idle; then
                load "$server" idle idle --connections "$CONNECTIONS" --concurrency 200 --settle 5 || true
            fi
            if selected chat; then
                load "$server" chat-peak chat --pairs "$PAIRS" --window 2 --warmup 2 --duration "$DURATION" || true
                # p99 is compared at half of Starling's peak rate of this run, the same rate for all.
                if [[ "$server" == starling ]]; then
                    HALF_RATE="$(tail -1 "$OUT/results.jsonl" | python3 -c "import json,sys; print(int(json.load(sys.stdin)['result'].get('delivered_per_second', 2000) / 2))")"
                fi
                load "$server" chat-half chat --pairs "$PAIRS" --rate "${HALF_RATE:-5000}" --warmup 2 --duration "$DURATION" || true
            fi
        fi
        # A server that cannot carry the paced rate (Prosody) holds a backlog of a minute or
        # more; every server starts again on the same data instead of draining it.
        if selected churn || selected presence; then
            fresh_server "$server" "$dir"
            if selected churn; then
                load "$server" churn-paced churn --first 0 --accounts "$ACCOUNTS" --rate "$CHURN_RATE" --concurrency 200 --duration "$DURATION" || true
                load "$server" churn-peak churn --first 0 --accounts "$ACCOUNTS" --concurrency 100 --duration "$DURATION" || true
            fi
            if selected presence; then
                load "$server" presence presence --pairs "$PRESENCE_PAIRS" --rate "$PRESENCE_RATE" --warmup 2 --duration "$DURATION" || true
            fi
        fi
        # MUC on a server started afresh too. Filling the join room is paced (at most 200
        # joins/s, 20 waiting at once) and bounded (MUC_FILL_TIMEOUT); a room that did not
        # fill shows in the table's occupant count.
        if selected muc || selected muc-join; then
            fresh_server "$server" "$dir"
            if selected muc; then
                load "$server" muc muc --room bench --occupants "$MUC_OCCUPANTS" --senders "$MUC_SENDERS" --window "$MUC_WINDOW" \
                    --concurrency 100 --warmup 2 --duration "$DURATION" || true
            fi
            if selected muc-join; then
                load "$server" muc-join muc-join --room joinbench --size "$MUC_JOIN_SIZE" --joins "$MUC_JOINS" \
                    --fill-rate 200 --fill-concurrency 20 --fill-timeout "$MUC_FILL_TIMEOUT" --concurrency 100 || true
            fi
        fi
        stop_server
        sleep 1
    done
done

python3 scripts/bench-table.py "$OUT/results.jsonl" \
    --setting "connections=$CONNECTIONS pairs=$PAIRS churn_rate=$CHURN_RATE presence=${PRESENCE_PAIRS}x${PRESENCE_RATE}/s muc=${MUC_OCCUPANTS}x${MUC_SENDERS}x${MUC_WINDOW} muc_join=${MUC_JOIN_SIZE} duration=${DURATION}s runs=$RUNS scenarios=$(echo $SCENARIOS | tr ' ' ,)" \
    > "$OUT/table.md"
cat "$OUT/table.md"
