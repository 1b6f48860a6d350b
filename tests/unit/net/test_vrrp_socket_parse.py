"""The pure parts of the VRRP socket shell: keepalived's IPv4 header, datagram checks, counters."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from vipkeeper.net.vrrp_socket import RawReceived, VrrpSocket, VrrpSocketError, ipv4_header, parse_ipv4

V2_ADVERT = bytes.fromhex(
    "45c0002c00010000ff70188dc0000201e000001221339602010186e4c0000264c00002657333637265740000"
)


def test_ipv4_header_matches_keepalived_byte_for_byte() -> None:
    header = ipv4_header(ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("224.0.0.18"), 24, 1)
    assert header == V2_ADVERT[:20]


def test_parse_ipv4_reads_the_kernel_facts() -> None:
    assert parse_ipv4(V2_ADVERT) == (
        ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("224.0.0.18"), 255, 112)


@pytest.mark.parametrize(
    "data,reason",
    [(b"\x45" * 10, "short_ipv4_header"), (b"\x60" + V2_ADVERT[1:], "not_ipv4"), (V2_ADVERT[:30], "bad_ipv4_length")],
)
def test_parse_ipv4_names_what_is_wrong(data: bytes, reason: str) -> None:
    assert parse_ipv4(data) == reason


def test_payload_strips_the_ipv4_header_only() -> None:
    got = RawReceived(V2_ADVERT, ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("224.0.0.18"), 255, "eth0")
    assert got.payload == V2_ADVERT[20:] and got.family == socket.AF_INET


class _FakeSock:
    def __init__(self, datagrams: list[bytes]) -> None:
        self.datagrams = datagrams

    def recvmsg(self, size: int, ancsize: int) -> tuple[bytes, list, int, tuple[str, int]]:
        if not self.datagrams:
            raise BlockingIOError
        return self.datagrams.pop(0), [], 0, ("192.0.2.1", 0)

    def fileno(self) -> int:
        return -1


def test_unusable_datagrams_are_counted_and_the_rest_delivered() -> None:
    fake = _FakeSock([b"\x45\x00", V2_ADVERT, V2_ADVERT[:9] + b"\x11" + V2_ADVERT[10:]])
    sock = VrrpSocket(fake, "eth0", 2, socket.AF_INET, ipaddress.IPv4Address("224.0.0.18"),  # type: ignore[arg-type]
                      ipaddress.IPv4Address("192.0.2.2"))
    seen: list[RawReceived] = []
    sock._on_receive = seen.append
    sock._readable()
    assert [r.data for r in seen] == [V2_ADVERT]
    assert sock.errors == {"short_ipv4_header": 1, "not_vrrp": 1} and sock.receive_errors == 2


def test_open_errors_are_one_clear_message() -> None:
    with pytest.raises(VrrpSocketError, match="nosuchif0: no such interface"):
        VrrpSocket.open("nosuchif0", socket.AF_INET)
    with pytest.raises(VrrpSocketError, match="not a multicast group"):
        VrrpSocket.open("lo", socket.AF_INET, group="192.0.2.1")
    with pytest.raises(VrrpSocketError, match="is not an IPv4 address"):
        VrrpSocket.open("lo", socket.AF_INET, src="2001:db8::1")
