"""Ethernet frames that announce a VIP: gratuitous ARP and unsolicited neighbour advertisement.

Rules (keepalived 2.2.7, vrrp_arp.c / vrrp_ndisc.c, checked byte for byte against its captures):
- A gratuitous ARP is an ARP *request* (op 1) in an Ethernet broadcast; sender MAC = the
  interface's MAC, sender IP = target IP = the VIP, target hardware address = ff:ff:ff:ff:ff:ff.
  No padding: 42 bytes leave the host (the NIC pads on a real wire).
- An unsolicited neighbour advertisement goes from the VIP to ff02::1 (Ethernet 33:33:00:00:00:01),
  IPv6 traffic class 0, flow label 0, hop limit 255; ICMPv6 type 136 with the Override flag, the
  Router flag only when the interface forwards IPv6, target = VIP, and one target link-layer
  address option carrying the interface's MAC. The ICMPv6 checksum covers the pseudo-header.

Pure: bytes in, bytes out. Sending lives in announce.py; parsing here is for tests and the lab,
which need to recognise these frames in a capture.
"""

from __future__ import annotations

import ipaddress
import struct

from vipkeeper.records import record
from vipkeeper.vrrp.packet import internet_checksum

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST_MAC = b"\xff" * 6
ARP_REQUEST = 1
ARP_REPLY = 2
ICMPV6_NEIGHBOUR_SOLICIT = 135
ICMPV6_NEIGHBOUR_ADVERT = 136
NA_FLAG_ROUTER = 0x80000000
NA_FLAG_SOLICITED = 0x40000000
NA_FLAG_OVERRIDE = 0x20000000
ND_OPT_SOURCE_LL_ADDR = 1
ND_OPT_TARGET_LL_ADDR = 2
ALL_NODES = ipaddress.IPv6Address("ff02::1")
_IPPROTO_ICMPV6 = 58


class FrameError(ValueError):
    """A MAC or address that cannot go into a frame."""


def mac_bytes(mac: str | bytes) -> bytes:
    """Accept 'aa:bb:cc:dd:ee:ff' or 6 raw bytes."""
    if isinstance(mac, bytes):
        if len(mac) != 6:
            raise FrameError(f"a MAC address has 6 bytes, not {len(mac)}")
        return mac
    parts = mac.split(":")
    try:
        raw = bytes(int(p, 16) for p in parts)
    except ValueError:
        raise FrameError(f"not a MAC address: {mac!r}") from None
    if len(parts) != 6 or any(len(p) not in (1, 2) for p in parts):
        raise FrameError(f"not a MAC address: {mac!r}")
    return raw


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ethernet_header(dst: bytes, src: bytes, ethertype: int) -> bytes:
    return mac_bytes(dst) + mac_bytes(src) + struct.pack("!H", ethertype)


def ipv6_multicast_mac(group: ipaddress.IPv6Address) -> bytes:
    """RFC 2464 §7: 33:33 followed by the low 32 bits of the group."""
    return b"\x33\x33" + group.packed[12:]


def arp_frame(
    op: int,
    sender_mac: str | bytes,
    sender_ip: str | ipaddress.IPv4Address,
    target_mac: str | bytes,
    target_ip: str | ipaddress.IPv4Address,
    eth_dst: str | bytes | None = None,
) -> bytes:
    """Any Ethernet/IPv4 ARP frame; eth_dst defaults to broadcast for requests, target_mac for replies."""
    smac = mac_bytes(sender_mac)
    tmac = mac_bytes(target_mac)
    if eth_dst is None:
        eth_dst = BROADCAST_MAC if op == ARP_REQUEST else tmac
    body = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op)
    body += smac + _v4(sender_ip).packed + tmac + _v4(target_ip).packed
    return ethernet_header(mac_bytes(eth_dst), smac, ETH_P_ARP) + body


