#!/usr/bin/env bash
# The PostgreSQL backend against a real server: a private PostgreSQL cluster on loopback
# (scripts/lib/postgres.sh), then
#   1. the storage contract suites and the PostgreSQL tests (`swift test --filter`), every
#      contract test once per backend, PostgreSQL included (STARLING_TEST_POSTGRES_URL);
#   2. Starling serving on PostgreSQL: accounts made by the CLI in the database, then slixmpp
#      clients chatting, with rosters, offline messages, vCards and blocking through it;
#   3. `starling migrate-storage`: a SQLite database filled by a real server run (slixmpp chat,
#      IM, chat rooms and pubsub), copied to an empty database, the counts of every table
#      compared by the command and checked to be non-zero where the run wrote rows; a second
#      copy without --force is refused; then the server starts on the copy and its users log in;
#   4. TLS to the database with a CA of its own and the password from a file, and the refusals.
# Needs a build with tests (swift build --build-tests). Stops everything it starts, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
started_at=$(date +%s)

# shellcheck source=lib/interop.sh
source scripts/lib/interop.sh
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
cleanup() {
    interop_cleanup
    stop_postgres
}
trap cleanup EXIT
start_postgres
# Owned by the user the commands run as; the server and CLI need no more than the URL.
BASE_URL="$STARLING_TEST_POSTGRES_URL"
new_database() { # name → prints its URL
    pg_sql starling "CREATE DATABASE $1 OWNER starling" > /dev/null
    echo "postgresql://starling@127.0.0.1:$PG_PORT/$1"
}

# --- 1. The contract suites on every backend, PostgreSQL included.
step_started=$(date +%s)
test_log="$WORK/swift-test.log"
if ! swift test --skip-build --filter 'Contract|Postgres' > "$test_log" 2>&1; then
    grep -E "✘|error|failed" "$test_log" | head -60
    echo "the contract suites failed on some backend (full log above)"
    exit 1
fi
postgres_cases="$(grep -c 'argument backend → postgres to' "$test_log" || true)"
summary="$(grep -E "Test run with [0-9]+ tests" "$test_log" | tail -1)"
echo "$summary"
[[ "$postgres_cases" -ge 30 ]] || { echo "only $postgres_cases contract cases ran on PostgreSQL: is STARLING_TEST_POSTGRES_URL reaching the tests?"; tail -40 "$test_log"; exit 1; }
echo "contract suites: $postgres_cases test cases passed on PostgreSQL ($(( $(date +%s) - step_started )) s)"

# --- 2. Serving on PostgreSQL.
step_started=$(date +%s)
serve_url="$(new_database serve_test)"
cat > "$WORK/postgres.yml" << EOF
hosts: [localhost]
storage:
  backend: postgresql
  postgresql: {url: "$serve_url", tls: disable}
EOF
for name in alice bob carol; do
    echo "$name-pass" | "$STARLING" adduser "$name@localhost" --password-stdin --config "$WORK/postgres.yml" --data-dir "$WORK/pg-data"
done
accounts="$(pg_sql serve_test "SELECT count(*) FROM accounts")"
[[ "$accounts" == 3 ]] || { echo "adduser left $accounts accounts in PostgreSQL, expected 3"; exit 1; }
start_starling "$WORK/pg-server.log" serve --config "$WORK/postgres.yml" --data-dir "$WORK/pg-data" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0
for test in slixmpp_chat slixmpp_im slixmpp_muc; do
    if ! timeout 120 "$VENV/bin/python" "Tests/Interop/$test.py" 127.0.0.1 "$PORT" "$WORK/pg-data/tls/certificate.pem"; then
        echo "--- $test failed on PostgreSQL; server log ---"; tail -50 "$WORK/pg-server.log"
        exit 1
    fi
done
kill "$SERVER_PID"; wait "$SERVER_PID" 2> /dev/null || true; SERVER_PID=""
archived="$(pg_sql serve_test "SELECT count(*) FROM archive")"
[[ "$archived" -gt 0 ]] || { echo "the chat left no archived messages in PostgreSQL"; exit 1; }
echo "serving on PostgreSQL: slixmpp chat, IM and rooms passed; $archived archived messages in the database ($(( $(date +%s) - step_started )) s)"

# --- 3. migrate-storage from a SQLite database a real server run filled.
step_started=$(date +%s)
for name in alice bob carol; do
    echo "$name-pass" | "$STARLING" adduser "$name@localhost" --password-stdin --data-dir "$WORK/sqlite-data"
