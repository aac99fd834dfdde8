#!/usr/bin/env bash
# Moving from Prosody and from ejabberd to Starling with XEP-0227 (docs/configuration.md,
# "Moving in and out"): each, from Debian's packages, on loopback with its own configuration
# and data directory, is populated by slixmpp (Tests/Interop/migration_check.py populate: a
# mutual subscription, a vCard, private XML, an unanswered request), exported with its own tool
# (prosody-migrator; ejabberdctl export_piefxis), imported with `starling import` into a fresh
# Starling, and checked there by logging in with the old passwords (migration_check.py verify).
# Stops only the servers it started.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh
# shellcheck source=lib/servers.sh
source scripts/lib/servers.sh
install_peer_servers

free_port() { "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for_port() { # port
    for _ in $(seq 1 100); do
        (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1 port $1 after 10 s"
    return 1
}

# Imports PATH into a fresh Starling in DIR and checks the three users there.
import_and_verify() { # source-name path dir
    local name="$1" path="$2" dir="$3"
    cat > "$dir.yaml" << YAML
hosts: [localhost]
data_dir: $dir
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: 0, tls: starttls}
YAML
    "$STARLING" import "$path" --config "$dir.yaml" | tee "$dir-import.log"
    grep -q "imported 3 users" "$dir-import.log" || { echo "starling import did not import $name's three users"; return 1; }
    start_starling "$dir-server.log" serve --config "$dir.yaml"
    if ! timeout 120 "$VENV/bin/python" Tests/Interop/migration_check.py verify 127.0.0.1 "$PORT" "$dir/tls/certificate.pem"; then
        echo "--- $name's data is not all there; Starling's log ---"; cat "$dir-server.log"
        return 1
    fi
    kill "$SERVER_PID"; wait "$SERVER_PID" || true
    SERVER_PID=""
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" -keyout "$WORK/localhost.key" -out "$WORK/localhost.crt" 2> /dev/null
PROSODY="$WORK/prosody"
mkdir -p "$PROSODY/data"
PROSODY_PORT="$(free_port)"
cat > "$PROSODY/prosody.cfg.lua" << LUA
run_as_root = true
pidfile = "$PROSODY/prosody.pid"
data_path = "$PROSODY/data"
interfaces = { "127.0.0.1" }
c2s_ports = { $PROSODY_PORT }
s2s_ports = { }
c2s_require_encryption = true
authentication = "internal_hashed"
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "private"; "vcard"; "posix" }
log = { info = "$PROSODY/prosody.log" }
ssl = { certificate = "$WORK/localhost.crt"; key = "$WORK/localhost.key" }
VirtualHost "localhost"
LUA
[[ -f "$PROSODY/prosody.cfg.lua" ]] || exit 1
for name in alice bob carol; do
    prosodyctl --config "$PROSODY/prosody.cfg.lua" register "$name" localhost "$name-pass"
done
[[ -f "$PROSODY/data/localhost/accounts/alice.dat" ]] || { echo "prosodyctl did not register alice in $PROSODY/data"; exit 1; }
prosody --config "$PROSODY/prosody.cfg.lua" -F > "$PROSODY/server.log" 2>&1 &
SERVER_PID=$!
wait_for_port "$PROSODY_PORT" || { cat "$PROSODY/server.log"; exit 1; }
if ! timeout 120 "$VENV/bin/python" Tests/Interop/migration_check.py populate 127.0.0.1 "$PROSODY_PORT" "$WORK/localhost.crt"; then
    echo "--- populating Prosody failed; its log ---"; cat "$PROSODY/prosody.log" "$PROSODY/server.log"
    exit 1
fi
kill "$SERVER_PID"; wait "$SERVER_PID" || true
SERVER_PID=""

