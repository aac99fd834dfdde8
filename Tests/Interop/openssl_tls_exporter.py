"""tls-exporter (RFC 9266) against Starling with OpenSSL as the TLS client: the binding is the
one `openssl s_client -keymatexport EXPORTER-Channel-Binding -keymatexportlen 32` prints
(OpenSSL's SSL_export_keying_material), and the SCRAM-SHA-256-PLUS client is hashlib and hmac,
so nothing of Starling's own client or derivation is on this side.

Usage: openssl_tls_exporter.py PORT starttls|direct TLS13-SUITE|tls1.2 PASSWORD [fast]
With a TLS 1.3 suite: a wrong binding must fail, OpenSSL's must succeed, and server-first
must carry the XEP-0474 h= attribute. With tls1.2: tls-exporter must not be offered.

With `fast` (a TLS 1.3 suite): XEP-0484 over SASL2 instead. A SCRAM-SHA-256-PLUS login asks
for an HT-SHA-256-EXPR token; a new connection logs in with it, the initiator hash made here
with hmac over OpenSSL's exporter value, and the server's responder hash is checked the same
way; a hash over another binding is refused. Then the same for HT-SHA-256-NONE. The HT
computation (draft-schmaus-kitten-sasl-ht-08) is Python's hmac, not Starling's."""
import base64, hashlib, hmac, os, re, subprocess, sys, threading, time

port, mode, suite, password = sys.argv[1:5]
fast = len(sys.argv) > 5 and sys.argv[5] == "fast"
SASL2 = "urn:xmpp:sasl:2"
FAST = "urn:xmpp:fast:0"