done
"$STARLING" roster add alice@localhost dave@example.org --name Dave --group Friends --subscription both --data-dir "$WORK/sqlite-data" > /dev/null
start_starling "$WORK/sqlite-server.log" serve --data-dir "$WORK/sqlite-data" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0
for test in slixmpp_chat slixmpp_im slixmpp_muc slixmpp_pubsub; do
    if ! timeout 120 "$VENV/bin/python" "Tests/Interop/$test.py" 127.0.0.1 "$PORT" "$WORK/sqlite-data/tls/certificate.pem"; then
        echo "--- $test failed on SQLite; server log ---"; tail -50 "$WORK/sqlite-server.log"
        exit 1
    fi
done
kill "$SERVER_PID"; wait "$SERVER_PID" 2> /dev/null || true; SERVER_PID=""
sqlite_file="$WORK/sqlite-data/starling.sqlite"

migrate_url="$(new_database migrate_test)"
if ! "$STARLING" migrate-storage --from sqlite --to postgresql --to-url "$migrate_url" --tls disable --data-dir "$WORK/sqlite-data" > "$WORK/migrate.log" 2>&1; then
    cat "$WORK/migrate.log"; echo "migrate-storage failed"; exit 1
fi
cat "$WORK/migrate.log"
# The command compared the counts itself; check that the run wrote what the copy is meant to carry.
# (Offline messages were delivered, the test rooms keep no archive and no module has a schema
# migration yet, so those three tables are empty on both sides; the contract suites cover them.)
for table in accounts scram_credentials roster_items roster_versions account_data archive module_documents; do
    count="$(pg_sql migrate_test "SELECT count(*) FROM $table")"
    [[ "$count" -gt 0 ]] || { echo "the copy holds no rows of $table: the server run wrote none, so this test proves nothing about it"; exit 1; }
done
# Credentials came across byte for byte: the same stored keys on both sides.
sqlite_keys="$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(';'.join(r[0]+':'+r[1]+':'+r[2].hex() for r in c.execute('SELECT localpart, hash, stored_key FROM scram_credentials ORDER BY localpart, hash')))" "$sqlite_file")"
pg_keys="$(pg_sql migrate_test "SELECT string_agg(localpart || ':' || hash || ':' || encode(stored_key, 'hex'), ';' ORDER BY localpart, hash) FROM scram_credentials")"
[[ "$sqlite_keys" == "$pg_keys" ]] || { echo "SCRAM keys differ between SQLite and PostgreSQL"; exit 1; }
# A second copy onto the filled database is refused without --force, and replaces it with it.
if "$STARLING" migrate-storage --from sqlite --to postgresql --to-url "$migrate_url" --tls disable --data-dir "$WORK/sqlite-data" > "$WORK/again.log" 2>&1; then
    echo "migrate-storage copied onto a database that holds data"; exit 1
fi
grep -q "already holds" "$WORK/again.log" || { cat "$WORK/again.log"; exit 1; }
"$STARLING" migrate-storage --from sqlite --to postgresql --to-url "$migrate_url" --tls disable --force --data-dir "$WORK/sqlite-data" > "$WORK/force.log" 2>&1 \
    || { cat "$WORK/force.log"; echo "migrate-storage --force failed"; exit 1; }
# The copy serves: the migrated users log in with their passwords and chat.
cat > "$WORK/migrated.yml" << EOF
hosts: [localhost]
storage:
  backend: postgresql
  postgresql: {url: "$migrate_url", tls: disable}
EOF
start_starling "$WORK/migrated-server.log" serve --config "$WORK/migrated.yml" --data-dir "$WORK/sqlite-data" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0
if ! timeout 120 "$VENV/bin/python" "Tests/Interop/slixmpp_chat.py" 127.0.0.1 "$PORT" "$WORK/sqlite-data/tls/certificate.pem"; then
    echo "--- the migrated users could not chat; server log ---"; tail -50 "$WORK/migrated-server.log"
    exit 1
fi
kill "$SERVER_PID"; wait "$SERVER_PID" 2> /dev/null || true; SERVER_PID=""
echo "migrate-storage: counts equal on both sides, keys identical, refused without --force, migrated users chat ($(( $(date +%s) - step_started )) s)"

# --- 4. TLS to the database, and the password from a file: a role that may only log in over
# TLS with a password (pg_hba: hostnossl reject, hostssl scram-sha-256).
step_started=$(date +%s)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Starling test database CA" \
    -keyout "$WORK/db-ca.key" -out "$WORK/db-ca.pem" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" -keyout "$PG_DIR/data/server.key" -out "$WORK/db.csr" 2> /dev/null
openssl x509 -req -in "$WORK/db.csr" -CA "$WORK/db-ca.pem" -CAkey "$WORK/db-ca.key" -CAcreateserial -days 2 \
    -extfile <(printf "subjectAltName=IP:127.0.0.1,DNS:localhost") -out "$PG_DIR/data/server.crt" 2> /dev/null
