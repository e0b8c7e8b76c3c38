#!/usr/bin/python3
"""Differential checks of SiroccoFilter against libpcap (FilterDifferentialTests).

Writes a capture of Ethernet frames made with scapy (IPv4 and IPv6 with TCP, UDP, SCTP,
ICMP, ICMPv6, IGMP, PIM, ESP, AH; ARP and RARP; 802.1Q, 802.1ad and QinQ tags; MPLS; 802.3
LLC frames; fragments; IPv4 options; broadcast and multicast; frames cut short by the snap
length and malformed ones), then for every expression of the corpus:

  * libpcap (pcap_compile, optimised, netmask 0 as tcpdump reading a file) refuses it
    exactly when `sirocco filter` refuses it (exit status 2);
  * `sirocco filter EXPR FILE` prints the numbers of the frames pcap_offline_filter
    matches;
  * the program `sirocco filter -ddd EXPR` prints, run by libpcap's bpf_filter, matches
    the same frames;
  * `sirocco filter -w OUT EXPR FILE` writes the records `tcpdump -r FILE -w OUT EXPR` does;
  * `sirocco filter -d EXPR` prints the program `tcpdump -d EXPR` prints, instruction for
    instruction (the compiler and optimiser make what libpcap's make).

usage: filter_checks.py SIROCCO WORKDIR [RANDOM [SEED]]   (prints a summary; exit 1 on any
difference). RANDOM adds that many expressions drawn at random from the grammar (seeded).
"""

import concurrent.futures
import ctypes
import random
import struct
import subprocess
import sys

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPv6, IPv6ExtHdrFragment, LLC, Raw,
                       fragment, wrpcap)
from scapy.contrib.igmp import IGMP
from scapy.contrib.mpls import MPLS
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NS
from scapy.layers.ipsec import AH, ESP
from scapy.layers.sctp import SCTP
from scapy.utils import PcapWriter

V4 = ["10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.1.10", "172.16.5.4", "255.255.255.255", "0.0.0.0", "224.0.0.251",
      "10.1.0.0", "127.0.0.1"]
V6 = ["fe80::1", "fe80::2", "2001:db8::1", "2001:db8:1::5", "::1", "ff02::1", "ff02::fb", "fd00::10"]
MACS = ["00:11:22:33:44:55", "66:77:88:99:aa:bb", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb", "33:33:00:00:00:01",
        "02:00:00:00:00:01"]
PORTS = [22, 53, 80, 443, 8080, 5353, 123, 1024, 65535, 0]


