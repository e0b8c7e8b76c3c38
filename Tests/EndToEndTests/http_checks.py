#!/usr/bin/env python3
"""Hostile HTTP clients for the website end-to-end tests, over the Linux stack's sockets.
Every check is bounded in time; each prints one line per failure and exits 1 if any failed.

  http_checks.py corpus HOST PORT
      Sends each malformed request of the corpus on its own connection and checks the status
      it gets and that the server closes the connection after it; then a good request must
      still be served.
  http_checks.py slowloris HOST PORT COUNT TIMEOUT
      Opens COUNT connections that trickle a request one header byte every 0.3 s. Each must be
      answered 408 and closed between TIMEOUT and TIMEOUT + 3 s after it began, while a normal
      request on another connection is served at once.
"""
import socket, sys, time

def status_of(response):
    """The status code of the first response line, or None."""
    if not response.startswith(b"HTTP/1.1 "):
        return None
    try:
        return int(response[9:12])
    except ValueError:
        return None

def exchange(host, port, data, wait=5.0):
    """Sends data, then reads until the server closes (or wait runs out). Returns the bytes
    and whether the server closed."""
    connection = socket.create_connection((host, port), timeout=wait)
    try:
        connection.sendall(data)
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            connection.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = connection.recv(65536)
            except socket.timeout:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
        return received, False
    finally:
        connection.close()

H = b"Host: h\r\n"
CORPUS = [
    # Request line.
    (b"GET\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\n" + H + b"\r\n", 400),
    (b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    (b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    (b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    (b"GET / HTTP/1.x\r\n" + H + b"\r\n", 400),
    (b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    (b"GET index.html HTTP/1.1\r\n" + H + b"\r\n", 400),
    (b"GET /a\x7fb HTTP/1.1\r\n" + H + b"\r\n", 400),
    (b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n", 400),
    # Not HTTP at all: a TLS ClientHello, binary noise.
    (bytes.fromhex("16030100a5010000a10303") + bytes(range(32)), 400),
    (bytes(range(256)) * 4, 400),
    # Fields.
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n" + H + b" folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\x01b\r\n\r\n", 400),
    # Bodies and framing (request smuggling shapes).
    (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, identity\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello", 400),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n2;\nxx\r\n0\r\n\r\n", 400),
    # A refused request followed by a pipelined one: only the refusal is answered.
    (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n", 413),
    # Sizes: request line, header section, header count, body.
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 20000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % n for n in range(120)) + b"\r\n", 431),
    (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2000000\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n1ffffff\r\n", 413),
]

def corpus(host, port):
    failures = 0
    for request, expected in CORPUS:
        response, closed = exchange(host, port, request)
        status = status_of(response)
        if status != expected or not closed or response.count(b"HTTP/1.1 ") != 1:
            failures += 1
            print(f"FAIL {request[:60]!r}: expected {expected} and a close, got {status} "
                  f"({'closed' if closed else 'still open'}): {response[:80]!r}")
    # Path errors that do not break the framing: answered, and the connection stays usable.
    response, closed = exchange(host, port, b"GET /%00 HTTP/1.1\r\n" + H + b"\r\nGET /../etc HTTP/1.1\r\n" + H
                                + b"Connection: close\r\n\r\n")
    statuses = [status_of(b"HTTP/1.1 " + part) for part in response.split(b"HTTP/1.1 ")[1:]]
    if statuses != [400, 400] or not closed:
        failures += 1
        print(f"FAIL bad paths: expected [400, 400], got {statuses}")
    response, _ = exchange(host, port, b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    if status_of(response) != 200:
        failures += 1
        print(f"FAIL a good request after the corpus: {response[:80]!r}")
    print(f"{len(CORPUS) + 2 - failures} of {len(CORPUS) + 2} ok")
    return failures == 0

def slowloris(host, port, count, timeout):
    started = time.monotonic()
    slow = []
    for _ in range(count):
        connection = socket.create_connection((host, port), timeout=5)
        connection.setblocking(False)
        connection.send(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
        slow.append([connection, b"", None])
    # While they trickle, a normal client is served at once.
    time.sleep(0.5)
    begin = time.monotonic()
    response, _ = exchange(host, port, b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", wait=2)
    normal = time.monotonic() - begin
    ok = status_of(response) == 200 and normal < 1.0
    if not ok:
        print(f"FAIL normal request during the attack: {status_of(response)} after {normal:.3f} s")
    deadline = started + timeout + 3
    while time.monotonic() < deadline and any(entry[2] is None for entry in slow):
        for entry in slow:
            if entry[2] is not None:
                continue
            try:
                chunk = entry[0].recv(4096)
                if not chunk:
                    entry[2] = time.monotonic() - started
                    continue
                entry[1] += chunk
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                entry[2] = time.monotonic() - started
                continue
            try:
                entry[0].send(b"x")
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                entry[2] = time.monotonic() - started
        time.sleep(0.3)
    closed = [entry[2] for entry in slow if entry[2] is not None]
    answered = sum(1 for entry in slow if status_of(entry[1]) == 408)
    for entry in slow:
        entry[0].close()
    if len(closed) != count or answered != count or min(closed) < timeout - 0.5:
        ok = False
        print(f"FAIL slow clients: {len(closed)} of {count} closed, {answered} answered 408, "
              f"after {min(closed, default=0):.1f}-{max(closed, default=0):.1f} s (timeout {timeout} s)")
    print(f"{count} slow clients: {answered} answered 408 and closed after "
          f"{min(closed, default=0):.1f}-{max(closed, default=0):.1f} s; a normal request took {normal * 1000:.1f} ms")
    return ok

if __name__ == "__main__":
    command, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if command == "corpus":
        sys.exit(0 if corpus(host, port) else 1)
    if command == "slowloris":
        sys.exit(0 if slowloris(host, port, int(sys.argv[4]), float(sys.argv[5])) else 1)
    print(f"unknown check {command!r}: expected corpus or slowloris", file=sys.stderr)
    sys.exit(2)