chmod 600 "$PG_DIR/data/server.key"
[[ $(id -u) -eq 0 ]] && chown postgres: "$PG_DIR/data/server.key" "$PG_DIR/data/server.crt"
sed -i '1i hostnossl all tlsuser 127.0.0.1/32 reject\nhostssl all tlsuser 127.0.0.1/32 scram-sha-256' "$PG_DIR/data/pg_hba.conf"
pg_sql starling "ALTER SYSTEM SET ssl = on" > /dev/null
pg_sql starling "CREATE ROLE tlsuser LOGIN PASSWORD 'db-pass-over-tls'" > /dev/null
pg_sql starling "CREATE DATABASE tls_test OWNER tlsuser" > /dev/null
pg_sql starling "SELECT pg_reload_conf()" > /dev/null
for _ in $(seq 1 50); do [[ "$(pg_sql starling "SHOW ssl")" == on ]] && break; sleep 0.1; done
[[ "$(pg_sql starling "SHOW ssl")" == on ]] || { echo "the test cluster did not turn TLS on"; tail -5 "$PG_DIR/server.log"; exit 1; }
printf 'db-pass-over-tls\n' > "$WORK/db-password"
chmod 600 "$WORK/db-password"
tls_config() { # file tls-mode [ca_file line]
    cat > "$1" << YAML
hosts: [localhost]
storage:
  backend: postgresql
  postgresql:
    url: "postgresql://tlsuser@127.0.0.1:$PG_PORT/tls_test"
    tls: $2
    password_file: "$WORK/db-password"
$3
YAML
}
tls_config "$WORK/tls.yml" require "    ca_file: \"$WORK/db-ca.pem\""
echo "dave-pass" | "$STARLING" adduser dave@localhost --password-stdin --config "$WORK/tls.yml" --data-dir "$WORK/tls-data" \
    || { echo "adduser over TLS to the database failed"; tail -5 "$PG_DIR/server.log"; exit 1; }
[[ "$(pg_sql tls_test "SELECT count(*) FROM accounts")" == 1 ]] || { echo "the account made over TLS is not in the database"; exit 1; }
start_starling "$WORK/tls-server.log" serve --config "$WORK/tls.yml" --data-dir "$WORK/tls-data" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0
encrypted="$(pg_sql starling "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'tlsuser' AND s.ssl")"
kill "$SERVER_PID"; wait "$SERVER_PID" 2> /dev/null || true; SERVER_PID=""
[[ "$encrypted" -gt 0 ]] || { echo "the server's connections to the database are not encrypted"; exit 1; }
# Refusals, each with its reason: no TLS, a CA that does not sign the server's certificate, a
# password file others may read.
tls_config "$WORK/plain.yml" disable ""
if "$STARLING" adduser erin@localhost --password-stdin --config "$WORK/plain.yml" --data-dir "$WORK/tls-data" <<< "erin-pass" > "$WORK/plain.log" 2>&1; then
    echo "a connection without TLS was let in"; exit 1
fi
grep -q "no encryption" "$WORK/plain.log" || { echo "the refusal without TLS does not say why:"; cat "$WORK/plain.log"; exit 1; }
tls_config "$WORK/system-ca.yml" require ""
if "$STARLING" adduser erin@localhost --password-stdin --config "$WORK/system-ca.yml" --data-dir "$WORK/tls-data" <<< "erin-pass" > "$WORK/ca.log" 2>&1; then
    echo "a certificate the system's CAs do not sign was accepted"; exit 1
fi
grep -q "certificate did not verify: set storage.postgresql.ca_file" "$WORK/ca.log" || { echo "the refused certificate is not named:"; cat "$WORK/ca.log"; exit 1; }
chmod 644 "$WORK/db-password"
if "$STARLING" adduser erin@localhost --password-stdin --config "$WORK/tls.yml" --data-dir "$WORK/tls-data" <<< "erin-pass" > "$WORK/mode.log" 2>&1; then
    echo "a password file others may read was used"; exit 1
fi
grep -q "chmod 600" "$WORK/mode.log" || { echo "the readable password file is not named:"; cat "$WORK/mode.log"; exit 1; }
for log in plain ca mode; do echo "  refused ($log): $(grep -v '^20[0-9][0-9]-' "$WORK/$log.log" | head -1)"; done
echo "TLS to the database: $encrypted encrypted server connections, the password from a 0600 file; plain TCP, an unknown CA and a readable password file refused ($(( $(date +%s) - step_started )) s)"

echo "scripts/test-postgres.sh passed in $(( $(date +%s) - started_at )) s"