def corpus(rng):
    """The frames: (bytes, wire length)."""
    frames = []

    def add(packet, snap=None):
        data = bytes(packet)
        frames.append((data[:snap] if snap is not None else data, len(data)))

    def mac():
        return rng.choice(MACS)

    def v4():
        return rng.choice(V4)

    def v6():
        return rng.choice(V6)

    def port():
        return rng.choice(PORTS)

    def l4(six=False):
        kind = rng.randrange(9)
        flags = rng.choice(["S", "SA", "A", "PA", "F", "R", "FA", "U", "E", "C", ""])
        if kind <= 2:
            return TCP(sport=port(), dport=port(), flags=flags) / Raw(b"x" * rng.randrange(0, 40))
        if kind <= 4:
            return UDP(sport=port(), dport=port()) / Raw(b"y" * rng.randrange(0, 40))
        if kind == 5:
            return SCTP(sport=port(), dport=port())
        if kind == 6:
            if six:
                return rng.choice([ICMPv6EchoRequest(), ICMPv6EchoReply(), ICMPv6ND_NS(tgt=v6())])
            return ICMP(type=rng.choice([0, 3, 5, 8, 11, 13]), code=rng.randrange(3))
        if kind == 7:
            return AH(spi=rng.randrange(1, 9)) if rng.random() < 0.5 else ESP(spi=rng.randrange(1, 9))
        return Raw(b"z" * 8) if six else IGMP()

    def ip4():
        packet = IP(src=v4(), dst=v4(), ttl=rng.randrange(1, 255), tos=rng.choice([0, 0x10, 0xb8]))
        if rng.random() < 0.15:
            packet.options = [b"\x01\x01\x01\x00"]  # NOPs and an end: a 24-byte header
        return packet / l4()

    def ip6():
        packet = IPv6(src=v6(), dst=v6(), hlim=rng.randrange(1, 255))
        if rng.random() < 0.15:
            return packet / IPv6ExtHdrFragment(offset=rng.choice([0, 0, 3]), m=1, id=7) / l4(True)
        return packet / l4(True)

    for _ in range(420):
        choice = rng.randrange(20)
        ether = Ether(src=mac(), dst=mac())
        if choice <= 6:
            add(ether / ip4())
        elif choice <= 10:
            add(ether / ip6())
        elif choice == 11:
            add(ether / ARP(op=rng.choice([1, 2]), psrc=v4(), pdst=v4(), hwsrc=mac()))
        elif choice == 12:
            add(Ether(src=mac(), dst=mac(), type=0x8035) / ARP(op=3, psrc=v4(), pdst=v4()))
        elif choice == 13:
            add(Ether(src=mac(), dst=mac()) / Dot1Q(vlan=rng.choice([1, 5, 100, 4095])) /
                (ip4() if rng.random() < 0.6 else ip6()))
        elif choice == 14:
            inner = Dot1Q(vlan=rng.choice([3, 5, 200])) / (ip4() if rng.random() < 0.5 else ip6())
            outer = rng.choice([0x8100, 0x88a8, 0x9100])
            add(Ether(src=mac(), dst=mac(), type=outer) / Dot1Q(vlan=rng.choice([5, 10]), type=0x8100) / inner
                if outer != 0x88a8 else Ether(src=mac(), dst=mac()) / Dot1AD(vlan=10) / inner)
        elif choice == 15:
            add(Ether(src=mac(), dst=mac(), type=0x8847) / MPLS(label=rng.choice([16, 100, 1048575]), s=1) / ip4())
        elif choice == 16:
            add(Ether(src=mac(), dst=mac()) / LLC(dsap=rng.choice([0x42, 0xfe, 0xe0, 0x06, 0xaa]), ssap=0x42, ctrl=3) /
                Raw(b"\x00" * 20))
        elif choice == 17:
            for piece in fragment(IP(src=v4(), dst=v4()) / UDP(sport=port(), dport=port()) / Raw(b"f" * 60),
                                  fragsize=24):
                add(Ether(src=mac(), dst=mac()) / piece)
        elif choice == 18:
            data = bytes(ether / (ip4() if rng.random() < 0.5 else ip6()))
            add(Raw(data), snap=rng.randrange(1, len(data)))
        else:
            # Malformed: a bad header length, a frame cut anywhere, random bytes.
            data = bytearray(bytes(ether / ip4()))
            kind = rng.randrange(3)
            if kind == 0:
                data[14] = 0x40 | rng.randrange(0, 5)
            elif kind == 1:
                data = data[:rng.randrange(1, 34)]
            else:
                data = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
            frames.append((bytes(data), len(data)))
    # Every wire length below and above a few thresholds, for len, less and greater.
    for size in (14, 42, 60, 64, 100, 128, 1500):
        frames.append((bytes(Ether(src=mac(), dst=mac()) / IP(src=v4(), dst=v4()) / Raw(b"l" * 4)), size))
    return frames


def write_pcap(path, frames):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for index, (data, wire) in enumerate(frames):
            out.write(struct.pack("<IIII", index, 0, len(data), max(wire, len(data))))
            out.write(data)


