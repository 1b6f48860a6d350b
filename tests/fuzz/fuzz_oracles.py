"""What the fuzzers check, shared by the atheris runners (bench/fuzz) and the regression tests
(tests/unit/test_fuzz_*.py), which replay committed inputs without atheris.

- `check_packet(data)`: the first byte picks a decoder, the rest is its input. Only
  `MalformedPacket` may escape; an advertisement that decodes re-encodes to the same bytes.
  Selectors 5-7 first patch the checksums in (VRRP over IPv4, over IPv6, and a whole IPv4
  datagram), so that mutations reach the checks behind the checksum gate.
- `check_config(data)`: the bytes (as UTF-8 with surrogate escapes) go to `config.loads`; only
  `ConfigError` may escape. Run it from a scratch directory: relative includes resolve there.
"""

from __future__ import annotations

import ipaddress

from vipkeeper.config import ConfigError, loads
from vipkeeper.vrrp import packet

V4_SRC = ipaddress.IPv4Address("192.0.2.1")
V4_DST = ipaddress.IPv4Address("224.0.0.18")
V6_SRC = ipaddress.IPv6Address("fe80::1")
V6_DST = ipaddress.IPv6Address("ff02::12")
DECODERS = 8


def _round_trip(payload: bytes, adv: packet.Advertisement, src: packet.IPAddress, dst: packet.IPAddress) -> None:
    again = packet.encode(adv, src, dst)
    if payload[6:8] == b"\xff\xff" and again[6:8] == b"\0\0" and again[:6] + again[8:] == payload[:6] + payload[8:]:
        # Ones' complement has two zeros: a checksum field of 0xffff verifies wherever the
        # encoder writes 0x0000 (keepalived accepts both too). Found by atheris; the one
        # exception to "re-encodes byte-exact" (tests/unit/test_fuzz_packet.py keeps it).
        return
    if again != payload:
        raise AssertionError(f"decode/encode not byte-exact: {payload.hex()} -> {again.hex()}")


def check_packet(data: bytes) -> None:
    if not data:
        return
    selector, body = data[0] % DECODERS, data[1:]
    try:
        if selector == 0:
            got = packet.decode_ipv4_datagram(body)
            ihl = (body[0] & 0x0F) * 4
            total = int.from_bytes(body[2:4], "big")
            _round_trip(body[ihl:total], got.advertisement, got.source, got.destination)
        elif selector == 1:
            packet.decode_ipv4_datagram(body, check_ttl=False)
        elif selector == 2:
            _round_trip(body, packet.decode(body, V4_SRC, V4_DST), V4_SRC, V4_DST)
        elif selector == 3:
            hop = body[0] if body else 255
            got = packet.decode_ipv6(body[1:], V6_SRC, V6_DST, hop)
            _round_trip(body[1:], got.advertisement, V6_SRC, V6_DST)
        elif selector == 4:
            packet.decode_ip_datagram(body)
        elif selector == 5:
            fixed = _fix_vrrp(body, V4_SRC, V4_DST)
            _round_trip(fixed, packet.decode(fixed, V4_SRC, V4_DST), V4_SRC, V4_DST)
        elif selector == 6:
            fixed = _fix_vrrp(body, V6_SRC, V6_DST)
            _round_trip(fixed, packet.decode_ipv6(fixed, V6_SRC, V6_DST, 255).advertisement, V6_SRC, V6_DST)
        else:
            dgram = _fix_ipv4(body)
            got = packet.decode_ipv4_datagram(dgram)
            ihl = (dgram[0] & 0x0F) * 4
            total = int.from_bytes(dgram[2:4], "big")
            _round_trip(dgram[ihl:total], got.advertisement, got.source, got.destination)
    except packet.MalformedPacket:
        pass


def _fix_vrrp(msg: bytes, src: packet.IPAddress, dst: packet.IPAddress) -> bytes:
    """`msg` with the checksum a sender of its version would have put in."""
    if len(msg) < 8:
        return msg
    zeroed = msg[:6] + b"\0\0" + msg[8:]
    covered = zeroed if msg[0] >> 4 == 2 else packet._pseudo_header(src, dst, len(msg)) + zeroed
    return zeroed[:6] + packet.internet_checksum(covered).to_bytes(2, "big") + zeroed[8:]


def _fix_ipv4(data: bytes) -> bytes:
    """A datagram with protocol 112, a correct header checksum and a correct VRRP checksum."""
    if len(data) < 20:
        return data
    ihl = max(20, (data[0] & 0x0F) * 4)
    if len(data) < ihl:
        return data
    header = bytearray(data[:ihl])
    header[9] = packet.IPPROTO_VRRP
    header[10:12] = b"\0\0"
    header[10:12] = packet.internet_checksum(bytes(header)).to_bytes(2, "big")
    total = int.from_bytes(header[2:4], "big")
    if ihl <= total <= len(data):
        src = ipaddress.IPv4Address(bytes(header[12:16]))
        dst = ipaddress.IPv4Address(bytes(header[16:20]))
        return bytes(header) + _fix_vrrp(data[ihl:total], src, dst) + data[total:]
    return bytes(header) + data[ihl:]


def check_config(data: bytes) -> None:
    try:
        loads(data.decode("utf-8", "surrogateescape"), name="fuzz.conf", config_id="fuzz")
    except ConfigError:
        pass
