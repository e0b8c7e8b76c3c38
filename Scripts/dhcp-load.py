#!/usr/bin/env python3
# A scripted DHCP client for Scripts/bench-dhcp: on INTERFACE, runs DISCOVER/OFFER/
# REQUEST/ACK exchanges for distinct hardware addresses, WINDOW of them in flight at once,
# for SECONDS, and prints the leases completed per second. Replies are taken from a raw
# packet socket (servers broadcast them to clients without an address); requests go out as
# broadcast UDP from port 68. A transaction unanswered for a second is abandoned (counted).
# Usage: dhcp-load.py INTERFACE SECONDS [WINDOW]   (root)
import os, select, socket, struct, sys, time

interface, seconds = sys.argv[1], float(sys.argv[2])
window = int(sys.argv[3]) if len(sys.argv) > 3 else 16

def message(kind, xid, mac, requested=None, server=None):
    fixed = struct.pack("!BBBBIHH4s4s4s4s", 1, 1, 6, 0, xid, 0, 0x8000, bytes(4), bytes(4), bytes(4), bytes(4))
    options = bytes([53, 1, kind]) + bytes([61, 7, 1]) + mac
    if requested:
        options += bytes([50, 4]) + requested
    if server:
        options += bytes([54, 4]) + server
    body = fixed + mac.ljust(16, b"\0") + bytes(192) + b"\x63\x82\x53\x63" + options + b"\xff"
    return body.ljust(300, b"\0")

send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
send.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
send.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
send.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
send.bind(("0.0.0.0", 68))
receive = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
receive.bind((interface, 0x0800))
receive.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

pending = {}  # xid -> (mac, state, started)
next_id = 1
done = abandoned = 0
start = time.monotonic()
deadline = start + seconds

def begin():
    global next_id
    xid = 0x10000000 + next_id
    mac = bytes([2, 0xd4]) + struct.pack("!I", next_id)
    next_id += 1
    pending[xid] = (mac, "discover", time.monotonic())
    send.sendto(message(1, xid, mac), ("255.255.255.255", 67))

while time.monotonic() < deadline:
    while len(pending) < window:
        begin()
    ready, _, _ = select.select([receive], [], [], 0.05)
    if ready:
        for _ in range(64):
            try:
                packet = receive.recv(2048, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            header = (packet[0] & 15) * 4
            if len(packet) < header + 8 + 240 or packet[9] != 17 or struct.unpack("!H", packet[header + 2:header + 4])[0] != 68:
                continue
            dhcp = packet[header + 8:]
            if dhcp[0] != 2:
                continue
            xid = struct.unpack("!I", dhcp[4:8])[0]
            if xid not in pending:
                continue
            options = dhcp[240:]
            kind, server, index = None, None, 0
            while index + 1 < len(options) and options[index] != 255:
                code = options[index]
                if code == 0:
                    index += 1
                    continue
                length = options[index + 1]
                value = options[index + 2:index + 2 + length]
                if code == 53:
                    kind = value[0]
                elif code == 54:
                    server = value
                index += 2 + length
            mac, state, started = pending[xid]
            if state == "discover" and kind == 2:
                pending[xid] = (mac, "request", started)
                send.sendto(message(3, xid, mac, requested=dhcp[16:20], server=server), ("255.255.255.255", 67))
            elif state == "request" and kind == 5:
                del pending[xid]
                done += 1
    now = time.monotonic()
    for xid, (mac, state, started) in list(pending.items()):
        if now - started > 1.0:
            del pending[xid]
            abandoned += 1
elapsed = time.monotonic() - start
print("%.0f %d %d" % (done / elapsed, done, abandoned))
