#!/usr/bin/env python3
"""Round-trip times of ICMP echo, timestamped per echo in nanoseconds.

ping -f reports whole microseconds averaged over the run; this sends one echo request at a
time on a raw socket, takes time.monotonic_ns() just before sendto and just after the reply
is read, and prints the median, the 10th and 99th percentiles and the mean, in microseconds
with three decimals. The client's own overhead (Python, the socket calls) is in every figure
alike, so compare targets measured in the same run, as ratios.

--busy: the client never sleeps waiting for a reply (non-blocking reads in a loop), so its
own CPU's wake-up is not in the figure: a reply that comes from another CPU (a responder in
a process over a TAP) wakes a sleeping client, one that the kernel makes in the client's own
send (a veth pair) does not.

Usage: rtt.py [--busy] ADDRESS [COUNT] [WARMUP]   (root: a raw socket)
"""
import os
import socket
import statistics
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def main() -> int:
    arguments = sys.argv[1:]
    busy = bool(arguments) and arguments[0] == "--busy"
    if busy:
        arguments = arguments[1:]
    if not arguments:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    address = arguments[0]
    count = int(arguments[1]) if len(arguments) > 1 else 10000
    warmup = int(arguments[2]) if len(arguments) > 2 else 200
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    if busy:
        sock.setblocking(False)
    else:
        sock.settimeout(1.0)
    ident = os.getpid() & 0xFFFF
    payload = bytes(range(56))
    samples = []
    lost = 0
    for sequence in range(warmup + count):
        header = struct.pack("!BBHHH", 8, 0, 0, ident, sequence & 0xFFFF)
        packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, sequence & 0xFFFF) + payload
        start = time.monotonic_ns()
        sock.sendto(packet, (address, 0))
        while True:
            try:
                reply = sock.recv(2048)
            except BlockingIOError:  # --busy: nothing yet
                if time.monotonic_ns() - start < 1_000_000_000:
                    continue
                lost += 1
                break
            except socket.timeout:
                lost += 1
                break
            end = time.monotonic_ns()
            offset = (reply[0] & 0x0F) * 4
            kind, _, _, rid, rseq = struct.unpack("!BBHHH", reply[offset:offset + 8])
            if kind == 0 and rid == ident and rseq == sequence & 0xFFFF:
                if sequence >= warmup:
                    samples.append(end - start)
                break
    if not samples:
        print(f"rtt: no reply from {address}", file=sys.stderr)
        return 1
    samples.sort()
    us = lambda ns: ns / 1000
    print(f"{address}: {len(samples)} echoes, {lost} lost; RTT us: median {us(statistics.median(samples)):.3f} "
          f"p10 {us(samples[len(samples) // 10]):.3f} p99 {us(samples[len(samples) * 99 // 100]):.3f} "
          f"mean {us(statistics.fmean(samples)):.3f}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
