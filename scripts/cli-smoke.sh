#!/usr/bin/env bash
# The starling command as an operator uses it: account commands, clear messages for
# mistakes, and `check` on good and bad configurations.
set -euo pipefail
cd "$(dirname "$0")/.."
STARLING="${STARLING:-.build/debug/starling}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

expect() { # description, expected exit (0 or nonzero), text the output must contain, command...
    local description="$1" want="$2" text="$3"
    shift 3
    local output status=0
    output="$("$@" 2>&1)" || status=$?
    if { [[ "$want" == 0 && $status -eq 0 ]] || [[ "$want" != 0 && $status -ne 0 ]]; } && [[ "$output" == *"$text"* ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $description (exit $status): $output"
    fi
}

D=(--data-dir "$WORK/data")
expect "adduser creates" 0 "created alice@localhost" bash -c "echo pw1 | $STARLING adduser alice@localhost --password-stdin ${D[*]}"
expect "adduser refuses a duplicate" 1 "already exists" bash -c "echo pw | $STARLING adduser Alice@LOCALHOST --password-stdin ${D[*]}"
expect "adduser refuses a look-alike" 1 "looks like the existing account" bash -c "echo pw | $STARLING adduser a1ice@localhost --password-stdin ${D[*]}"
expect "adduser refuses a nodeprep mismatch" 1 "nodeprep" bash -c "echo pw | $STARLING adduser straße@localhost --password-stdin ${D[*]}"
expect "adduser refuses another domain" 1 "does not serve example.org" bash -c "echo pw | $STARLING adduser bob@example.org --password-stdin ${D[*]}"
expect "adduser refuses a bad address" 1 "not a valid account address" bash -c "echo pw | $STARLING adduser 'a b@localhost' --password-stdin ${D[*]}"
expect "adduser without a terminal asks for --password-stdin" 1 "--password-stdin" bash -c "$STARLING adduser carol@localhost ${D[*]} < /dev/null"
expect "passwd changes" 0 "changed the password" bash -c "echo pw2 | $STARLING passwd alice@localhost --password-stdin ${D[*]}"
expect "passwd of a missing account" 1 "there is no account" bash -c "echo pw | $STARLING passwd nobody@localhost --password-stdin ${D[*]}"
expect "roster add" 0 "bob@example.org is in the roster of alice@localhost with subscription both" "$STARLING" roster add alice@localhost bob@example.org --name Bob --group Friends --group Work --subscription both "${D[@]}"
expect "roster list" 0 'bob@example.org  subscription=both  name="Bob"  groups=Friends,Work' "$STARLING" roster list alice@localhost "${D[@]}"
expect "roster add refuses a bad subscription" 1 "--subscription must be" "$STARLING" roster add alice@localhost bob@example.org --subscription maybe "${D[@]}"
expect "roster remove" 0 "removed bob@example.org" "$STARLING" roster remove alice@localhost bob@example.org "${D[@]}"
expect "roster remove of a stranger" 1 "is not in the roster" "$STARLING" roster remove alice@localhost bob@example.org "${D[@]}"
expect "roster of a missing domain" 1 "does not serve" "$STARLING" roster list alice@example.org "${D[@]}"
expect "deluser deletes" 0 "deleted alice@localhost" "$STARLING" deluser alice@localhost "${D[@]}"
expect "deluser twice" 1 "there is no account" "$STARLING" deluser alice@localhost "${D[@]}"
expect "token create refuses an unknown scope" 1 "--scope must be read or write" "$STARLING" token create --scope admin "${D[@]}"
expect "token create refuses a lifetime past a year" 1 "at most 366d" "$STARLING" token create --scope read --expires 400d "${D[@]}"
token="$("$STARLING" token create --scope read --label "smoke test" --expires 2d "${D[@]}" 2>/dev/null)"
token_id="$(cut -d_ -f2 <<< "$token")"
expect "token create prints a token" 0 "sta_" echo "$token"
expect "token list names the token, not its secret" 0 "$token_id  read  expires" "$STARLING" token list "${D[@]}"
expect "the database holds no token" 0 "" bash -c "! grep -a -q '$(cut -d_ -f3 <<< "$token")' $WORK/data/starling.sqlite*"
expect "token revoke of a malformed id" 1 "is not a token id" "$STARLING" token revoke nope "${D[@]}"
expect "token revoke" 0 "revoked $token_id" "$STARLING" token revoke "$token_id" "${D[@]}"
expect "token revoke twice" 1 "no token has the id" "$STARLING" token revoke "$token_id" "${D[@]}"
expect "the database holds no password" 0 "" bash -c "! grep -a -q 'pw2' $WORK/data/starling.sqlite*"
echo pw | "$STARLING" adduser dave@localhost --password-stdin "${D[@]}" > /dev/null
expect "invite create refuses uses out of range" 1 "--reusable must be from 1 to 1000" "$STARLING" invite create --reusable 0 "${D[@]}"
expect "invite create refuses a lifetime past a year" 1 "at most 366d" "$STARLING" invite create --expires 400d "${D[@]}"
expect "invite create refuses a missing inviter" 1 "no account nobody@localhost" "$STARLING" invite create --roster-of nobody@localhost "${D[@]}"
expect "invite create refuses another domain's inviter" 1 "not a domain this server hosts" "$STARLING" invite create --roster-of x@example.org "${D[@]}"
expect "invite create refuses a full JID as inviter" 1 "--roster-of must be an account's address" "$STARLING" invite create --roster-of dave@localhost/phone "${D[@]}"
invite="$("$STARLING" invite create --roster-of dave@localhost --reusable 3 --expires 2d "${D[@]}" 2>/dev/null)"
invite_token="${invite#*preauth=}"
invite_token="${invite_token%%;*}"
invite_id="${invite_token:0:16}"
expect "invite create prints the URI" 0 "xmpp:dave@localhost?roster;preauth=$invite_token;ibr=y" echo "$invite"
expect "invite create prints the landing page" 0 "https://localhost:5281/invite/$invite_token" echo "$invite"
expect "invite list names the invitation, not its token" 0 "$invite_id  account  localhost  uses left 3  expires" "$STARLING" invite list "${D[@]}"
expect "the database holds no invitation token" 0 "" bash -c "! grep -a -q '${invite_token:16}' $WORK/data/starling.sqlite*"
expect "invite revoke of a malformed id" 1 "is not an invitation id" "$STARLING" invite revoke nope "${D[@]}"
expect "invite revoke" 0 "revoked invitation $invite_id" "$STARLING" invite revoke "$invite_id" "${D[@]}"
expect "invite revoke twice" 1 "no invitation $invite_id" "$STARLING" invite revoke "$invite_id" "${D[@]}"
expect "export writes the accounts (XEP-0227)" 0 "exported 1 users, 3 SCRAM credentials" "$STARLING" export "$WORK/export.xml" "${D[@]}"
expect "the export is readable by its owner only" 0 "600" stat -c %a "$WORK/export.xml"
expect "export never writes over a file" 1 "it exists already" "$STARLING" export "$WORK/export.xml" "${D[@]}"
expect "export refuses a domain not served" 1 "is not a domain this server hosts" "$STARLING" export "$WORK/x.xml" --only example.org "${D[@]}"
expect "import into another server" 0 "imported 1 users, 3 SCRAM credentials" "$STARLING" import "$WORK/export.xml" --data-dir "$WORK/other"
expect "import again leaves existing accounts" 0 "skipped dave@localhost: the account dave@localhost already exists" "$STARLING" import "$WORK/export.xml" --data-dir "$WORK/other"
echo "<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>" > "$WORK/broken.xml"
expect "import of a broken file names it" 1 "broken.xml" "$STARLING" import "$WORK/broken.xml" --data-dir "$WORK/other"
expect "import of a missing file" 1 "no such file or directory" "$STARLING" import "$WORK/missing.xml" --data-dir "$WORK/other"

expect "check on defaults" 0 "configuration OK" "$STARLING" check --data-dir "$WORK/fresh"
printf 'hosts: [example.com]\nlimits:\n  max_depth: many\nlistenerz: []\n' > "$WORK/bad.yml"
expect "check names the bad key" 1 "limits.max_depth: expected a whole number" "$STARLING" check --config "$WORK/bad.yml"
expect "check names the unknown key" 1 "listenerz: unknown key" "$STARLING" check --config "$WORK/bad.yml"
printf 'modules:\n  chatrooms: {max_occupants: 5}\n' > "$WORK/module.yml"
expect "check names a section no loaded module reads" 1 "modules.chatrooms: no loaded module has options named chatrooms" "$STARLING" check --config "$WORK/module.yml" --data-dir "$WORK/fresh"
printf 'modules:\n  muc: {max_ocupants: 5}\n' > "$WORK/muc.yml"
expect "check names a chat-room option it does not know" 1 "modules.muc.max_ocupants: unknown key" "$STARLING" check --config "$WORK/muc.yml" --data-dir "$WORK/fresh"
printf 'components:\n  bot.localhost: {secret: short}\n' > "$WORK/component.yml"
expect "check names a component secret that is too short" 1 "components.bot.localhost.secret" "$STARLING" check --config "$WORK/component.yml" --data-dir "$WORK/fresh"
printf 'tls:\n  certificate: %s/missing.pem\n  private_key: %s/missing.key\n' "$WORK" "$WORK" > "$WORK/nocert.yml"
expect "check reports a missing certificate" 1 "no certificate at" "$STARLING" check --config "$WORK/nocert.yml"
# A first start makes a certificate for localhost and says so: where the data directory and
# the certificate are, and the fingerprint a client will ask its user to trust, which must be
# the one OpenSSL computes from the file. A configuration for another host must say so.
"$STARLING" serve --data-dir "$WORK/first" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0 --log-level error > "$WORK/first.out" 2>&1 &
server=$!
for _ in $(seq 1 300); do grep -q "^Starling serving" "$WORK/first.out" && break; kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
kill "$server"; wait "$server" || true
first_start="$(cat "$WORK/first.out")"
openssl_fingerprint="$(openssl x509 -noout -fingerprint -sha256 -in "$WORK/first/tls/certificate.pem" | sed 's/^[^=]*=//')"
expect "the first start names the data directory" 0 "Created the data directory $WORK/first " echo "$first_start"
expect "the first start names the certificate" 0 "Made a self-signed certificate for localhost: $WORK/first/tls/certificate.pem" echo "$first_start"
expect "openssl read a fingerprint" 0 ":" echo "$openssl_fingerprint"
expect "the first start prints openssl's fingerprint" 0 "Certificate SHA-256 fingerprint: $openssl_fingerprint" echo "$first_start"
openssl_sha1="$(openssl x509 -noout -fingerprint -sha1 -in "$WORK/first/tls/certificate.pem" | sed 's/^[^=]*=//')"
expect "the first start prints openssl's SHA-1 fingerprint (profanity shows that one)" 0 "Certificate SHA-1 fingerprint:   $openssl_sha1" echo "$first_start"
expect "the first start says how to add accounts" 0 "it works while the server runs" echo "$first_start"
expect "check prints openssl's fingerprint" 0 "SHA-256 fingerprint $openssl_fingerprint" "$STARLING" check --data-dir "$WORK/first"
expect "check accepts the generated certificate" 0 "configuration OK" "$STARLING" check --data-dir "$WORK/first"
# A later start repeats the fingerprint but creates nothing.
"$STARLING" serve --data-dir "$WORK/first" --c2s-port 0 --tls-port 0 --http-port 0 --https-port 0 --log-level error > "$WORK/second.out" 2>&1 &
server=$!
for _ in $(seq 1 300); do grep -q "^Starling serving" "$WORK/second.out" && break; kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
kill "$server"; wait "$server" || true
expect "a later start prints the fingerprint" 0 "Certificate SHA-256 fingerprint: $openssl_fingerprint" cat "$WORK/second.out"
expect "a later start creates nothing" 0 "" bash -c "! grep -E 'Created|Made a self-signed' $WORK/second.out"
printf 'hosts: [example.com]\ndata_dir: %s/first\n' "$WORK" > "$WORK/othername.yml"
expect "check reports a certificate that does not name the host" 1 "does not name example.com" "$STARLING" check --config "$WORK/othername.yml"

echo "cli smoke: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
