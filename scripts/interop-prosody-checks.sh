#!/usr/bin/env bash
# Checks the checkers: runs the slixmpp checks that scripts/interop-slixmpp.sh runs against
# Starling against Prosody (Debian's package) instead, which nobody here wrote, so a failure
# there is a fault in the check rather than in Starling.
#
#   scripts/interop-prosody-checks.sh [muc] [pubsub]     (default: both)
#
# muc: Tests/Interop/slixmpp_muc.py against Prosody's MUC at conference.localhost.
# pubsub: Tests/Interop/slixmpp_pubsub.py against mod_pubsub at pubsub.localhost, mod_pep,
# mod_private, mod_bookmarks and mod_vcard_legacy (Prosody lets only admins create nodes on a
# pubsub component, so alice is an admin there).
# Each Prosody runs on 127.0.0.1 with its own configuration and data in a temporary directory,
# a self-signed certificate, and users alice, bob and carol; only the Prosody started here is
# stopped, by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/servers.sh
source scripts/lib/servers.sh
CHECKS=("${@:-muc pubsub}")
read -r -a CHECKS <<< "${CHECKS[*]}"
VENV="${SLIXMPP_VENV:-.build-interop/venv}"
WORK="$(mktemp -d)"
PROSODY_PID=""
stop_prosody() {
    if [[ -n "$PROSODY_PID" ]]; then kill "$PROSODY_PID" 2>/dev/null || true; wait "$PROSODY_PID" 2>/dev/null || true; fi
    PROSODY_PID=""
}
trap 'stop_prosody; rm -rf "$WORK"' EXIT

command -v prosody > /dev/null || install_peer_servers
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import slixmpp" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "slixmpp>=1.8"
fi

# start_prosody DIR PORT SERVICE-DOMAIN COMPONENT-MODULE EXTRA-MODULES ADMINS
start_prosody() {
    local dir="$1" port="$2" service="$3" component="$4" modules="$5" admins="$6"
    mkdir -p "$dir/data"
    cat > "$dir/prosody.cfg.lua" << EOF
$( [[ $(id -u) -eq 0 ]] && echo "run_as_root = true" )
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
certificates = "$dir"
interfaces = { "127.0.0.1" }
c2s_ports = { $port }
s2s_ports = { }
c2s_require_encryption = true
authentication = "internal_hashed"
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; $modules }
admins = { $admins }
modules_disabled = { "s2s" }
log = { debug = "$dir/prosody.log" }
ssl = { certificate = "$dir/localhost.crt"; key = "$dir/localhost.key" }
VirtualHost "localhost"
Component "$service" "$component"
EOF
    local user
    for user in alice bob carol; do
        prosodyctl --config "$dir/prosody.cfg.lua" register "$user" localhost "$user-pass"
    done
    prosody --config "$dir/prosody.cfg.lua" -F > "$dir/stdout.log" 2>&1 &
    PROSODY_PID=$!
    for _ in $(seq 1 150); do
        (echo > "/dev/tcp/127.0.0.1/$port") 2> /dev/null && return 0
        kill -0 "$PROSODY_PID" 2> /dev/null || break
        sleep 0.2
    done
    stop_prosody
    return 1
}

# run_check NAME SERVICE-DOMAIN COMPONENT-MODULE EXTRA-MODULES ADMINS [VAR=VALUE ...]
run_check() {
    local name="$1" service="$2" component="$3" modules="$4" admins="$5"
    shift 5
    local dir="$WORK/$name"
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,DNS:$service" -keyout "$dir/localhost.key" -out "$dir/localhost.crt" 2> /dev/null
    chmod 644 "$dir/localhost.key"
    # Prosody cannot bind port 0 and report it, so a free port is picked and, should another
    # process take it first, the start is tried again with another one (three times at most).
    local port=""
    for _ in 1 2 3; do
        local candidate
        candidate="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        if start_prosody "$dir" "$candidate" "$service" "$component" "$modules" "$admins"; then port="$candidate"; break; fi
    done
    [[ -n "$port" ]] || { echo "Prosody did not start:"; tail -30 "$dir/stdout.log" "$dir/prosody.log" 2> /dev/null; exit 1; }
    if ! env "$@" timeout 120 "$VENV/bin/python" "Tests/Interop/slixmpp_$name.py" 127.0.0.1 "$port" "$dir/localhost.crt"; then
        echo "--- slixmpp_$name.py failed against Prosody; Prosody log (last 60 lines) ---"
        tail -60 "$dir/prosody.log"
        exit 1
    fi
    stop_prosody
}

for check in "${CHECKS[@]}"; do
    case "$check" in
        # Prosody 0.12 lists outcasts without the ban's reason, which XEP-0045 allows (9.2).
        muc) run_check muc conference.localhost muc "" "" MUC_LIST_REASONS=0 ;;
        # Prosody 0.12 refuses a read of a presence-access node by a stranger with <forbidden/>
        # alone, where XEP-0060 (6.5.9.4) has <not-authorized/> and <presence-subscription-required/>.
        pubsub) run_check pubsub pubsub.localhost pubsub '"presence"; "pep"; "private"; "bookmarks"; "vcard_legacy"' '"alice@localhost"' PUBSUB_PRESENCE_REFUSAL=forbidden ;;
        *) echo "unknown check $check (muc or pubsub)"; exit 2 ;;
    esac
done