def expressions():
    """The corpus: every primitive, qualifier, accessor and operator, valid and not."""
    items = []
    for a in ["10.0.0.1", "192.168.1.10", "255.255.255.255", "10", "10.1", "10.1.2"]:
        for d in ["", "src ", "dst ", "src or dst ", "src and dst "]:
            items.append(d + "host " + a)
        items += ["ip host " + a, "arp host " + a, "rarp src host " + a, "ip dst " + a]
    for a in ["fe80::1", "2001:db8::1", "::1", "ff02::fb"]:
        items += ["host " + a, "src host " + a, "ip6 dst host " + a, "dst " + a]
    for n in ["10.0.0.0/8", "10.1.0.0/16", "192.168.1.0/24", "0.0.0.0/0", "10.0.0.1/32", "10.0.0.0 mask 255.0.0.0",
              "10", "10.1", "172.16", "224.0.0.0/4"]:
        items += ["net " + n, "src net " + n, "dst net " + n, "ip net " + n, "arp net " + n]
    for n in ["fe80::/10", "2001:db8::/32", "ff00::/8", "::/0", "2001:db8:1::/48", "fd00::10/128"]:
        items += ["net " + n, "ip6 src net " + n, "dst net " + n]
    for p in ["22", "53", "80", "443", "8080", "0", "65535", "http", "domain", "ssh", "https", "ntp", "1024"]:
        items += ["port " + p, "tcp port " + p, "udp dst port " + p, "src port " + p, "sctp port " + p]
    for r in ["80-443", "1-1024", "1024-65535", "53-53", "443-80", "0-0", "http-https", "20-22",
              # pcap_nametoportrange's corners (found by filter-libpcap): sscanf("%d-%d") ignores what
              # follows the second number and cuts to 32 bits; otherwise each side of the first `-`
              # is a name or a number as glibc's getaddrinfo reads it (low 16 bits, "-0" is 0), and
              # a TCP-only name with a number makes no protocol restriction.
              "7-8x", "7-8.5", "1-2-3", "4294967376-1", "x11-7", "7-x11", "echo-007", "echo-70000",
              "echo--0", "echo-x11-7", "10-0x20", "x11-domain"]:
        items += ["portrange " + r, "tcp portrange " + r, "udp src portrange " + r]
    for m in MACS:
        items += ["ether host " + m, "ether src " + m, "ether dst " + m, "ether src or dst " + m]
    items += ["ether host 0011.2233.4455", "ether host 00-11-22-33-44-55", "ether host 001122334455",
              "ether src 0:11:22:33:44:55", "ether host 0.11.22.33.44.55"]
    items += ["ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "igrp", "pim", "vrrp", "carp",
              "ah", "esp"]
    for n in ["6", "17", "1", "58", "132", "2", "50", "51", "44", "tcp", "udp", "icmp", "ospf", "gre"]:
        items += ["ip proto " + n if n not in ("tcp", "udp", "icmp") else "ip proto \\" + n,
                  "ip6 proto " + n if n not in ("tcp", "udp", "icmp") else "ip6 proto \\" + n]
    for n in ["6", "17", "58"]:
        items.append("proto " + n)
    for t in ["0x800", "0x86dd", "0x806", "2048", "0x8100", "0x8035", "0x8847", "100", "0x42", "0xfe", "0xe0",
              "\\ip", "\\ip6", "\\arp", "\\rarp", "1500", "1501"]:
        items.append("ether proto " + t)
    items += ["broadcast", "ether broadcast", "ip broadcast", "multicast", "ether multicast", "ip multicast",
              "ip6 multicast"]
    for n in ["0", "42", "60", "64", "100", "1500", "65535"]:
        items += ["less " + n, "greater " + n, "len = " + n, "len > " + n, "len < " + n, "len >= " + n, "len <= " + n,
                  "len != " + n]
    items += ["vlan", "vlan 5", "vlan 100", "vlan 4095", "vlan 0", "vlan and ip", "vlan 5 and ip", "vlan and ip6",
              "vlan and tcp port 80", "vlan and vlan", "vlan and vlan 3", "vlan 10 and vlan 5", "vlan and host 10.0.0.1",
              "ip or vlan and ip", "not vlan", "vlan and not ip", "(vlan)", "vlan and vlan and ip",
              "mpls", "mpls 16", "mpls 100", "mpls and ip", "mpls 16 and host 10.0.0.1", "mpls and mpls"]
    items += [
        "ip[0] = 0x45", "ip[0] & 0xf > 5", "ip[0] & 0xf != 5", "ip[2:2] > 100", "ip[6:2] & 0x1fff = 0",
        "ip[6:2] & 0x1fff != 0", "ip[8] < 64", "ip[9] = 6", "ip[12:4] = 0x0a000001", "ip[ip[0] & 0xf] = 4",
        "tcp[13] = 2", "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn",
        "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0", "tcp[tcpflags] == tcp-ack", "tcp[0:2] = 80", "tcp[2:2] > 1000",
        "tcp[12] >> 4 > 5", "tcp[(tcp[12] >> 4) * 4] = 0x78", "udp[0:2] = 53", "udp[4:2] > 20", "udp[2:2] = udp[0:2]",
        "icmp[icmptype] = icmp-echo", "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
        "icmp[0] = 3 and icmp[1] = 1", "icmp[icmpcode] = 0", "icmp6[icmp6type] = icmp6-echo",
        "icmp6[0] = 135", "icmp6[icmp6type] = icmp6-neighborsolicit", "ip6[6] = 58", "ip6[6] = 44", "ip6[0] & 0xf0 = 0x60",
        "ip6[7] < 64", "ether[0] & 1 != 0", "ether[12:2] = 0x800", "ether[6:4] = 0x66778899", "ether[0:4] = 0xffffffff",
        "arp[6:2] = 1", "arp[6:2] = 2", "arp[7] = 2", "rarp[7] = 3", "ether[100] = 0", "ip[40] = 0", "tcp[100] = 0",
        "sctp[0:2] = 80", "igmp[0] = 0x11", "pim[0] = 0", "ip[1] & 0xfc = 0xb8",
        "len - 14 > 40", "len * 2 > 200", "len / 2 > 50", "len % 10 = 4", "len & 0xff = 60", "len | 1 = 61",
        "len ^ 1 = 61", "len << 1 > 100", "len >> 1 > 30", "-len < 0", "-len + 100 > 0", "ip[0] % 3 + 1 = 2",
        "ip[0] + 1 % 3 = 2", "2 + 3 * 4 = 14", "(2 + 3) * 4 = 20", "10 - 4 - 3 = 3", "len - 10 - 4 > 0", "1 = 1",
        "0 = 1", "ip[2:2] - ip[0] & 0xf * 4 > 20", "ether[0] ^ ether[1] = 0", "ip[0] & 0xf0 | 0x5 = 0x45",
        "- ip[0] % 7 = 0", "ip[8] * 2 >= 128", "udp[8:4] = 0x79797979", "tcp[4:4] != 0", "ip[0] + tcp[0] = 5",
        "tcp[0] + ip[0] > 5", "len / ip[0] > 1", "ip[0] / (0 + 5) = 9", "vlan or ip", "(vlan) or ip6",
        "host 10.0.0.1 or host 10.0.0.2 or arp", "ip or not ip", "src host 10.0.0.1 and 10.0.0.2", "ether[0:2] + ip6[0] > 0",
    ]
    items += [
        "tcp and port 80", "tcp or udp", "not tcp", "not not ip", "! ip", "ip and not udp", "ip && tcp", "ip || arp",
        "tcp port 80 or udp port 53", "host 10.0.0.1 and port 80", "host 10.0.0.1 or 10.0.0.2",
        "host 10.0.0.1 and (10.0.0.2 or 10.1.2.3)", "src host 10.0.0.1 and dst 10.0.0.2", "tcp port 80 or 443",
        "tcp port 80 or 443 or 22", "port 80 and not 443", "tcp port (80 or 443)", "host (10.0.0.1 or 10.0.0.2)",
        "net 10 or 192.168", "ip or arp and tcp", "ip and tcp or udp", "not ip or tcp", "not (ip or tcp)",
        "(tcp or udp) and port 53", "tcp and (port 80 or port 443)", "icmp or icmp6", "ip6 and tcp", "ip6 and udp port 53",
        "ip and udp and port 53", "arp or rarp", "ether broadcast or ether multicast", "ip multicast and udp",
        "tcp[tcpflags] & tcp-syn != 0 and not tcp[tcpflags] & tcp-ack != 0", "udp and len > 100",
        "host fe80::1 or host 10.0.0.1", "src net 10.0.0.0/8 and dst net 10.0.0.0/8", "not host 10.0.0.1 or 10.0.0.2",
        "port 53 and (udp or tcp)", "vlan and (tcp or udp)", "ether src 00:11:22:33:44:55 and ip",
        "ip and ip[9] = 17 and udp[0:2] = 53", "greater 60 and less 100", "tcp and not port 22 and not port 80",
        "ip6 and ip6[6] = 44", "ip and (ip[6:2] & 0x1fff) != 0", "ip proto 17 and ip[6:2] & 0x3fff != 0",
        "(host 10.0.0.1)", "((tcp))", "not (not (udp))", "ip and not (src net 10 or dst net 10)",
    ]
    # Long programs: conditional jumps past 255 instructions go through `ja`.
    items.append(" or ".join("host 10.0.%d.%d" % (i // 200, i % 200) for i in range(150)) + " or tcp port 80")
    items.append(" and ".join("not net 10.%d.0.0/16" % i for i in range(100)) + " and ip")
    # Refused by libpcap (and so by Sirocco).
    bad = ["tcp port", "host", "port 99999", "portrange 10-99999", "net 10.0.0.1/8", "net 10.0.0.0/33",
           "host 10.0.0.1 mask 255.0.0.0", "ip6 host 10.0.0.1", "arp host ::1", "ip[0:3] = 1", "ether[1/0] = 1",
           "ether[1 % 0] = 1", "ether[1 << 33] = 1", "tcp proto 6", "ip port 80", "icmp port 80", "ip6 broadcast",
           "tcp broadcast", "gateway 10.0.0.1", "ip and 10.0.0.1", "tcp and 80", "(port 80) or 443", "and", "or tcp",
           "tcp and", "(tcp", "tcp)", "ip[", "ip[0", "ip[0]", "ip[0] =", "= 1", "port -1", "host 10.0.0.1.2",
           "ether host 00:11:22:33:44", "ether host 00:11:22:33:44:55:66", "host fe80::/10", "host ::1/64",
           "ip6 net fe80::1/10", "ip6 net ::/129", "vlan 4096", "mpls 1048576", "len > 99999999999", "0x", "port http2x",
           "ether proto nosuch", "ip proto nosuch", "src tcp", "src and dst", "less", "greater x", "not", "!", "ip6[0:8]",
           "udp port 22-23", "host 300.1.1.1", "net 10.0.0.0 mask 255.255.0.1.0", "ether[0] = 1 =", "tcp[tcpflags] &",
           "port ssh and udp port ssh", "udp port http",
           # Mask syntax after anything but `net` (found by the fuzz target filter-libpcap).
           "host 10.0.0.0/16", "src 10.0.0.0/8", "ip src 10.0.0.0/8", "host 10.0.0.0 mask 255.0.0.0",
           "host 1.2.3.4 or 10.0.0.0/16", "dst 10.0 mask 255.255.0.0",
           # A MAC address without `ether` (found by filter-libpcap too).
           "src 02:00:00:00:00:01", "host 02:00:00:00:00:01", "ether host 02:00:00:00:00:02 or src 02:00:00:00:00:01",
           # A portrange needs two sides: a single name, even one with a `-` in it, is refused
           # (found by filter-libpcap: `portrange xfs`); so are sides out of range.
           "portrange xfs", "portrange http", "portrange font-service", "portrange ftp-data", "portrange 7--8",
           "portrange 99999999999-1", "portrange echo--1", "portrange echo-99999999999999999999",
           "portrange echo-2147483648", "portrange 0x10-20", "udp portrange x11-http"]
    return items, bad


def random_expressions(rng, count):
    """Random expressions from the grammar: primitives with qualifiers, accessors and
    arithmetic, joined by and/or/not with parentheses, a few levels deep."""
    primitives = ["ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "vlan", "mpls",
                  "ether broadcast", "multicast", "ip multicast", "ip6 multicast", "ip broadcast"]

    def address():
        return rng.choice(V4 + ["10", "10.1", "192.168"])

    def arith(depth):
        choice = rng.randrange(7 if depth < 2 else 4)
        if choice == 0:
            return str(rng.choice([0, 1, 2, 4, 5, 6, 13, 17, 64, 80, 255, 0x800, 1500]))
        if choice == 1:
            return "len"
        if choice in (2, 3):
            proto = rng.choice(["ether", "ip", "ip6", "tcp", "udp", "icmp", "icmp6", "arp"])
            index = arith(depth + 1) if depth < 1 and rng.random() < 0.3 else str(rng.randrange(0, 60))
            size = rng.choice(["", ":1", ":2", ":4"])
            return f"{proto}[{index}{size}]"
        if choice == 4:
            return "-" + arith(depth + 1)
        if choice == 5:
            return "(" + arith(depth + 1) + ")"
        op = rng.choice(["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"])
        return arith(depth + 1) + f" {op} " + arith(depth + 1)

    def primitive():
        kind = rng.randrange(10)
        direction = rng.choice(["", "src ", "dst ", "src or dst ", "src and dst "])
        if kind == 0:
            return rng.choice(["", "ip ", "arp "]) + direction + "host " + address()
        if kind == 1:
            return direction + "net " + rng.choice(["10.0.0.0/8", "192.168.1.0/24", "10.1", "0.0.0.0/0", "172.16.0.0/12"])
        if kind == 2:
            return rng.choice(["", "tcp ", "udp ", "sctp "]) + direction + "port " + str(rng.choice(PORTS[:-1]))
        if kind == 3:
            return rng.choice(["", "tcp ", "udp "]) + direction + "portrange " + rng.choice(["1-1024", "80-443", "5000-6000"])
        if kind == 4:
            return rng.choice(["", "ip6 "]) + direction + rng.choice(["host " + rng.choice(V6), "net fe80::/10", "net 2001:db8::/32"])
        if kind == 5:
            return "ether " + direction + "host " + rng.choice(MACS)
        if kind == 6:
            return rng.choice(["vlan ", "mpls "]) + str(rng.choice([1, 5, 10, 16, 100]))
        if kind == 7:
            return rng.choice(["less ", "greater "]) + str(rng.choice([14, 42, 60, 64, 100, 1500]))
        if kind == 8:
            return arith(0) + " " + rng.choice([">", ">=", "<", "<=", "=", "!="]) + " " + arith(0)
        return rng.choice(primitives)

    def expression(depth):
        roll = rng.random()
        if depth >= 3 or roll < 0.35:
            return primitive()
        if roll < 0.45:
            return "not " + expression(depth + 1)
        if roll < 0.55:
            return "(" + expression(depth + 1) + ")"
        return expression(depth + 1) + rng.choice([" and ", " or "]) + expression(depth + 1)

    return [expression(0) for _ in range(count)]


def libpcap():
    lib = ctypes.CDLL("libpcap.so.0.8")

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(Instruction))]

    class Header(ctypes.Structure):
        _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long), ("caplen", ctypes.c_uint), ("len", ctypes.c_uint)]

    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(Program), ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_offline_filter.argtypes = [ctypes.POINTER(Program), ctypes.POINTER(Header), ctypes.c_char_p]
    lib.bpf_filter.argtypes = [ctypes.POINTER(Instruction), ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    lib.bpf_filter.restype = ctypes.c_uint
    lib.pcap_freecode.argtypes = [ctypes.POINTER(Program)]
    handle = lib.pcap_open_dead(1, 262144)

    def compile_filter(expression):
        program = Program()
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, 0) != 0:
            return None, lib.pcap_geterr(handle).decode()
        return program, None

    def matches(program, frames):
        found = set()
        for index, (data, wire) in enumerate(frames):
            header = Header(0, 0, len(data), max(wire, len(data)))
            if lib.pcap_offline_filter(ctypes.byref(program), ctypes.byref(header), data):
                found.add(index + 1)
        lib.pcap_freecode(ctypes.byref(program))
        return found

    def run_bpf(instructions, frames):
        array = (Instruction * len(instructions))(*[Instruction(*i) for i in instructions])
        return {index + 1 for index, (data, wire) in enumerate(frames)
                if lib.bpf_filter(array, data, max(wire, len(data)), len(data)) != 0}

    return compile_filter, matches, run_bpf


