"""Classic pcap files and link-layer framing, standard library only.

Rules
-----
- Reads the classic libpcap format (not pcapng) in either byte order, with micro- or
  nanosecond timestamps. Link types: Ethernet (1, with 802.1Q tags), Linux cooked v1 (113)
  and v2 (276), raw IP (101, 228, 229) -- what `tcpdump -w` produces on the interfaces VRRP
  runs over, and on `any`.
- A damaged file raises `PcapError` with one line saying what is wrong; it never hands out a
  partial record as if it were whole.

Theory of operation
-------------------
`read_pcap(data)` yields `Frame(time, linktype, data)`; `ip_payload(linktype, data)` strips the
link-layer header and returns the IP datagram, or None for frames that carry no IP (ARP,
LLDP, ...). The VRRP decoder works on that datagram.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
VLAN_TAGS = (0x8100, 0x88A8)

_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}


class PcapError(Exception):
    """The file is not a readable classic pcap capture."""


@dataclass(frozen=True)
class Frame:
    time: float
    linktype: int
    data: bytes


def read_pcap(data: bytes) -> Iterator[Frame]:
    if len(data) < 24:
        raise PcapError("not a pcap file (shorter than the 24-byte file header)")
    magic = data[:4]
    if magic not in _MAGICS:
        if magic == b"\x0a\x0d\x0d\x0a":
            raise PcapError("pcapng files are not supported; convert with: editcap -F pcap IN OUT")
        raise PcapError("not a pcap file (unknown magic number)")
    order, tick = _MAGICS[magic]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype not in (LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
                        LINKTYPE_IPV4, LINKTYPE_IPV6):
        raise PcapError(f"unsupported link type {linktype}")
    pos = 24
    index = 0
    while pos < len(data):
        index += 1
        if pos + 16 > len(data):
            raise PcapError(f"record {index} is truncated (incomplete record header)")
        sec, frac, incl, _orig = struct.unpack_from(order + "IIII", data, pos)
        pos += 16
        if pos + incl > len(data):
            raise PcapError(f"record {index} is truncated ({incl} bytes announced, {len(data) - pos} left)")
        yield Frame(sec + frac * tick, linktype, data[pos : pos + incl])
        pos += incl


def ip_payload(linktype: int, frame: bytes) -> bytes | None:
    """The IP datagram inside a link-layer frame, or None if it carries something else."""
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return frame if frame and frame[0] >> 4 in (4, 6) else None
    if linktype == LINKTYPE_ETHERNET:
        return ethernet_payload(frame)
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        proto, offset = struct.unpack_from("!H", frame, 14)[0], 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return None
        proto, offset = struct.unpack_from("!H", frame, 0)[0], 20
    else:
        return None
    return frame[offset:] if proto in (ETH_P_IP, ETH_P_IPV6) else None


def ethernet_payload(frame: bytes) -> bytes | None:
    if len(frame) < 14:
        return None
    ethertype, offset = struct.unpack_from("!H", frame, 12)[0], 14
    while ethertype in VLAN_TAGS and len(frame) >= offset + 4:
        ethertype, offset = struct.unpack_from("!H", frame, offset + 2)[0], offset + 4
    return frame[offset:] if ethertype in (ETH_P_IP, ETH_P_IPV6) else None