def gratuitous_arp(mac: str | bytes, vip: str | ipaddress.IPv4Address) -> bytes:
    """keepalived's GARP: a broadcast request for the VIP from the VIP, target MAC broadcast."""
    return arp_frame(ARP_REQUEST, mac, vip, BROADCAST_MAC, vip, BROADCAST_MAC)


def icmpv6_checksum(src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address, message: bytes) -> int:
    """RFC 4443 §2.3: one's complement sum over the pseudo-header and the message (checksum 0)."""
    pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(message), _IPPROTO_ICMPV6)
    return internet_checksum(pseudo + message)


def unsolicited_na(mac: str | bytes, vip: str | ipaddress.IPv6Address, router: bool = False) -> bytes:
    """keepalived's unsolicited NA for one IPv6 VIP, as a whole Ethernet frame."""
    smac = mac_bytes(mac)
    target = _v6(vip)
    flags = NA_FLAG_OVERRIDE | (NA_FLAG_ROUTER if router else 0)
    option = struct.pack("!BB", ND_OPT_TARGET_LL_ADDR, 1) + smac
    message = struct.pack("!BBHI", ICMPV6_NEIGHBOUR_ADVERT, 0, 0, flags) + target.packed + option
    checksum = icmpv6_checksum(target, ALL_NODES, message)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(message), _IPPROTO_ICMPV6, 255)
    ip6 += target.packed + ALL_NODES.packed
    return ethernet_header(ipv6_multicast_mac(ALL_NODES), smac, ETH_P_IPV6) + ip6 + message


def arp_probe(mac: str | bytes, target: str | ipaddress.IPv4Address) -> bytes:
    """An RFC 5227 ARP probe for `target`: sender IP 0.0.0.0, so no cache learns from it; every
    host with `target` configured answers with a reply addressed to `mac`."""
    return arp_frame(ARP_REQUEST, mac, "0.0.0.0", bytes(6), target, BROADCAST_MAC)


def dad_solicitation(mac: str | bytes, target: str | ipaddress.IPv6Address) -> bytes:
    """A duplicate-address-detection NS for `target` (source ::, to its solicited-node group):
    a host with `target` configured answers with an NA to all-nodes."""
    t = _v6(target)
    group = ipaddress.IPv6Address(b"\xff\x02" + bytes(9) + b"\x01\xff" + t.packed[13:])
    src = ipaddress.IPv6Address("::")
    message = struct.pack("!BBHI", ICMPV6_NEIGHBOUR_SOLICIT, 0, 0, 0) + t.packed
    checksum = icmpv6_checksum(src, group, message)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(message), _IPPROTO_ICMPV6, 255) + src.packed + group.packed
    return ethernet_header(ipv6_multicast_mac(group), mac_bytes(mac), ETH_P_IPV6) + ip6 + message


def neighbour_solicitation(mac: str | bytes, source: str | ipaddress.IPv6Address,
                           target: str | ipaddress.IPv6Address) -> bytes:
    """An address-resolution NS for `target` from `source` (our link-local address) with our MAC
    as source link-layer option, to the target's solicited-node group: a host with `target`
    configured answers with a solicited NA unicast to us, which no other host sees (a DAD probe
    is answered to all-nodes, and would move every client's neighbour entry)."""
    t, src = _v6(target), _v6(source)
    smac = mac_bytes(mac)
    group = ipaddress.IPv6Address(b"\xff\x02" + bytes(9) + b"\x01\xff" + t.packed[13:])
    option = struct.pack("!BB", ND_OPT_SOURCE_LL_ADDR, 1) + smac
    message = struct.pack("!BBHI", ICMPV6_NEIGHBOUR_SOLICIT, 0, 0, 0) + t.packed + option
    checksum = icmpv6_checksum(src, group, message)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(message), _IPPROTO_ICMPV6, 255) + src.packed + group.packed
    return ethernet_header(ipv6_multicast_mac(group), smac, ETH_P_IPV6) + ip6 + message


def _words(data: bytes) -> int:
    """The sum of `data`'s 16-bit words (even length), unfolded: internet_checksum's sum in parts."""
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _fold(total: int) -> int:
    """internet_checksum's result from the sum of every word."""
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


