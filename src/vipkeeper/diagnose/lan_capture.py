"""The capture shell of `vipkeeper watch`: frames from one interface into a `LanWatch`.

One AF_PACKET socket (all protocols) on the interface; frames this host sends are skipped.
IPv4/IPv6 protocol 112 goes to the VRRP codec (TTL not checked there: the core judges it), ARP
and neighbour advertisements become claims. Every `probe_interval` it probes each VIP it has
seen advertised: an ARP probe (sender 0.0.0.0, RFC 5227, which pollutes no cache) or a neighbour
solicitation from this host's link-local address, so that every host holding the VIP answers us
with a unicast reply (no other host's cache moves). Decoding is frames.py's and packet.py's; nothing is judged here.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time

from vipkeeper.diagnose.lan_watch import LanWatch
from vipkeeper.net import frames
from vipkeeper.net.conflict_socket import link_local_address, probe_frame
from vipkeeper.vrrp import packet

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class LanCapture:
    """Feeds one interface's frames into `watch`; `poll()` reads what is queued."""

    def __init__(self, ifname: str, watch: LanWatch, probe: bool = True) -> None:
        self.ifname = ifname
        self.watch = watch
        self.probe = probe
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                                  socket.htons(ETH_P_ALL))
        try:
            self.sock.bind((ifname, 0))
            self.mac: bytes = self.sock.getsockname()[4]
        except OSError:
            self.sock.close()
            raise
        self.probes_sent = 0
        self.link_local = link_local_address(ifname)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def poll(self, now: float | None = None) -> int:
        """Read every queued frame; returns how many were read."""
        n = 0
        while n < 10000:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                break
            n += 1
            if addr[2] == PACKET_OUTGOING:
                continue
            self.frame(time.time() if now is None else now, data)
        return n

    def frame(self, now: float, data: bytes) -> None:
        if len(data) < 14:
            return
        ethertype = struct.unpack_from("!H", data, 12)[0]
        mac = frames.mac_text(data[6:12])
        if ethertype == frames.ETH_P_IP and len(data) >= 34 and data[14 + 9] == packet.IPPROTO_VRRP:
            self._vrrp(now, mac, data[14:], str(ipaddress.IPv4Address(data[26:30])), (data[14] & 0x0F) * 4)
        elif ethertype == frames.ETH_P_IPV6 and len(data) >= 54 and data[14 + 6] == packet.IPPROTO_VRRP:
            self._vrrp(now, mac, data[14:], str(ipaddress.IPv6Address(data[22:38])), 40)
        elif ethertype == frames.ETH_P_ARP:
            arp = frames.parse_arp(data)
            if arp is None or arp.sender_ip == ipaddress.IPv4Address(0):
                return
            if arp.op == frames.ARP_REPLY or arp.sender_ip == arp.target_ip or arp.op == frames.ARP_REQUEST:
                answer = arp.op == frames.ARP_REPLY and arp.target_mac == self.mac
                self.watch.claim(now, arp.sender_ip, frames.mac_text(arp.sender_mac), probe_answer=answer)
        elif ethertype == frames.ETH_P_IPV6:
            na = frames.parse_neighbour_advert(data)
            if na is not None and na.checksum_ok:
                answer = na.eth_dst == self.mac and na.solicited
                self.watch.claim(now, na.target, frames.mac_text(na.target_mac or na.eth_src), probe_answer=answer)

    def _vrrp(self, now: float, mac: str, datagram: bytes, source: str, header: int) -> None:
        vrid = datagram[header + 1] if len(datagram) > header + 1 else None
        try:
            got = packet.decode_ip_datagram(datagram, check_ttl=False)
        except packet.MalformedPacket as exc:
            self.watch.malformed(now, source, vrid, exc.reason.value, exc.detail)
            return
        self.watch.advert(now, mac, got)

    def send_probes(self, now: float) -> None:
        """One probe per known VIP; starts a new probe round in the core."""
        if not self.probe:
            return
        self.watch.probe_round(now)
        for vip in sorted(self.watch.known_vips(), key=lambda a: (a.version, a)):
            frame = probe_frame(self.mac, vip, self.link_local)
            try:
                self.sock.send(frame)
                self.probes_sent += 1
            except OSError:
                pass
