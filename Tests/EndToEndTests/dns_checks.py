#!/usr/bin/python3
"""DNS checks for Examples/dns-server (Tests/EndToEndTests/DNSServerTests.swift), with
dnspython (Debian's python3-dnspython). Each mode prints one line per finding and exits 0
only if every check held.

  diff ZONEDIR REFERENCE SUBJECT PORT   the same queries to NSD (REFERENCE) and to Sirocco
                                        (SUBJECT): rcode, flags, EDNS and every section must
                                        agree (records compared as sets within a section)
  pipeline ADDRESS PORT COUNT           COUNT queries in one TCP write, answered in order
  idle ADDRESS PORT SECONDS             an idle TCP connection is closed after SECONDS (+2)
  rrl ADDRESS PORT RATE                 a burst of identical queries: at most RATE a second
                                        answered in full, some slipped (TC), the rest dropped
  malformed ADDRESS PORT                hostile datagrams get nothing or FORMERR; the server
                                        answers a good query after them
  serve KIND ADDRESS SECONDS            a misbehaving server on ADDRESS port 53 for the
                                        resolver's tests, every A query answered 192.0.2.10:
                                        silent (reads, never answers), truncating (TC over UDP,
                                        the answer over TCP), spoofing (first a wrong ID, a
                                        wrong question and a wrong source port, all with
                                        203.0.113.66, then the answer)
"""
import random
import socket
import struct
import sys
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone

TYPES = ["A", "AAAA", "NS", "MX", "TXT", "SOA", "CNAME", "SRV", "PTR", "CAA", "HINFO", "ANY", "DS", "TYPE999"]


def udp_exchange(address, port, wire, timeout=2.0):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(wire, (address, port))
        return sock.recv(65535)


def tcp_exchange(address, port, wire, timeout=5.0):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        return read_tcp_message(sock)


def read_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(data), count))
        data += chunk
    return data


def read_tcp_message(sock):
    (length,) = struct.unpack("!H", read_exact(sock, 2))
    return read_exact(sock, length)


def corpus(zonedir):
    """The queries: every name of every zone with every type, names that do not exist (below
    wildcards, delegations and empty non-terminals too), case variants, EDNS sizes from none
    to 4096, classes CH and ANY, names of zones not served."""
    import os
    rng = random.Random(14)
    names = []
    for file in sorted(os.listdir(zonedir)):
        if not file.endswith(".zone"):
            continue
        origin = dns.name.from_text(file[:-5])
        zone = dns.zone.from_file(os.path.join(zonedir, file), origin=origin, relativize=False)
        for name in zone.nodes.keys():
            names.append(name.to_text())
        for extra in ["nope", "x.nope", "deep.x.nope", "foo.wild", "a.b.wild", "exists.wild", "b.c", "c", "x.a.b.c",
                      "host.sub", "deep.host.sub", "x.nogl", "x.sub2", "*", "missing"]:
            names.append(extra + "." + origin.to_text())
    names += ["www.other.test.", "example.", "test.", "."]
    queries = []
    sizes = [None, None, 512, 1232, 4096, 600, 1400]
    for index, name in enumerate(sorted(set(names))):
        for type_index, qtype in enumerate(TYPES):
            size = sizes[(index + type_index) % len(sizes)]
            queries.append((name, qtype, "IN", size))
    # Case variants: the question must come back as asked, the answer as the zone has it.
    for name in sorted(set(names))[:40]:
        varied = "".join(c.upper() if rng.random() < 0.5 else c for c in name)
        queries.append((varied, rng.choice(["A", "AAAA", "MX", "TXT", "ANY"]), "IN", rng.choice(sizes)))
    # Every RRset too big for 512 bytes, at each size.
    for size in [None, 512, 600, 1232, 4096]:
        for name, qtype in [("big.example.test.", "TXT"), ("many.example.test.", "A"), ("many.example.test.", "ANY"),
                            ("_sip._tcp.example.test.", "SRV")]:
            queries.append((name, qtype, "IN", size))
    for qclass in ["CH", "ANY"]:
        queries.append(("www.example.test.", "A", qclass, None))
    return queries


def make_query(name, qtype, qclass, size, qid):
    query = dns.message.make_query(name, qtype, rdclass=qclass, use_edns=size is not None,
                                   payload=size or 512, want_dnssec=False)
    query.flags &= ~dns.flags.RD
    query.id = qid
    return query