class Connection:
    """One `openssl s_client` connection: what it prints is read in the background."""

    def __init__(self):
        command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof"]
        if suite == "tls1.2":
            command += ["-tls1_2"]
        else:
            command += ["-tls1_3", "-ciphersuites", suite, "-keymatexport", "EXPORTER-Channel-Binding", "-keymatexportlen", "32"]
        if mode == "starttls":
            command += ["-starttls", "xmpp", "-xmpphost", "localhost"]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.received = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()
        self.exporter = None
        if suite != "tls1.2":
            self.exporter = bytes.fromhex(self.wait(rb"Keying material: ([0-9A-F]{64})").group(1).decode())
        self.send("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams'>")
        self.features = self.wait(rb"<stream:features>.*?</stream:features>").group(0).decode()

    def read(self):
        while chunk := self.process.stdout.read1(4096):
            with self.lock:
                self.received.extend(chunk)

    def wait(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                match = re.search(pattern, bytes(self.received), re.S)
                if match:
                    del self.received[: match.end()]
                    return match
            time.sleep(0.02)
        sys.exit(f"timed out waiting for {pattern!r}")

    def send(self, text):
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def close(self):
        self.process.kill()


def scram_messages(binding):
    """A SCRAM-SHA-256-PLUS client (tls-exporter): client-first, then a function from
    server-first to (client-final, whether server-first had h=)."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    gs2, bare = "p=tls-exporter,,", f"n=alice,r={nonce}"

    def final(server_first):
        attributes = dict(part.split("=", 1) for part in server_first.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attributes["s"]), int(attributes["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        without_proof = f"c={base64.b64encode(gs2.encode() + binding).decode()},r={attributes['r']}"
        auth_message = f"{bare},{server_first},{without_proof}".encode()
        signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
        return base64.b64encode(f"{without_proof},p={proof}".encode()).decode(), "h" in attributes

    return base64.b64encode((gs2 + bare).encode()).decode(), final


def scram(connection, binding):
    first, final = scram_messages(binding)
    connection.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256-PLUS'>{first}</auth>")
    server_first = base64.b64decode(connection.wait(rb"<challenge[^>]*>([^<]*)</challenge>").group(1)).decode()
    message, has_h = final(server_first)
    connection.send(f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{message}</response>")
    return has_h, connection.wait(rb"<(success|failure)\b").group(1).decode()


def request_token(agent, mechanism):
    """SASL2 SCRAM-SHA-256-PLUS with <request-token/>: the token and expiry from <success/>."""
    connection = Connection()
    try:
        first, final = scram_messages(connection.exporter)
        connection.send(f"<authenticate xmlns='{SASL2}' mechanism='SCRAM-SHA-256-PLUS'><initial-response>{first}</initial-response>"
                        f"<user-agent id='{agent}'/><request-token xmlns='{FAST}' mechanism='{mechanism}'/></authenticate>")
        server_first = base64.b64decode(connection.wait(rb"<challenge[^>]*>([^<]*)</challenge>").group(1)).decode()
        message, _ = final(server_first)
        connection.send(f"<response xmlns='{SASL2}'>{message}</response>")
        success = connection.wait(rb"<(success|failure)\b.*?</\1>").group(0).decode()
        assert success.startswith("<success"), f"the password login failed: {success}"
        token = re.search(r"<token [^>]*token=.([^'\"]+).", success)
        expiry = re.search(r"<token [^>]*expiry=.([^'\"]+).", success)
        assert token and expiry, f"no <token/> in {success}"
        return token.group(1)
    finally:
        connection.close()


def ht_login(agent, mechanism, token, wrong_binding=False):
    """HT-SHA-256-* with Python's hmac: 'success' (responder hash checked) or the failure."""
    connection = Connection()
    try:
        offered = re.search(r"<fast xmlns=.urn:xmpp:fast:0.>(.*?)</fast>", connection.features)
        assert offered and mechanism in offered.group(1), f"{mechanism} not offered in {connection.features}"
        binding = connection.exporter if mechanism == "HT-SHA-256-EXPR" else b""
        if wrong_binding:
            binding = bytes(32)
        initiator = hmac.new(token.encode(), b"Initiator" + binding, "sha256").digest()
        initial = base64.b64encode(b"alice\0" + initiator).decode()
        connection.send(f"<authenticate xmlns='{SASL2}' mechanism='{mechanism}'><initial-response>{initial}</initial-response>"
                        f"<user-agent id='{agent}'/><fast xmlns='{FAST}'/></authenticate>")
        answer = connection.wait(rb"<(success|failure)\b.*?</\1>").group(0).decode()
        if not answer.startswith("<success"):
            return re.search(r"<([a-z-]+) xmlns=.urn:ietf:params:xml:ns:xmpp-sasl.\s*/>", answer).group(1)
        data = re.search(r"<additional-data[^>]*>([^<]*)</additional-data>", answer)
        assert data, "no <additional-data/> in the HT success"
        responder = hmac.new(token.encode(), b"Responder" + binding, "sha256").digest()
        assert hmac.compare_digest(base64.b64decode(data.group(1)), responder), "the responder hash is wrong"
        return "success"
    finally:
        connection.close()


if fast:
    assert suite != "tls1.2", "FAST is checked over TLS 1.3 (tls-exporter)"
    token = request_token("interop-expr", "HT-SHA-256-EXPR")
    assert ht_login("interop-expr", "HT-SHA-256-EXPR", token, wrong_binding=True) == "not-authorized", "a hash over another binding was accepted"
    assert ht_login("interop-expr", "HT-SHA-256-EXPR", token) == "success"
    token = request_token("interop-none", "HT-SHA-256-NONE")
    assert ht_login("interop-none", "HT-SHA-256-NONE", token) == "success"
    # (A token used with another mechanism is refused too, in FASTIntegrationTests; each
    # refusal here counts toward the address's lockout, which the other checks share.)
    print(f"{mode} {suite} FAST: HT-SHA-256-EXPR and -NONE tokens log in with Python's hmac and OpenSSL's exporter; responder hashes match")
    sys.exit(0)

connection = Connection()
offered = set(re.findall(r"<channel-binding type=.([a-z-]+).", connection.features))
try:
    if connection.exporter is None:
        assert offered == {"tls-server-end-point"}, f"TLS 1.2 offers {offered}"
        print(f"{mode} TLS 1.2: only tls-server-end-point offered")
    else:
        assert offered == {"tls-exporter", "tls-server-end-point"}, f"TLS 1.3 offers {offered}"
        _, answer = scram(connection, bytes(32))
        assert answer == "failure", "a wrong binding was accepted"
        has_h, answer = scram(connection, connection.exporter)
        assert answer == "success", "OpenSSL's exporter was refused"
        assert has_h, "server-first had no XEP-0474 h="
        print(f"{mode} {suite}: OpenSSL's exporter accepted, a wrong one refused, h= present")
finally:
    connection.close()