_SOLICITED_NODE = b"\xff\x02" + bytes(9) + b"\x01\xff"  # ff02::1:ffXX:XXXX without its last 3 bytes


class AnnounceFrames:
    """`gratuitous_arp` and `unsolicited_na` for one MAC, byte for byte, from parts made once: a
    frame costs a few joins and, for an NA, the sum of the one part that varies (the VIP), so a
    sender keeps no frame per VIP (issue 18: memory per instance) and builds one in about the
    time a dictionary lookup and the send take."""

    __slots__ = ("_garp_head", "_na_head", "_na_mid", "_na_tail", "_na_sums")

    def __init__(self, mac: str | bytes) -> None:
        smac = mac_bytes(mac)
        self._garp_head = BROADCAST_MAC + smac + struct.pack("!HHHBBH", ETH_P_ARP, 1, ETH_P_IP, 6, 4, ARP_REQUEST) + smac
        self._na_head = (ipv6_multicast_mac(ALL_NODES) + smac + struct.pack("!H", ETH_P_IPV6)
                         + struct.pack("!IHBB", 6 << 28, 32, _IPPROTO_ICMPV6, 255))
        self._na_mid = ALL_NODES.packed + bytes((ICMPV6_NEIGHBOUR_ADVERT, 0))
        option = struct.pack("!BB", ND_OPT_TARGET_LL_ADDR, 1) + smac
        self._na_tail = option
        # (flags bytes, sum of every word but the VIP's two copies) by the Router flag
        const = _words(ALL_NODES.packed) + _words(struct.pack("!I3xB", 32, _IPPROTO_ICMPV6)) + _words(option)
        sums = []
        for router in (False, True):
            flags = struct.pack("!I", NA_FLAG_OVERRIDE | (NA_FLAG_ROUTER if router else 0))
            sums.append((flags, const + ICMPV6_NEIGHBOUR_ADVERT * 256 + _words(flags)))
        self._na_sums = tuple(sums)

    def garp(self, vip: ipaddress.IPv4Address) -> bytes:
        ip = vip.packed
        return self._garp_head + ip + BROADCAST_MAC + ip

    def na(self, vip: ipaddress.IPv6Address, router: bool = False) -> bytes:
        target = vip.packed
        flags, const = self._na_sums[bool(router)]
        checksum = _fold(const + 2 * _words(target))  # the VIP is the pseudo-header's source and the target
        return (self._na_head + target + self._na_mid + checksum.to_bytes(2, "big") + flags + target
                + self._na_tail)