def summary(wire):
    """What must agree: the header's bits and code, EDNS, and each section as a sorted list of
    records in presentation form (the owner's case as sent)."""
    message = dns.message.from_wire(wire, ignore_trailing=False, question_only=False)
    flags = dns.flags.to_text(message.flags)
    sections = []
    for section in (message.answer, message.authority, message.additional):
        records = []
        for rrset in section:
            for rdata in rrset:
                records.append("%s %d %s %s %s" % (rrset.name.to_text(), rrset.ttl, dns.rdataclass.to_text(rrset.rdclass),
                                                    dns.rdatatype.to_text(rrset.rdtype), rdata.to_text()))
        sections.append(sorted(records))
    question = [q.to_text() for q in message.question]
    edns = None if message.edns < 0 else (message.edns, message.payload, message.ednsflags)
    return {"rcode": dns.rcode.to_text(message.rcode()), "flags": flags, "question": question, "edns": edns,
            "answer": sections[0], "authority": sections[1], "additional": sections[2]}


def diff(zonedir, reference, subject, port):
    queries = corpus(zonedir)
    failures = 0
    for index, (name, qtype, qclass, size) in enumerate(queries):
        query = make_query(name, qtype, qclass, size, (index * 7919) & 0xffff)
        wire = query.to_wire()
        results = []
        for server in (reference, subject):
            try:
                results.append(summary(udp_exchange(server, port, wire)))
            except Exception as error:  # a timeout or an unreadable response is a difference
                results.append({"error": repr(error)})
        if results[0] != results[1]:
            failures += 1
            if failures <= 25:
                print("differs: %s %s %s EDNS %s" % (name, qclass, qtype, size))
                for key in sorted(set(results[0]) | set(results[1])):
                    if results[0].get(key) != results[1].get(key):
                        print("   %-10s NSD     %s" % (key, results[0].get(key)))
                        print("   %-10s Sirocco %s" % ("", results[1].get(key)))
    # Over TCP, the sizes do not apply: every answer whole.
    tcp_failures = 0
    tcp_queries = [q for q in queries if q[0].lower() in ("big.example.test.", "many.example.test.", "www.example.test.")]
    for index, (name, qtype, qclass, size) in enumerate(tcp_queries):
        wire = make_query(name, qtype, qclass, size, index).to_wire()
        results = [summary(tcp_exchange(server, port, wire)) for server in (reference, subject)]
        if results[0] != results[1]:
            tcp_failures += 1
            if tcp_failures <= 5:
                print("differs over TCP: %s %s EDNS %s: NSD %s / Sirocco %s" % (name, qtype, size, results[0], results[1]))
    total = len(queries) + len(tcp_queries)
    print("%d queries (%d over UDP, %d over TCP): %d differ" % (total, len(queries), len(tcp_queries), failures + tcp_failures))
    return failures + tcp_failures == 0 and total >= 500


def pipeline(address, port, count):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    names = ["www.example.test.", "mail.example.test.", "nope.example.test.", "alias.example.test."]
    wires = []
    for index in range(count):
        query = make_query(names[index % len(names)], "A", "IN", None, 1000 + index)
        wires.append(query.to_wire())
    with socket.create_connection((address, port), timeout=10) as sock:
        sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        for index in range(count):
            response = dns.message.from_wire(read_tcp_message(sock))
            if response.id != 1000 + index:
                print("response %d has id %d, expected %d (in order)" % (index, response.id, 1000 + index))
                return False
            expected = dns.rcode.NXDOMAIN if names[index % len(names)].startswith("nope") else dns.rcode.NOERROR
            if response.rcode() != expected:
                print("response %d: %s" % (index, dns.rcode.to_text(response.rcode())))
                return False
    print("%d pipelined queries answered in order on one connection" % count)
    return True


def idle(address, port, seconds):
    with socket.create_connection((address, port), timeout=seconds + 10) as sock:
        wire = make_query("www.example.test.", "A", "IN", None, 77).to_wire()
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        read_tcp_message(sock)
        start = time.monotonic()
        data = sock.recv(10)
        elapsed = time.monotonic() - start
    if data != b"":
        print("expected the server's FIN, got %r" % data)
        return False
    if not (seconds - 1 <= elapsed <= seconds + 2):
        print("idle connection closed after %.1f s, expected %d" % (elapsed, seconds))
        return False
    print("idle connection closed by the server after %.1f s (timeout %d s)" % (elapsed, seconds))
    return True


