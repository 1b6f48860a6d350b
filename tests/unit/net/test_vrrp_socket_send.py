"""The per-advert send path builds exactly the datagram `ipv4_header` describes, for every ident."""

from __future__ import annotations

import ipaddress
import socket
import struct

from vipkeeper.net.vrrp_socket import VrrpSocket, ipv4_header
from vipkeeper.vrrp import packet


class _Capture:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, object]] = []

    def sendto(self, data: bytes, address: object) -> int:
        self.sent.append((data, address))
        return len(data)

    def sendmsg(self, buffers: list[bytes], ancillary: list, flags: int, address: object) -> int:
        self.sent.append((b"".join(buffers), (ancillary, address)))
        return 0


def test_ipv4_datagrams_match_ipv4_header_across_ident_wraparound() -> None:
    cap = _Capture()
    src, group = ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("224.0.0.18")
    vs = VrrpSocket(cap, "eth0", 2, socket.AF_INET, group, src)  # type: ignore[arg-type]
    payload = packet.encode(packet.Advertisement.v3(51, 150, (ipaddress.IPv4Address("192.0.2.100"),), 100), src, group)
    peer = ipaddress.IPv4Address("198.51.100.7")
    vs._ident = 65529  # the last ID sent
    for i in range(20):
        dst = None if i % 2 else peer
        assert vs.send(payload, dst)
        data, address = cap.sent[-1]
        ident = (65530 + i) & 0xFFFF
        assert data == ipv4_header(src, dst or group, len(payload), ident) + payload
        assert address == (str(dst or group), 0)
        assert packet.internet_checksum(data[:20]) == 0  # the header verifies
    assert vs.sent == 20


def test_ipv6_send_carries_pktinfo_and_scope() -> None:
    cap = _Capture()
    src, group = ipaddress.IPv6Address("fe80::1"), ipaddress.IPv6Address("ff02::12")
    vs = VrrpSocket(cap, "eth0", 5, socket.AF_INET6, group, src)  # type: ignore[arg-type]
    assert vs.send(b"abc") and vs.send(b"abc", "2001:db8::9")
    (d1, (anc1, addr1)), (d2, (_anc2, addr2)) = cap.sent
    assert d1 == d2 == b"abc"
    assert addr1 == ("ff02::12", 0, 0, 5) and addr2 == ("2001:db8::9", 0, 0, 5)
    assert anc1[0][2] == src.packed + struct.pack("@I", 5)


def test_prepared_ipv4_datagram_changes_only_its_ident_and_shares_the_count() -> None:
    """A Master's advert is prepared once; each send writes the next ID into it (the kernel sets
    the header checksum of an IP_HDRINCL datagram: tests/net/test_net_vrrp_socket.py sees it)."""
    cap = _Capture()
    src, group = ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("224.0.0.18")
    vs = VrrpSocket(cap, "eth0", 2, socket.AF_INET, group, src)  # type: ignore[arg-type]
    payload = packet.encode(packet.Advertisement.v3(51, 150, (ipaddress.IPv4Address("192.0.2.100"),), 100), src, group)
    prepared = vs.prepare(payload)
    vs._ident = 65533
    for i in range(6):
        assert vs.send_prepared(prepared) if i % 3 else vs.send(payload)
        data, address = cap.sent[-1]
        want = ipv4_header(src, group, len(payload), (65534 + i) & 0xFFFF) + payload
        assert address == ("224.0.0.18", 0)
        assert data[:10] + data[12:] == want[:10] + want[12:]
    assert vs.sent == 6 and vs._ident == 3


def test_prepared_ipv6_send_is_the_plain_send() -> None:
    cap = _Capture()
    src, group = ipaddress.IPv6Address("fe80::1"), ipaddress.IPv6Address("ff02::12")
    vs = VrrpSocket(cap, "eth0", 5, socket.AF_INET6, group, src)  # type: ignore[arg-type]
    assert vs.send(b"abc", "2001:db8::9")
    assert vs.send_prepared(vs.prepare(b"abc", "2001:db8::9"))
    assert cap.sent[0] == cap.sent[1] and vs.sent == 2
