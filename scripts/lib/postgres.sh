# Sourced by scripts that need a PostgreSQL server: a private cluster on loopback, run as the
# `postgres` user from a data directory of its own under a temporary directory, stopped by its
# PID when the script exits. Nothing of the machine's own clusters is touched.
#
#   source scripts/lib/postgres.sh
#   trap stop_postgres EXIT   # or call stop_postgres from the script's own EXIT trap
#   start_postgres            # sets PG_DIR, PG_PORT, PG_PID and exports STARLING_TEST_POSTGRES_URL
#
# The cluster trusts every local login (it listens on 127.0.0.1 and a socket in PG_DIR only).
# Role and database: starling/starling, a superuser so that tests can create and drop
# schemas and databases of their own.

PG_VERSION="${PG_VERSION:-15}"
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
PG_DIR=""
PG_PID=""
PG_PORT=""

# Installs Debian's postgresql-$PG_VERSION when its binaries are missing; `apt-get update`
# first only when the install fails (a machine whose package lists are current needs none).
install_postgres() {
    [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        echo "PostgreSQL $PG_VERSION is missing and installing it needs root: apt-get install postgresql-$PG_VERSION" >&2
        return 1
    fi
    echo "installing postgresql-$PG_VERSION"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_VERSION" > /dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_VERSION" > /dev/null
    fi
    # Debian's package starts the machine's own cluster; these tests use a private one.
    [[ -x "$PG_BIN/initdb" ]]
}

# A free TCP port on 127.0.0.1, asked of the kernel (bind to port 0) rather than guessed.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the postgres user (root runs the tests; PostgreSQL refuses to run as root).
as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    install_postgres || return 1
    PG_DIR="$(mktemp -d /tmp/starling-postgres.XXXXXX)"
    chmod 755 "$PG_DIR"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$PG_DIR"
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 > "$PG_DIR/initdb.log" 2>&1 \
        || { echo "initdb failed:" >&2; cat "$PG_DIR/initdb.log" >&2; return 1; }
    # Another builder may take a port between asking and binding: try a few.
    local attempt
    for attempt in 1 2 3; do
        PG_PORT="$(free_port)"
        if as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
            -o "-k $PG_DIR -c listen_addresses=127.0.0.1 -p $PG_PORT -c fsync=off -c max_connections=200" start > /dev/null; then
            break
        fi
        PG_PORT=""
    done
    [[ -n "$PG_PORT" ]] || { echo "PostgreSQL did not start:" >&2; cat "$PG_DIR/server.log" >&2; return 1; }
    PG_PID="$(head -1 "$PG_DIR/data/postmaster.pid")"
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE starling LOGIN SUPERUSER" -c "CREATE DATABASE starling OWNER starling" > /dev/null
    export STARLING_TEST_POSTGRES_URL="postgresql://starling@127.0.0.1:$PG_PORT/starling"
    echo "PostgreSQL $PG_VERSION (pid $PG_PID) on 127.0.0.1 port $PG_PORT, data in $PG_DIR/data"
}

# Stops the cluster this script started, by its PID (a fast shutdown, then SIGKILL after 10 s),
# and removes its directory.
stop_postgres() {
    if [[ -n "$PG_PID" ]] && kill -0 "$PG_PID" 2> /dev/null; then
        kill -INT "$PG_PID" 2> /dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$PG_PID" 2> /dev/null || break
            sleep 0.1
        done
        kill -0 "$PG_PID" 2> /dev/null && kill -KILL "$PG_PID" 2> /dev/null || true
    fi
    PG_PID=""
    [[ -n "$PG_DIR" ]] && rm -rf "$PG_DIR"
    PG_DIR=""
}

# psql against the private cluster as the starling role: `pg_sql DATABASE SQL`, unaligned rows.
pg_sql() {
    "$PG_BIN/psql" -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U starling -d "$1" -v ON_ERROR_STOP=1 -c "$2"
}