def rrl(address, port, rate):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    full = slipped = 0
    sent = 200
    wire = make_query("www.example.test.", "A", "IN", 1232, 4242).to_wire()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        start = time.monotonic()
        for _ in range(sent):
            sock.sendto(wire, (address, port))
        elapsed = time.monotonic() - start
        while True:
            try:
                response = dns.message.from_wire(sock.recv(65535))
            except socket.timeout:
                break
            if response.flags & dns.flags.TC:
                if response.answer:
                    print("a slipped response carries answers")
                    return False
                slipped += 1
            else:
                full += 1
    seconds = int(elapsed) + 2  # the burst may straddle second boundaries
    print("%d identical queries in %.2f s: %d answered, %d slipped (TC), %d dropped" % (sent, elapsed, full, slipped,
                                                                                      sent - full - slipped))
    return 0 < full <= rate * seconds and slipped > 0 and full + slipped < sent


def malformed(address, port):
    good = make_query("www.example.test.", "A", "IN", None, 99).to_wire()
    bad = [
        b"", b"\x00", b"\x12\x34\x01\x00\x00\x01",  # shorter than a header
        good[:2] + b"\x81\x00" + good[4:],  # QR set: a response, never answered
        good[:2] + b"\x01\x00\x00\x05" + good[6:],  # five questions announced, one present
        good[:12] + b"\xc0\x0c\x00\x01\x00\x01",  # a pointer to itself
        good[:12] + b"\x3fabc\x00\x00\x01\x00\x01",  # a label running past the end
        good + b"trailing",
    ]
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    answered = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        for wire in bad:
            sock.sendto(wire, (address, port))
            try:
                response = sock.recv(65535)
            except socket.timeout:
                continue
            answered += 1
            message = dns.message.from_wire(response)
            if message.rcode() != dns.rcode.FORMERR or wire[2] & 0x80:
                print("hostile datagram %r answered %s" % (wire[:16], dns.rcode.to_text(message.rcode())))
                return False
    response = dns.message.from_wire(udp_exchange(address, port, good))
    if response.rcode() != dns.rcode.NOERROR or not response.answer:
        print("good query after the hostile ones: %s" % response)
        return False
    print("%d hostile datagrams: %d answered FORMERR, the rest dropped; the server still answers" % (len(bad), answered))
    return True


def answer(query, address="192.0.2.10"):
    import dns.rrset
    response = dns.message.make_response(query)
    question = query.question[0]
    if question.rdtype == dns.rdatatype.A:
        response.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A", address))
    return response


def serve(kind, address, seconds):
    import select
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 53))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind((address, 5353))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, 53))
    tcp.listen(8)
    print("serving (%s) on %s" % (kind, address), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([udp, tcp], [], [], 0.2)
        if udp in ready:
            wire, client = udp.recvfrom(65535)
            query = dns.message.from_wire(wire)
            print("query %s from %s" % (query.question[0].to_text(), client), flush=True)
            if kind == "silent":
                continue
            if kind == "truncating":
                response = dns.message.make_response(query)
                response.flags |= dns.flags.TC
                udp.sendto(response.to_wire(), client)
                continue
            if kind == "spoofing":
                forged = answer(query, "203.0.113.66")
                forged.id = query.id ^ 0x5a5a
                udp.sendto(forged.to_wire(), client)
                forged = answer(dns.message.make_query("other" + query.question[0].name.to_text(), "A"), "203.0.113.66")
                forged.id = query.id
                udp.sendto(forged.to_wire(), client)
                forged = answer(query, "203.0.113.66")
                other.sendto(forged.to_wire(), client)
            udp.sendto(answer(query).to_wire(), client)
        if tcp in ready:
            connection, _ = tcp.accept()
            with connection:
                connection.settimeout(5)
                query = dns.message.from_wire(read_tcp_message(connection))
                print("TCP query %s" % query.question[0].to_text(), flush=True)
                wire = answer(query).to_wire()
                connection.sendall(struct.pack("!H", len(wire)) + wire)
    return True


def main():
    mode = sys.argv[1]
    if mode == "diff":
        ok = diff(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif mode == "pipeline":
        ok = pipeline(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "idle":
        ok = idle(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "rrl":
        ok = rrl(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "malformed":
        ok = malformed(sys.argv[2], int(sys.argv[3]))
    elif mode == "serve":
        ok = serve(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        print(__doc__)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
