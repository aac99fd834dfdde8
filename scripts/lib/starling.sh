# Sourced by the interop scripts; run from the repository root with STARLING set.

# Starts Starling with the given arguments (its output, both streams, in LOG) and waits, 30 s
# at most, for the line it prints once every listener is bound: the ports are read back from
# it, so none is probed and bound again later. Sets SERVER_PID (stop it at exit), SERVING (the
# line) and PORT (its 127.0.0.1 STARTTLS client port). Usage: start_starling LOG ARGS...
start_starling() {
    local log="$1"
    shift
    "$STARLING" "$@" > "$log" 2>&1 &
    SERVER_PID=$!
    SERVING=""
    for _ in $(seq 1 300); do
        SERVING="$(grep -m1 '^Starling serving' "$log" || true)"
        [[ -n "$SERVING" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited:"; cat "$log"; exit 1; }
        sleep 0.1
    done
    [[ -n "$SERVING" ]] || { echo "the server did not report its ports within 30 s:"; cat "$log"; exit 1; }
    PORT="$(listener_port 'starttls')"
    [[ -n "$PORT" ]] || { echo "no STARTTLS client port in: $SERVING"; exit 1; }
}

# The port of the 127.0.0.1 listener that SERVING labels LABEL ("starttls", "component").
listener_port() {
    sed -n "s/.*[ ,]127\.0\.0\.1 port \([0-9]*\) ($1).*/\1/p" <<< "$SERVING"
}
