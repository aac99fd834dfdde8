#!/usr/bin/env bash
# Terminal clients people use, driven as a person would drive them: profanity (Alice) and
# poezio (Bob), Debian packages, each in its own tmux session, typed into with send-keys and
# read back with capture-pane, against a Starling this script starts on loopback.
#
# Covered: connect and accept the self-signed certificate (profanity shows a fingerprint that
# must be the one the server printed), chat both ways, subscribe both ways and see presence,
# block and unblock, set a vCard and read it back, a message sent while Bob is offline and
# delivered when he returns, and both staying connected past several of their keepalive
# intervals with no error on screen ("Server ping not supported" was profanity's answer to
# Starling before pings without 'to' were answered).
#
# Every wait polls the screen for the expected text with a deadline; a wait that runs out
# prints both screens and the end of the server log. Only the processes this script started
# are stopped, by PID. Exits 77 (and says why) when a package cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

STARLING="${STARLING:-.build/debug/starling}"
# Keepalive intervals, set low so that the test sees several in a short run.
PING_SECONDS=3

missing=()
for tool in profanity poezio tmux; do command -v "$tool" > /dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "SKIPPED: ${missing[*]} not installed, and installing Debian packages needs root"
        exit 77
    fi
    if ! { apt-get update -qq && apt-get install -y -qq profanity poezio tmux; } > /tmp/interop-terminal-apt.log 2>&1; then
        tail -5 /tmp/interop-terminal-apt.log
        echo "SKIPPED: apt-get could not install profanity poezio tmux (its output is above)"
        exit 77
    fi
fi
[[ -x "$STARLING" ]] || swift build --product starling

