"""The wire side of VIP conflict detection on one interface (AF_PACKET).

Rules
- Three packet sockets per interface, bound to it and each to one ethertype (ARP, IPv4, IPv6),
  with a classic BPF filter so the kernel hands us only ARP, ICMPv6 neighbour advertisements and
  VRRP (IPv4 protocol 112 / IPv6 next header 112): the daemon never wakes for ordinary traffic.
  Bound to an ethertype, not ETH_P_ALL: an ETH_P_ALL socket is a tap on the interface's
  transmit path, and the kernel clones every frame this host sends (every advert) to run the
  filter on it before dropping it -- about 0.4 % of a core at 1,000 Masters (issue 18). Bound
  to an ethertype, a socket sees received frames only; frames this host sends are skipped
  anyway (the filter drops PACKET_OUTGOING).
- It sends the probes frames.py builds (frames.ProbeFrames: parts made once per interface, a few
  joins per probe, no frame kept per VIP): an ARP probe (answered by a
  unicast reply), an NS from the interface's link-local address (answered by a unicast solicited
  NA). Neither moves other hosts' caches; a DAD probe, used only when the interface has no
  link-local address, is answered to all-nodes and would.
- It parses and reports; the judging is vrrp/vip_conflict.py's. A VRRP frame is reported with
  its source MAC, so the other router's identity is known even when a firewall drops the
  advert before the VRRP socket sees it (a packet socket sees ingress before netfilter).
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
import struct
import time
from collections.abc import Callable

from vipkeeper.net import frames

ETHERTYPES = (frames.ETH_P_ARP, frames.ETH_P_IP, frames.ETH_P_IPV6)
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26

Claim = Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address, str, "bool | None"], None]


def link_local_address(ifname: str) -> ipaddress.IPv6Address | None:
    """The interface's link-local IPv6 address in this process's network namespace, if any."""
    try:
        with open("/proc/self/net/if_inet6") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and fields[5] == ifname and fields[3] == "20":
                    return ipaddress.IPv6Address(bytes.fromhex(fields[0]))
    except OSError:
        return None
    return None


def probe_frame(mac: bytes, vip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                link_local: ipaddress.IPv6Address | None) -> bytes:
    if vip.version == 4:
        return frames.arp_probe(mac, vip)
    if link_local is not None:
        return frames.neighbour_solicitation(mac, link_local, vip)
    return frames.dad_solicitation(mac, vip)


def bpf_program() -> list[tuple[int, int, int, int]]:
    LD_W_ABS, LDH_ABS, LDB_ABS, JEQ_K, RET_K = 0x20, 0x28, 0x30, 0x15, 0x06
    ACCEPT, DROP = 0xFFFF, 0
    SKF_AD_PKTTYPE = 0xFFFFF000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE: the skb's packet type
    # (code, jt, jf, k); jump offsets count from the next instruction
    return [
        (LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),  # 0  A = packet type
        (JEQ_K, 12, 0, PACKET_OUTGOING),   # 1  our own frames (adverts, GARPs, probes) -> 14
        (LDH_ABS, 0, 0, 12),               # 2  A = ethertype
        (JEQ_K, 9, 0, 0x0806),             # 3  ARP -> 13
        (JEQ_K, 0, 2, 0x0800),             # 4  IPv4 ? 5 : 7
        (LDB_ABS, 0, 0, 23),               # 5  A = IPv4 protocol
        (JEQ_K, 6, 7, 112),                # 6  VRRP ? 13 : 14
        (JEQ_K, 0, 6, 0x86DD),             # 7  IPv6 ? 8 : 14
        (LDB_ABS, 0, 0, 20),               # 8  A = next header
        (JEQ_K, 3, 0, 112),                # 9  VRRP -> 13
        (JEQ_K, 0, 3, 58),                 # 10 ICMPv6 ? 11 : 14
        (LDB_ABS, 0, 0, 54),               # 11 A = ICMPv6 type
        (JEQ_K, 0, 1, 136),                # 12 neighbour advertisement ? 13 : 14
        (RET_K, 0, 0, ACCEPT),             # 13
        (RET_K, 0, 0, DROP),               # 14
    ]


class ConflictSocket:
    """Probes out, claims in, on one interface; `adverts` remembers, per source MAC, the last VRRP
    advert seen (raw source address bytes, VRID, priority), decoded only when a conflict needs it."""

    def __init__(self, ifname: str, on_claim: Claim) -> None:
        self.ifname = ifname
        self._on_claim = on_claim
        self.adverts: dict[bytes, tuple[bytes, int, int]] = {}
        self.watched: set[bytes] = set()  # packed VIPs a Master checks: claims for others are skipped
        # ethertype -> its socket (module docstring: why one per ethertype, not one ETH_P_ALL)
        self.socks: dict[int, socket.socket] = {}
        try:
            for ethertype in ETHERTYPES:
                # Protocol 0 receives nothing until bound: the filter is in place before the first frame.
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
                self.socks[ethertype] = sock
                _attach(sock)
                sock.bind((ifname, ethertype))
            self.mac: bytes = self.socks[frames.ETH_P_ARP].getsockname()[4]
        except OSError:
            self.close()
            raise
        self.sock = self.socks[frames.ETH_P_ARP]
        self.mac_text = frames.mac_text(self.mac)
        self.link_local = link_local_address(ifname)
        # the probes come from parts made once (frames.ProbeFrames): no frame kept per VIP
        self._probes = frames.ProbeFrames(self.mac, self.link_local)
        self._link_local_read = time.monotonic()
        self.received = 0
        self.sent = 0
        self.send_errors = 0

    def filenos(self) -> list[int]:
        """The descriptors to watch, one per ethertype; `read(fd)` when one is readable."""
        return [sock.fileno() for sock in self.socks.values()]

    def close(self) -> None:
        for sock in self.socks.values():
            sock.close()

    def probe(self, vip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if vip.version == 6 and self.link_local is None and time.monotonic() - self._link_local_read >= 1.0:
            # none yet (a DAD probe until there is one): looked for again at most once a second
            self._link_local_read = time.monotonic()
            self.link_local = link_local_address(self.ifname)
            if self.link_local is not None:
                self._probes = frames.ProbeFrames(self.mac, self.link_local)
        frame = self._probes.probe(vip)
        try:
            self.socks[frames.ETH_P_ARP if vip.version == 4 else frames.ETH_P_IPV6].send(frame)
            self.sent += 1
        except OSError:
            self.send_errors += 1

    def identity(self, mac: str) -> tuple[str, int, int] | None:
        """(source address, VRID, priority) of the last advert seen from `mac`, if any."""
        seen = self.adverts.get(frames.mac_bytes(mac))
        if seen is None:
            return None
        return str(ipaddress.ip_address(seen[0])), seen[1], seen[2]

    def read(self, fd: int | None = None) -> None:
        """Read what is queued on `fd` (every socket without one; bounded), reporting claims and adverts."""
        for sock in self.socks.values():
            if fd is None or sock.fileno() == fd:
                self._drain(sock)

    def _drain(self, sock: socket.socket) -> None:
        for _ in range(1000):
            try:
                data, addr = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING or len(data) < 34:
                continue
            self.received += 1
            self.frame(data)

    def frame(self, data: bytes) -> None:
        ethertype = struct.unpack_from("!H", data, 12)[0]
        if ethertype == frames.ETH_P_ARP:
            if data[28:32] not in self.watched:  # sender address: only claims on watched VIPs matter
                return
            arp = frames.parse_arp(data)
            if arp is None or arp.sender_mac == self.mac or not int(arp.sender_ip):
                return
            answer = arp.op == frames.ARP_REPLY and arp.target_mac == self.mac
            self._on_claim(arp.sender_ip, frames.mac_text(arp.sender_mac), answer)
        elif ethertype == frames.ETH_P_IP:
            ihl = (data[14] & 0x0F) * 4
            if data[23] == 112 and len(data) >= 14 + ihl + 3:
                self.adverts[data[6:12]] = (data[26:30], data[15 + ihl], data[16 + ihl])
        elif ethertype == frames.ETH_P_IPV6 and len(data) >= 57:
            if data[20] == 112:
                self.adverts[data[6:12]] = (data[22:38], data[55], data[56])
                return
            if data[62:78] not in self.watched:  # NA target (no extension headers)
                return
            na = frames.parse_neighbour_advert(data)
            if na is None or not na.checksum_ok:
                return
            mac = na.target_mac or na.eth_src
            if mac != self.mac:
                answer = True if na.eth_dst == self.mac and na.solicited else None
                self._on_claim(na.target, frames.mac_text(mac), answer)


def _attach(sock: socket.socket) -> None:
    prog = bpf_program()
    buf = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *ins) for ins in prog))
    fprog = struct.pack("=HxxxxxxQ", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