class ProbeFrames:
    """`arp_probe` and `neighbour_solicitation` (from `link_local`) for one MAC, byte for byte,
    from parts made once (as AnnounceFrames: no frame kept per VIP). Without a link-local
    address an IPv6 probe is `dad_solicitation`, built whole."""

    __slots__ = ("mac", "link_local", "_arp_head", "_ns_head", "_ns_ip", "_ns_tail", "_ns_sum")

    def __init__(self, mac: str | bytes, link_local: ipaddress.IPv6Address | None) -> None:
        smac = self.mac = mac_bytes(mac)
        self.link_local = link_local
        self._arp_head = (BROADCAST_MAC + smac + struct.pack("!HHHBBH", ETH_P_ARP, 1, ETH_P_IP, 6, 4, ARP_REQUEST)
                          + smac + bytes(4) + bytes(6))
        option = struct.pack("!BB", ND_OPT_SOURCE_LL_ADDR, 1) + smac
        self._ns_head = smac + struct.pack("!H", ETH_P_IPV6)
        src = link_local.packed if link_local is not None else bytes(16)
        self._ns_ip = struct.pack("!IHBB", 6 << 28, 32, _IPPROTO_ICMPV6, 255) + src
        self._ns_tail = option
        self._ns_sum = (_words(src) + _words(struct.pack("!I3xB", 32, _IPPROTO_ICMPV6))
                        + ICMPV6_NEIGHBOUR_SOLICIT * 256 + _words(option))

    def probe(self, vip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
        target = vip.packed
        if vip.version == 4:
            return self._arp_head + target
        if self.link_local is None:
            return dad_solicitation(self.mac, vip)  # type: ignore[arg-type]
        group = _SOLICITED_NODE + target[13:]
        checksum = _fold(self._ns_sum + _words(group) + _words(target))
        return (b"\x33\x33" + group[12:] + self._ns_head + self._ns_ip + group
                + bytes((ICMPV6_NEIGHBOUR_SOLICIT, 0)) + checksum.to_bytes(2, "big") + bytes(4) + target + self._ns_tail)


@record(frozen=True)
class ArpFrame:
    eth_dst: bytes
    eth_src: bytes
    op: int
    sender_mac: bytes
    sender_ip: ipaddress.IPv4Address
    target_mac: bytes
    target_ip: ipaddress.IPv4Address

    @property
    def is_gratuitous(self) -> bool:
        return self.op == ARP_REQUEST and self.sender_ip == self.target_ip


@record(frozen=True)
class NeighbourAdvert:
    eth_dst: bytes
    eth_src: bytes
    src: ipaddress.IPv6Address
    dst: ipaddress.IPv6Address
    hop_limit: int
    flags: int
    target: ipaddress.IPv6Address
    target_mac: bytes | None
    checksum_ok: bool

    @property
    def override(self) -> bool:
        return bool(self.flags & NA_FLAG_OVERRIDE)

    @property
    def router(self) -> bool:
        return bool(self.flags & NA_FLAG_ROUTER)

    @property
    def solicited(self) -> bool:
        return bool(self.flags & NA_FLAG_SOLICITED)


def parse_arp(frame: bytes) -> ArpFrame | None:
    """The ARP frame in `frame`, or None when it is something else or too short."""
    if len(frame) < 42 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4):
        return None
    return ArpFrame(
        eth_dst=frame[0:6],
        eth_src=frame[6:12],
        op=op,
        sender_mac=frame[22:28],
        sender_ip=ipaddress.IPv4Address(frame[28:32]),
        target_mac=frame[32:38],
        target_ip=ipaddress.IPv4Address(frame[38:42]),
    )


def parse_neighbour_advert(frame: bytes) -> NeighbourAdvert | None:
    """The NA in `frame` (no extension headers), or None when it is something else."""
    if len(frame) < 14 + 40 + 24 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IPV6:
        return None
    plen, nxt, hops = struct.unpack_from("!HBB", frame, 18)
    message = frame[54 : 54 + plen]
    if nxt != _IPPROTO_ICMPV6 or len(message) < 24 or message[0] != ICMPV6_NEIGHBOUR_ADVERT:
        return None
    src = ipaddress.IPv6Address(frame[22:38])
    dst = ipaddress.IPv6Address(frame[38:54])
    target_mac = None
    pos = 24
    while pos + 2 <= len(message):
        otype, olen = message[pos], message[pos + 1] * 8
        if olen == 0:
            break
        if otype == ND_OPT_TARGET_LL_ADDR and olen >= 8:
            target_mac = message[pos + 2 : pos + 8]
        pos += olen
    return NeighbourAdvert(
        eth_dst=frame[0:6],
        eth_src=frame[6:12],
        src=src,
        dst=dst,
        hop_limit=hops,
        flags=struct.unpack_from("!I", message, 4)[0],
        target=ipaddress.IPv6Address(message[8:24]),
        target_mac=target_mac,
        checksum_ok=icmpv6_checksum(src, dst, message) == 0,
    )


def _v4(addr: str | ipaddress.IPv4Address) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(addr)
    except ValueError:
        raise FrameError(f"not an IPv4 address: {addr!r}") from None


def _v6(addr: str | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    try:
        return ipaddress.IPv6Address(addr)
    except ValueError:
        raise FrameError(f"not an IPv6 address: {addr!r}") from None