WORK="$(mktemp -d)"
chmod 755 "$WORK"
TMUX_SOCKET="$WORK/tmux.sock"
SERVER_PID=""
TMUX_PID=""
PANE_PIDS=()
cleanup() {
    local pid
    for pid in "${PANE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -n "$TMUX_PID" ]] && kill "$TMUX_PID" 2>/dev/null || true
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# poezio refuses to run as root; as root it runs as nobody, in directories nobody owns.
AS_CLIENT=()
CLIENT_OWNER=""
if [[ $(id -u) -eq 0 ]]; then
    AS_CLIENT=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    CLIENT_OWNER="65534:65534"
fi

tmx() { tmux -S "$TMUX_SOCKET" -f /dev/null "$@"; }

screen() { tmx capture-pane -p -J -S -300 -t "$1" 2>/dev/null || echo "(no pane $1)"; }

fail() {
    echo "FAILED: $*"
    for name in alice bob; do
        echo "--- $name's screen ---"; screen "$name"
    done
    echo "--- end of the server log ---"; tail -40 "$WORK/server.log"
    echo "--- the last stanzas poezio logged ---"; grep -a "SEND:\|RECV:" "$WORK/bob/debug.log" 2>/dev/null | tail -30 | cut -c1-400
    exit 1
}

# wait_for SESSION SECONDS TEXT: until TEXT (fixed string) is on SESSION's screen.
wait_for() {
    local session="$1" seconds="$2" text="$3"
    local deadline=$((SECONDS + seconds))
    until screen "$session" | grep -qF -- "$text"; do
        ((SECONDS < deadline)) || fail "'$text' did not appear on $session's screen within $seconds s"
        sleep 0.2
    done
}

# Types a line and Enter, paced as a person types: the first key alone (in poezio's roster tab
# "/" opens the command line, and keys in the same read are taken as roster shortcuts), and
# Enter alone (poezio takes a long burst of keys as a paste, where Enter is text). The pauses
# pace the client's UI; they wait for nothing on the server.
type_line() {
    tmx send-keys -t "$1" -l -- "${2:0:1}"
    sleep 0.3
    tmx send-keys -t "$1" -l -- "${2:1}"
    sleep 0.3
    tmx send-keys -t "$1" Enter
}

# Switches profanity to its console (window 1) and waits until the console's own text shows;
# typed again if the keys were lost. (The status bar is no proof: it brackets windows with
# unread messages as well as the current one.)
switch_to_console() { # session
    local session="$1"
    for _ in 1 2 3; do
        type_line "$session" "/win 1"
        for _ in $(seq 1 25); do
            screen "$session" | grep -qF -- "logged in successfully" && return 0
            sleep 0.2
        done
    done
    fail "profanity's console did not show on $session's screen after three /win 1"
}

start_client() { # session, command...
    local session="$1"
    shift
    if tmx has-session -t "$session" 2> /dev/null; then tmx kill-session -t "$session"; fi
    if [[ -z "$TMUX_PID" ]]; then
        tmx new-session -d -s "$session" -x 200 -y 50 "$@"
        TMUX_PID="$(tmx display-message -p '#{pid}')"
    else
        tmx new-session -d -s "$session" -x 200 -y 50 "$@"
    fi
    # A client that exits keeps its last screen for the failure report.
    tmx set-option -t "$session" remain-on-exit on > /dev/null
    PANE_PIDS+=("$(tmx display-message -p -t "$session" '#{pane_pid}')")
}

# --- the server --------------------------------------------------------------------------
for name in alice bob; do
    echo "$name-pass" | "$STARLING" adduser "$name@localhost" --password-stdin --data-dir "$WORK/data" > /dev/null
done
# shellcheck source=lib/starling.sh
source scripts/lib/starling.sh
start_starling "$WORK/server.log" serve --data-dir "$WORK/data" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0 --log-level info
# profanity 0.13 shows the SHA-1 fingerprint, in lower case without colons.
SHA1="$(sed -n 's/^Certificate SHA-1 fingerprint: *//p' "$WORK/server.log" | tr -d ':' | tr 'A-F' 'a-f')"
[[ -n "$SHA1" ]] || fail "the server printed no SHA-1 fingerprint"

# --- the clients' homes ------------------------------------------------------------------
mkdir -p "$WORK/alice/.config/profanity" "$WORK/alice/.local/share" "$WORK/bob/.config/poezio" "$WORK/bob/.local/share" "$WORK/bob/.cache"
cat > "$WORK/alice/.config/profanity/profrc" <<EOF
[connection]
autoping=$PING_SECONDS
autoping.timeout=10
[notifications]
message=false
EOF
# poezio has no trust prompt: it checks the chain against ca_cert_path, so trusting a
# self-signed server means giving it that certificate, as a user would copy it.
cp "$WORK/data/tls/certificate.pem" "$WORK/bob/server.pem"
cat > "$WORK/bob/.config/poezio/poezio.cfg" <<EOF
[Poezio]
jid = bob@localhost
password = bob-pass
custom_host = 127.0.0.1
custom_port = $PORT
ca_cert_path = $WORK/bob/server.pem
connection_check_interval = $PING_SECONDS
connection_timeout_delay = 10
show_tab_names = true
enable_vertical_tab_list = false
# /vcard (reads an entity's vcard-temp) is a plugin.
plugins_autoload = vcard
EOF
[[ -z "$CLIENT_OWNER" ]] || chown -R "$CLIENT_OWNER" "$WORK/bob"
ALICE_ENV=(env HOME="$WORK/alice" XDG_CONFIG_HOME="$WORK/alice/.config" XDG_DATA_HOME="$WORK/alice/.local/share")
BOB_ENV=(env HOME="$WORK/bob" XDG_CONFIG_HOME="$WORK/bob/.config" XDG_DATA_HOME="$WORK/bob/.local/share" XDG_CACHE_HOME="$WORK/bob/.cache")
start_bob() { start_client bob "${AS_CLIENT[@]}" "${BOB_ENV[@]}" poezio -d "$WORK/bob/debug.log"; }

# --- connect and accept the certificate ---------------------------------------------------
start_client alice "${ALICE_ENV[@]}" profanity
wait_for alice 20 "Type '/help'"
type_line alice "/connect alice@localhost server 127.0.0.1 port $PORT"
wait_for alice 20 "Enter password"
type_line alice "alice-pass"
wait_for alice 20 "TLS certificate verification failed"
wait_for alice 5 "Fingerprint         : $SHA1"
type_line alice "/tls allow"
wait_for alice 20 "alice@localhost/"
wait_for alice 20 "logged in successfully"
LOGGED_IN=$SECONDS
echo "profanity: connected, certificate fingerprint matched the server's"

start_bob
wait_for bob 30 "Authentication success"
wait_for bob 20 "Your JID is bob@localhost/"
echo "poezio: connected with the server's certificate"

# --- chat both ways -----------------------------------------------------------------------
type_line alice "/msg bob@localhost Hello Bob, from profanity"
# poezio opens a tab for the conversation (named in its tab bar) and stays on the roster.
wait_for bob 20 "1 alice"
type_line bob "/win alice"
wait_for bob 20 "Hello Bob, from profanity"
type_line bob "Hello Alice, from poezio"
wait_for alice 20 "Hello Alice, from poezio"
echo "chat: both ways"

# --- subscriptions and presence -------------------------------------------------------------
# poezio's subscription commands and news belong to its roster tab.
type_line bob "/win 0"
type_line alice "/sub request bob@localhost"
wait_for bob 20 "alice@localhost wants to subscribe"
type_line bob "/accept alice@localhost"
type_line bob "/add alice@localhost"
wait_for alice 20 "bob@localhost Authorization request"
type_line alice "/sub allow bob@localhost"
# The roster tab counts a contact's available resources: "(1)" once Alice's presence came.
wait_for bob 20 "alice@localhost (1)"
# profanity's chat window names the contact's presence in its title bar: "[offline]" until
# Alice may see Bob's presence, then what Bob sets.
type_line bob "/status away gone fishing"
wait_for alice 20 "bob@localhost [away]"
type_line bob "/win alice"
type_line alice "/sub show bob@localhost"
wait_for alice 10 "subscription status: both"
echo "presence: subscribed both ways, Bob's status seen by Alice"

# --- block and unblock ------------------------------------------------------------------
# profanity answers commands in its console (window 1); chats are in window 2.
switch_to_console alice
type_line alice "/blocked add bob@localhost"
wait_for alice 10 "User bob@localhost successfully blocked."
# XEP-0191 §3.3: blocking Bob sends him Alice's unavailable presence.
wait_for bob 10 "alice@localhost is offline"
type_line bob "Can you read this while I am blocked"
type_line alice "/blocked remove bob@localhost"
wait_for alice 10 "User bob@localhost successfully unblocked."
type_line bob "And now that I am unblocked"
type_line alice "/win 2"
wait_for alice 20 "And now that I am unblocked"
# Bob's two messages are routed in order: had the first got through, it would be on screen.
if screen alice | grep -qF "while I am blocked"; then fail "a message sent while Bob was blocked reached Alice"; fi
echo "blocking: Bob saw Alice go offline, his message was withheld, delivery resumed after unblock"

# --- vCard: poezio sets one with its raw XML command and reads it back ------------------------
type_line bob "/rawxml <iq type='set' id='vc1'><vCard xmlns='vcard-temp'><FN>Bob the Builder</FN><NICKNAME>bobby</NICKNAME></vCard></iq>"
type_line bob "/vcard bob@localhost"
wait_for bob 20 "Bob the Builder"
wait_for bob 5 "bobby"
# The vCard opens as a form in a tab of its own; Ctrl+G closes it.
tmx send-keys -t bob C-g
wait_for bob 10 "|1 alice]"
echo "vCard: set and read back"

# --- offline delivery ---------------------------------------------------------------------
type_line bob "/quit"
wait_for alice 20 "bob@localhost [offline]"
type_line alice "/msg bob@localhost Kept for you while you were away"
start_bob
wait_for bob 30 "Your JID is bob@localhost/"
wait_for bob 20 "1 alice"
type_line bob "/win alice"
wait_for bob 20 "Kept for you while you were away"
echo "offline: the message was delivered at Bob's next login"

# --- keepalive: several ping intervals, then no error on either screen ---------------------
until ((SECONDS - LOGGED_IN >= 5 * PING_SECONDS)); do sleep 1; done
# What a lost keepalive looks like on each screen: profanity's autoping error (issue 22),
# a dropped connection, poezio's reconnection.
for text in "Server ping not supported" "Lost connection" "disconnected" "Disconnected"; do
    if screen alice | grep -qF -- "$text"; then fail "profanity shows '$text'"; fi
done
switch_to_console alice
for text in "Server ping not supported" "Lost connection" "autoping"; do
    if screen alice | grep -qF -- "$text"; then fail "profanity's console shows '$text'"; fi
done
type_line alice "/win 2"
type_line bob "/win 0"
wait_for bob 10 "Roster:"
for text in "Disconnected" "Connection lost" "Auto-reconnecting" "Error>"; do
    if screen bob | grep -qF -- "$text"; then fail "poezio shows '$text'"; fi
done
type_line bob "/win alice"
type_line alice "/msg bob@localhost Still here after $((SECONDS - LOGGED_IN)) s"
wait_for bob 20 "Still here after"
echo "keepalive: both connected after $((SECONDS - LOGGED_IN)) s with pings every $PING_SECONDS s, no error on screen"

type_line alice "/quit"
type_line bob "/quit"
echo "interop-terminal: profanity and poezio passed"
