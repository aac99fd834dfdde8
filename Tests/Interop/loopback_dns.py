"""A tiny authoritative DNS responder for the federation test's network namespace: answers
A queries for the test domains from a fixed table and NXDOMAIN for everything else (SRV
included), so servers fall back to the domain's address at once instead of timing out.

Usage: loopback_dns.py LISTEN_IP name=ip [name=ip ...]
"""
import socket
import struct
import sys

listen = sys.argv[1]
table = dict(entry.split("=", 1) for entry in sys.argv[2:])

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((listen, 53))
while True:
    data, peer = sock.recvfrom(4096)
    if len(data) < 12:
        continue
    query_id, flags, qdcount = struct.unpack(">HHH", data[:6])
    offset, labels = 12, []
    while offset < len(data) and data[offset] != 0:
        length = data[offset]
        labels.append(data[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    offset += 1
    if offset + 4 > len(data):
        continue
    qtype, qclass = struct.unpack(">HH", data[offset:offset + 4])
    question = data[12:offset + 4]
    name = ".".join(labels).lower()
    recursion = flags & 0x0100
    if qtype == 1 and name in table:
        header = struct.pack(">HHHHHH", query_id, 0x8400 | recursion | 0x0080, 1, 1, 0, 0)
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(table[name])
        sock.sendto(header + question + answer, peer)
    else:
        rcode = 0 if name in table else 3
        header = struct.pack(">HHHHHH", query_id, 0x8400 | recursion | 0x0080 | rcode, 1, 0, 0, 0)
        sock.sendto(header + question, peer)