# Prosody's own migrator writes one XEP-0227 file per user. Its xep0227 driver writes into
# Prosody's data directory, which the migrator fixes at /var/lib/prosody: a copy of it with that
# one line changed writes into this run's directory instead. It runs as the prosody user (it
# switches to it when started as root), so that user gets to read the data and write the export.
mkdir -p "$WORK/export"
sed "s|^CFG_DATADIR=.*|CFG_DATADIR='$WORK/export';|" /usr/bin/prosody-migrator > "$WORK/prosody-migrator"
grep -q "^CFG_DATADIR='$WORK/export';" "$WORK/prosody-migrator" || { echo "prosody-migrator has no CFG_DATADIR line to point elsewhere"; exit 1; }
chmod 755 "$WORK"
chmod -R a+rX "$PROSODY/data" "$WORK/prosody-migrator"
chown prosody "$WORK/export"
cat > "$WORK/migrator.cfg.lua" << LUA
input { type = "internal"; path = "$PROSODY/data"; hosts = { ["localhost"] = { "accounts"; "roster"; "vcard"; "private" } } }
output { type = "xep0227" }
LUA
chmod 644 "$WORK/migrator.cfg.lua"
lua5.4 "$WORK/prosody-migrator" --config="$WORK/migrator.cfg.lua" input output > "$WORK/migrator.log" 2>&1 || { cat "$WORK/migrator.log"; exit 1; }
ls "$WORK/export"/*.xml > /dev/null || { echo "prosody-migrator wrote no XEP-0227 files:"; cat "$WORK/migrator.log"; exit 1; }

import_and_verify Prosody "$WORK/export" "$WORK/from-prosody" || { echo "--- Prosody's export ---"; cat "$WORK/export"/*.xml; exit 1; }

# ejabberd, with SCRAM keys stored (auth_password_format: scram), as most installations run it.
EJABBERD="$WORK/ejabberd"
mkdir -p "$EJABBERD/spool" "$EJABBERD/logs" "$WORK/ejabberd-export"
EJABBERD_PORT="$(free_port)"
cat "$WORK/localhost.key" "$WORK/localhost.crt" > "$WORK/localhost.pem"
cat > "$EJABBERD/ejabberd.yml" << YAML
hosts: [localhost]
loglevel: warning
certfiles: ["$WORK/localhost.pem"]
listen:
  - {port: $EJABBERD_PORT, ip: "127.0.0.1", module: ejabberd_c2s, starttls_required: true}
auth_method: internal
auth_password_format: scram
acl: {local: {user_regexp: ""}}
access_rules: {local: {allow: local}}
modules:
  mod_roster: {}
  mod_disco: {}
  mod_private: {}
  mod_vcard: {}
  mod_offline: {}
YAML
echo "ERLANG_NODE=starling-migrate-$$@localhost" > "$EJABBERD/ejabberdctl.cfg"
chmod a+r "$WORK/localhost.pem"
id ejabberd > /dev/null 2>&1 && chown -R ejabberd: "$EJABBERD" "$WORK/ejabberd-export"
EJABBERDCTL=(ejabberdctl --config "$EJABBERD/ejabberd.yml" --ctl-config "$EJABBERD/ejabberdctl.cfg" --logs "$EJABBERD/logs" --spool "$EJABBERD/spool")
EPMD_BEFORE="$(pgrep -x epmd || true)"
"${EJABBERDCTL[@]}" foreground > "$EJABBERD/stdout.log" 2>&1 &
SERVER_PID=$!
EJABBERD_RUNNING=1
stop_ejabberd() {
    [[ -n "${EJABBERD_RUNNING:-}" ]] || return 0
    EJABBERD_RUNNING=""
    "${EJABBERDCTL[@]}" stop > /dev/null 2>&1 || true
    # The Erlang VM of this node, whatever wrapper ejabberdctl ran it under.
    local beam
    beam="$(pgrep -f "beam.smp.*starling-migrate-$$@localhost" || true)"
    [[ -n "$beam" ]] && kill $beam 2> /dev/null || true
    kill "$SERVER_PID" 2> /dev/null || true
    wait "$SERVER_PID" 2> /dev/null || true
    SERVER_PID=""
    # The Erlang port mapper ejabberdctl started, if none ran before.
    local epmd
    epmd="$(pgrep -x epmd || true)"
    if [[ -z "$EPMD_BEFORE" && -n "$epmd" ]]; then kill $epmd 2> /dev/null || true; fi
}
trap 'stop_ejabberd; interop_cleanup' EXIT
wait_for_port "$EJABBERD_PORT" || { cat "$EJABBERD/stdout.log"; stop_ejabberd; exit 1; }
for name in alice bob carol; do
    registered=""
    for _ in $(seq 1 50); do
        "${EJABBERDCTL[@]}" register "$name" localhost "$name-pass" > /dev/null 2>&1 && { registered=1; break; }
        sleep 0.5
    done
    [[ -n "$registered" ]] || { echo "ejabberdctl could not register $name"; cat "$EJABBERD/stdout.log"; stop_ejabberd; exit 1; }
done
if ! timeout 120 "$VENV/bin/python" Tests/Interop/migration_check.py populate 127.0.0.1 "$EJABBERD_PORT" "$WORK/localhost.crt"; then
    echo "--- populating ejabberd failed; its log ---"; cat "$EJABBERD/logs/ejabberd.log" "$EJABBERD/stdout.log" 2> /dev/null
    stop_ejabberd
    exit 1
fi
"${EJABBERDCTL[@]}" export_piefxis "$WORK/ejabberd-export" || { echo "export_piefxis failed"; stop_ejabberd; exit 1; }
stop_ejabberd
# The main file names the host files through XInclude; importing it reads them.
main="$(grep -l "xi:include" "$WORK/ejabberd-export"/*.xml | head -1 || true)"
[[ -n "$main" ]] || { echo "export_piefxis wrote no main file:"; ls -l "$WORK/ejabberd-export"; exit 1; }
import_and_verify ejabberd "$main" "$WORK/from-ejabberd" || { echo "--- ejabberd's export ---"; cat "$WORK/ejabberd-export"/*.xml; exit 1; }
exit 0