def main():
    sirocco, workdir = sys.argv[1], sys.argv[2]
    rng = random.Random(20261205)
    frames = corpus(rng)
    capture = workdir + "/corpus.pcap"
    write_pcap(capture, frames)
    compile_filter, matches, run_bpf = libpcap()
    items, bad = expressions()
    # usage: ... [RANDOM [SEED]]: that many random expressions besides the corpus.
    if len(sys.argv) > 3:
        seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        extra = [e for e in random_expressions(random.Random(seed), int(sys.argv[3])) if e not in items]
        items = items + extra
    def ours(expression):
        """Sirocco's matches and program (one run: -ddd with the capture) and listing."""
        run = subprocess.run([sirocco, "filter", "-ddd", "--", expression, capture], capture_output=True, text=True,
                             timeout=60)
        listing = subprocess.run([sirocco, "filter", "-d", "--", expression], capture_output=True, text=True,
                                 timeout=60)
        reference = subprocess.run(["tcpdump", "-d", "-y", "EN10MB", "--", expression], capture_output=True,
                                   text=True, timeout=60)
        return run, listing.stdout, reference.stdout

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(ours, items + bad))
    failures = []
    compared = 0
    refused = 0
    for expression, (run, listing, reference) in zip(items + bad, results):
        program, error = compile_filter(expression)
        if program is None:
            if run.returncode != 2:
                failures.append(f"{expression!r}: libpcap refuses it ({error}), Sirocco exits {run.returncode}")
            else:
                refused += 1
            continue
        if expression in bad:
            failures.append(f"{expression!r}: listed as bad, but libpcap accepts it")
        expected = matches(program, frames)
        if run.returncode != 0:
            failures.append(f"{expression!r}: libpcap accepts it, Sirocco exits {run.returncode}: {run.stderr.strip()}")
            continue
        lines = run.stdout.split("\n")
        length = int(lines[0])
        instructions = [tuple(int(x) for x in line.split()) for line in lines[1:length + 1]]
        got = {int(line) for line in lines[length + 1:] if line}
        if got != expected:
            failures.append(f"{expression!r}: frames only libpcap matches {sorted(expected - got)[:8]}, "
                            f"only Sirocco {sorted(got - expected)[:8]}")
            continue
        through_libpcap = run_bpf(instructions, frames)
        if through_libpcap != expected:
            failures.append(f"{expression!r}: Sirocco's BPF run by libpcap's bpf_filter differs: "
                            f"{sorted(expected ^ through_libpcap)[:8]}")
            continue
        if listing != reference:
            failures.append(f"{expression!r}: the program differs from tcpdump -d's:\n{listing}---\n{reference}")
            continue
        compared += 1
    # -w: the frames written are those `tcpdump -r FILE -w OUT EXPR` writes, record for record.
    for expression in ["tcp port 80", "ip6 and udp", "vlan and ip", "not ip", "greater 60 and (icmp or icmp6)", "arp or rarp"]:
        ours_file, theirs_file = workdir + "/ours.pcap", workdir + "/theirs.pcap"
        run = subprocess.run([sirocco, "filter", "-w", ours_file, "--", expression, capture], capture_output=True,
                             text=True, timeout=60)
        reference = subprocess.run(["tcpdump", "-r", capture, "-w", theirs_file, "--", expression], capture_output=True,
                                   text=True, timeout=60)
        if run.returncode != 0 or reference.returncode != 0:
            failures.append(f"-w {expression!r}: exit {run.returncode} {run.stderr.strip()}, tcpdump {reference.stderr.strip()}")
            continue
        with open(ours_file, "rb") as one, open(theirs_file, "rb") as two:
            mine, theirs = one.read(), two.read()
        if mine[24:] != theirs[24:] or len(mine) <= 24:
            failures.append(f"-w {expression!r}: {len(mine)} bytes written, tcpdump {len(theirs)}")
        else:
            compared += 1
    for failure in failures:
        print("DIFFERENCE " + failure)
    print(f"filter_checks: {len(frames)} frames; {compared} expressions matched alike, {refused} refused by both, "
          f"{len(failures)} differences")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
