"""The wire side of VIP conflict detection on one interface (AF_PACKET).

Rules
- One packet socket per interface, bound to it, with a classic BPF filter so the kernel hands us
  only ARP, ICMPv6 neighbour advertisements and VRRP (IPv4 protocol 112 / IPv6 next header 112):
  the daemon never wakes for ordinary traffic. Frames this host sends are skipped.
- It sends the probes frames.py builds (ARP probe, DAD solicitation), each VIP's frame built once.
- It parses and reports; the judging is vrrp/vip_conflict.py's. A VRRP frame is reported with
  its source MAC, so the other router's identity is known even when a firewall drops the
  advert before the VRRP socket sees it (a packet socket sees ingress before netfilter).
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
import struct
from collections.abc import Callable

from vipkeeper.net import frames

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26

Claim = Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address, str, "bool | None"], None]
Advert = Callable[[str, str, int, int], None]


def bpf_program() -> list[tuple[int, int, int, int]]:
    LDH_ABS, LDB_ABS, JEQ_K, RET_K = 0x28, 0x30, 0x15, 0x06
    ACCEPT, DROP = 0xFFFF, 0
    # (code, jt, jf, k); jump offsets count from the next instruction
    return [
        (LDH_ABS, 0, 0, 12),       # 0  A = ethertype
        (JEQ_K, 9, 0, 0x0806),     # 1  ARP -> 11
        (JEQ_K, 0, 2, 0x0800),     # 2  IPv4 ? 3 : 5
        (LDB_ABS, 0, 0, 23),       # 3  A = IPv4 protocol
        (JEQ_K, 6, 7, 112),        # 4  VRRP ? 11 : 12
        (JEQ_K, 0, 6, 0x86DD),     # 5  IPv6 ? 6 : 12
        (LDB_ABS, 0, 0, 20),       # 6  A = next header
        (JEQ_K, 3, 0, 112),        # 7  VRRP -> 11
        (JEQ_K, 0, 3, 58),         # 8  ICMPv6 ? 9 : 12
        (LDB_ABS, 0, 0, 54),       # 9  A = ICMPv6 type
        (JEQ_K, 0, 1, 136),        # 10 neighbour advertisement ? 11 : 12
        (RET_K, 0, 0, ACCEPT),     # 11
        (RET_K, 0, 0, DROP),       # 12
    ]


class ConflictSocket:
    """Probes out, claims and adverts in, on one interface."""

    def __init__(self, ifname: str, on_claim: Claim, on_advert: Advert) -> None:
        self.ifname = ifname
        self._on_claim = on_claim
        self._on_advert = on_advert
        # Protocol 0 receives nothing until bound: the filter is in place before the first frame.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
        try:
            _attach(self.sock)
            self.sock.bind((ifname, ETH_P_ALL))
            self.mac: bytes = self.sock.getsockname()[4]
        except OSError:
            self.sock.close()
            raise
        self.mac_text = frames.mac_text(self.mac)
        self._frames: dict[object, bytes] = {}
        self.received = 0
        self.sent = 0
        self.send_errors = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def probe(self, vip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        frame = self._frames.get(vip)
        if frame is None:
            frame = frames.arp_probe(self.mac, vip) if vip.version == 4 else frames.dad_solicitation(self.mac, vip)
            self._frames[vip] = frame
        try:
            self.sock.send(frame)
            self.sent += 1
        except OSError:
            self.send_errors += 1

    def forget(self, vip: object) -> None:
        self._frames.pop(vip, None)

    def read(self) -> None:
        """Read what is queued (bounded), reporting claims and adverts."""
        for _ in range(1000):
            try:
                data, addr = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING or len(data) < 14:
                continue
            self.received += 1
            self.frame(data)

    def frame(self, data: bytes) -> None:
        ethertype = struct.unpack_from("!H", data, 12)[0]
        if ethertype == frames.ETH_P_ARP:
            arp = frames.parse_arp(data)
            if arp is None or arp.sender_mac == self.mac or not int(arp.sender_ip):
                return
            answer = arp.op == frames.ARP_REPLY and arp.target_mac == self.mac
            self._on_claim(arp.sender_ip, frames.mac_text(arp.sender_mac), answer)
        elif ethertype == frames.ETH_P_IP:
            if len(data) >= 36 and data[23] == 112:
                ihl = (data[14] & 0x0F) * 4
                if len(data) >= 14 + ihl + 3:
                    self._on_advert(frames.mac_text(data[6:12]), str(ipaddress.IPv4Address(data[26:30])),
                                    data[14 + ihl + 1], data[14 + ihl + 2])
        elif ethertype == frames.ETH_P_IPV6 and len(data) >= 57:
            if data[20] == 112:
                self._on_advert(frames.mac_text(data[6:12]), str(ipaddress.IPv6Address(data[22:38])),
                                data[55], data[56])
                return
            na = frames.parse_neighbour_advert(data)
            if na is None or not na.checksum_ok:
                return
            mac = na.target_mac or na.eth_src
            if mac != self.mac:
                self._on_claim(na.target, frames.mac_text(mac), None)


def _attach(sock: socket.socket) -> None:
    prog = bpf_program()
    buf = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *ins) for ins in prog))
    fprog = struct.pack("=HxxxxxxQ", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
