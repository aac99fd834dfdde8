"""tls-exporter (RFC 9266) against Starling with OpenSSL as the TLS client: the binding is the
one `openssl s_client -keymatexport EXPORTER-Channel-Binding -keymatexportlen 32` prints
(OpenSSL's SSL_export_keying_material), and the SCRAM-SHA-256-PLUS client is hashlib and hmac,
so nothing of Starling's own client or derivation is on this side.

Usage: openssl_tls_exporter.py PORT starttls|direct TLS13-SUITE|tls1.2 PASSWORD
With a TLS 1.3 suite: a wrong binding must fail, OpenSSL's must succeed, and server-first
must carry the XEP-0474 h= attribute. With tls1.2: tls-exporter must not be offered."""
import base64, hashlib, hmac, os, re, subprocess, sys, threading, time

port, mode, suite, password = sys.argv[1:5]
command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof"]
if suite == "tls1.2":
    command += ["-tls1_2"]
else:
    command += ["-tls1_3", "-ciphersuites", suite, "-keymatexport", "EXPORTER-Channel-Binding", "-keymatexportlen", "32"]
if mode == "starttls":
    command += ["-starttls", "xmpp", "-xmpphost", "localhost"]
process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
received = bytearray()
lock = threading.Lock()


def read():
    while chunk := process.stdout.read1(4096):
        with lock:
            received.extend(chunk)


threading.Thread(target=read, daemon=True).start()


def wait(pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with lock:
            match = re.search(pattern, bytes(received), re.S)
            if match:
                del received[: match.end()]
                return match
        time.sleep(0.02)
    sys.exit(f"timed out waiting for {pattern!r}")


def send(text):
    process.stdin.write(text.encode())
    process.stdin.flush()


def scram(binding):
    nonce = base64.b64encode(os.urandom(18)).decode()
    gs2, bare = "p=tls-exporter,,", f"n=alice,r={nonce}"
    first = base64.b64encode((gs2 + bare).encode()).decode()
    send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256-PLUS'>{first}</auth>")
    server_first = base64.b64decode(wait(rb"<challenge[^>]*>([^<]*)</challenge>").group(1)).decode()
    attributes = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attributes["s"]), int(attributes["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    without_proof = f"c={base64.b64encode(gs2.encode() + binding).decode()},r={attributes['r']}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    final = base64.b64encode(f"{without_proof},p={proof}".encode()).decode()
    send(f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{final}</response>")
    return "h" in attributes, wait(rb"<(success|failure)\b").group(1).decode()


exporter = None
if suite != "tls1.2":
    exporter = bytes.fromhex(wait(rb"Keying material: ([0-9A-F]{64})").group(1).decode())
send("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
     "xmlns:stream='http://etherx.jabber.org/streams'>")
features = wait(rb"<stream:features>.*?</stream:features>").group(0).decode()
offered = set(re.findall(r"<channel-binding type=.([a-z-]+).", features))
try:
    if exporter is None:
        assert offered == {"tls-server-end-point"}, f"TLS 1.2 offers {offered}"
        print(f"{mode} TLS 1.2: only tls-server-end-point offered")
    else:
        assert offered == {"tls-exporter", "tls-server-end-point"}, f"TLS 1.3 offers {offered}"
        _, answer = scram(bytes(32))
        assert answer == "failure", "a wrong binding was accepted"
        has_h, answer = scram(exporter)
        assert answer == "success", "OpenSSL's exporter was refused"
        assert has_h, "server-first had no XEP-0474 h="
        print(f"{mode} {suite}: OpenSSL's exporter accepted, a wrong one refused, h= present")
finally:
    process.kill()
