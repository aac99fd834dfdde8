# Sourced by the scripts that run servers on loopback (bench-compare.sh, bench-web-idle.sh,
# bench-reconnect.sh, interop-s2s.sh, soak.sh); run from the repository root.

# Installs Prosody, ejabberd and openssl from Debian's packages when their commands are missing.
install_peer_servers() {
    local need=()
    command -v prosody > /dev/null || need+=(prosody)
    command -v ejabberdctl > /dev/null || need+=(ejabberd)
    command -v openssl > /dev/null || need+=(openssl)
    if ((${#need[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" > /dev/null
    fi
}

# Writes a Starling configuration for load on loopback: STARTTLS on PORT, no caps on
# unauthenticated connections, no read-rate shaping, in-band registration without a rate limit.
# MODULE_SECTIONS, if given, is added to the modules mapping (e.g. "muc: {max_occupants: 100000}").
# Usage: write_starling_load_config FILE DATA_DIR PORT LOG_LEVEL ARCHIVE [TLS_LINE] [MODULE_SECTIONS]
write_starling_load_config() {
    local file="$1" data_dir="$2" port="$3" log_level="$4" archive="$5" tls_line="${6:-}" sections="${7:+, $7}"
    {
        echo "data_dir: $data_dir"
        echo "log_level: $log_level"
        if [[ -n "$tls_line" ]]; then echo "$tls_line"; fi
        cat << CONFIG
listeners:
  - {kind: c2s, addresses: [127.0.0.1], port: $port, tls: starttls}
storage: {sqlite: {synchronous: normal}}
limits:
  max_unauthenticated_per_address: 100000
  max_unauthenticated_connections: 100000
  read_rate_bytes_per_second: 0
modules: {registration: true, registrations_per_ip_per_hour: 100000, archive: $archive$sections}
CONFIG
    } > "$file"
}

# For the release benchmarks that run one Starling after another (bench-web-idle.sh,
# bench-reconnect.sh): a P-256 self-signed certificate for localhost in DIR/localhost.{crt,key},
# and a server pinned to SERVER_CORE started from CONFIG (output in LOG), waited for until
# READY_PORT answers. Sets PID; stop_pinned_starling stops it.
make_bench_certificate() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost" -keyout "$1/localhost.key" -out "$1/localhost.crt" 2> /dev/null
}

start_pinned_starling() {
    local config="$1" log="$2" ready_port="$3"
    taskset -c "$SERVER_CORE" .build/release/starling serve --config "$config" > "$log" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$ready_port") 2> /dev/null && return 0; sleep 0.1; done
    echo "the server did not start:"; tail -20 "$log"; exit 1
}

stop_pinned_starling() {
    if [[ -n "${PID:-}" ]]; then kill "$PID" 2> /dev/null || true; wait "$PID" 2> /dev/null || true; PID=""; fi
}
