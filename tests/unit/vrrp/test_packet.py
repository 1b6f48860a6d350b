"""Codec: golden frames from keepalived 2.2.7, round trips, and a decoder that only ever raises
MalformedPacket."""

from __future__ import annotations

import ipaddress
import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vipkeeper.vrrp.packet import (
    AUTH_PASS, Advertisement, DropReason, MalformedPacket, decode, decode_ip_datagram,
    decode_ipv4_datagram, decode_ipv6, encode, encode_ipv4_datagram,
)

VECTORS = Path(__file__).resolve().parents[2] / "data" / "vectors" / "keepalived-2.2.7"

V4A, V4B = ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv4Address("224.0.0.18")
V6A, V6B = ipaddress.IPv6Address("fe80::1"), ipaddress.IPv6Address("ff02::12")


def vrrp_frames() -> list[tuple[str, dict]]:
    data = json.loads((VECTORS / "frames.json").read_text())
    return [(c["name"], f) for c in data["captures"] for f in c["frames"] if "VRRP" in f["summary"]]


FRAMES = vrrp_frames()


def test_vectors_present() -> None:
    assert len(FRAMES) == 24
    assert {name for name, _ in FRAMES} == {"v2", "v3", "v3u", "v3v6"}


@pytest.mark.parametrize(("capture", "frame"), FRAMES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FRAMES)])
def test_golden_frame(capture: str, frame: dict) -> None:
    raw = bytes.fromhex(frame["hex"])
    ip = raw[14:]
    summary = frame["summary"]
    rx = decode_ip_datagram(ip)
    adv = rx.advertisement
    assert rx.ttl == 255
    m = re.search(r"(\S+) > (\S+): VRRPv(\d), Advertisement, vrid (\d+), prio (\d+), (?:authtype (\w+), )?"
                  r"intvl (\d+)(s|cs), length (\d+)", summary)
    assert m, summary
    assert str(rx.source) == m[1] and str(rx.destination) == m[2]
    assert adv.version == int(m[3]) and adv.vrid == int(m[4]) and adv.priority == int(m[5])
    assert adv.interval_cs == int(m[7]) * (100 if m[8] == "s" else 1)
    if m[6]:
        assert m[6] == "simple" and adv.auth_type == AUTH_PASS and adv.auth_data == b"s3cret\0\0"
    else:
        assert adv.auth_type == 0
    if rx.source.version == 4:
        assert encode_ipv4_datagram(adv, rx.source, rx.destination, ip_id=rx.ip_id) == ip
        payload = ip[20:]
    else:
        payload = ip[40:]
        assert decode_ipv6(payload, rx.source, rx.destination, 255) == rx
    assert len(payload) == int(m[9])
    assert encode(adv, rx.source, rx.destination) == payload
    assert adv.checksum == int.from_bytes(payload[6:8], "big")


def test_golden_addresses() -> None:
    by_capture = {name: decode_ip_datagram(bytes.fromhex(f["hex"])[14:]).advertisement for name, f in FRAMES}
    assert [str(a) for a in by_capture["v2"].addresses] == ["192.0.2.100", "192.0.2.101"]
    assert [str(a) for a in by_capture["v3"].addresses] == ["192.0.2.110"]
    assert [str(a) for a in by_capture["v3u"].addresses] == ["192.0.2.120"]
    assert [str(a) for a in by_capture["v3v6"].addresses] == ["fe80::54", "2001:db8::54"]


def test_v2_builder_matches_keepalived() -> None:
    frame = bytes.fromhex(FRAMES[0][1]["hex"])[14:]
    adv = Advertisement.v2(51, 150, (ipaddress.IPv4Address("192.0.2.100"), ipaddress.IPv4Address("192.0.2.101")),
                           1, b"s3cret")
    assert encode_ipv4_datagram(adv, ipaddress.IPv4Address("192.0.2.1"), V4B, ip_id=1) == frame


def _first(capture: str) -> bytes:
    return next(bytes.fromhex(f["hex"])[14:] for n, f in FRAMES if n == capture)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b[:10], DropReason.TRUNCATED),
        (lambda b: b[:8] + bytes([64]) + b[9:], DropReason.BAD_TTL),
        (lambda b: b[:20] + bytes([0x32]) + b[21:], DropReason.BAD_TYPE),
        (lambda b: b[:20] + bytes([0x11]) + b[21:], DropReason.BAD_VERSION),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), DropReason.BAD_CHECKSUM),
        (lambda b: b[:9] + bytes([6]) + b[10:], DropReason.BAD_IP_HEADER),
        (lambda b: b[:11] + bytes([b[11] ^ 0xFF]) + b[12:], DropReason.BAD_IP_HEADER),
    ],
)
def test_malformed_ipv4(mutate, reason) -> None:
    good = _first("v3")
    bad = mutate(good)
    if reason in (DropReason.BAD_TTL, DropReason.BAD_TYPE, DropReason.BAD_VERSION, DropReason.BAD_IP_HEADER) \
            and bad[11] == good[11] and bad[:20] != good[:20]:
        # fix the IP header checksum so the intended field is what fails
        hdr = bytearray(bad[:20])
        hdr[10:12] = b"\0\0"
        from vipkeeper.vrrp.packet import internet_checksum
        hdr[10:12] = internet_checksum(bytes(hdr)).to_bytes(2, "big")
        bad = bytes(hdr) + bad[20:]
    with pytest.raises(MalformedPacket) as exc:
        decode_ipv4_datagram(bad)
    assert exc.value.reason is reason


def test_ttl_check_can_be_disabled_for_unicast() -> None:
    adv = Advertisement.v3(53, 120, (ipaddress.IPv4Address("192.0.2.120"),))
    dgram = encode_ipv4_datagram(adv, V4A, ipaddress.IPv4Address("192.0.2.2"), ttl=64)
    with pytest.raises(MalformedPacket) as exc:
        decode_ipv4_datagram(dgram)
    assert exc.value.reason is DropReason.BAD_TTL
    assert decode_ipv4_datagram(dgram, check_ttl=False).advertisement == adv


def test_ipv6_hop_limit_and_v2_over_ipv6() -> None:
    adv = Advertisement.v3(54, 100, (ipaddress.IPv6Address("fe80::54"),))
    payload = encode(adv, V6A, V6B)
    with pytest.raises(MalformedPacket) as exc:
        decode_ipv6(payload, V6A, V6B, 64)
    assert exc.value.reason is DropReason.BAD_TTL
    v2ish = bytes([0x21]) + payload[1:]
    with pytest.raises(MalformedPacket) as exc:
        decode(v2ish, V6A, V6B)
    assert exc.value.reason is DropReason.BAD_VERSION


def test_v3_checksum_covers_pseudo_header() -> None:
    adv = Advertisement.v3(52, 200, (ipaddress.IPv4Address("192.0.2.110"),), 50)
    payload = encode(adv, V4A, V4B)
    with pytest.raises(MalformedPacket) as exc:
        decode(payload, ipaddress.IPv4Address("192.0.2.9"), V4B)
    assert exc.value.reason is DropReason.BAD_CHECKSUM


def test_count_and_length_mismatch() -> None:
    adv = Advertisement.v3(52, 200, (ipaddress.IPv4Address("192.0.2.110"),), 50)
    payload = encode(adv, V4A, V4B)
    with pytest.raises(MalformedPacket) as exc:
        decode(payload + b"\0\0\0\0", V4A, V4B)
    assert exc.value.reason is DropReason.BAD_LENGTH
    with pytest.raises(MalformedPacket) as exc:
        decode(payload[:3] + bytes([2]) + payload[4:], V4A, V4B)
    assert exc.value.reason is DropReason.ADDRESS_COUNT_MISMATCH


def test_encoder_rejects_unrepresentable_values() -> None:
    with pytest.raises(ValueError):
        encode(Advertisement(2, 1, 100, (), 150), V4A, V4B)  # v2 interval is whole seconds
    with pytest.raises(ValueError):
        encode(Advertisement(3, 1, 100, (), 5000), V4A, V4B)  # 12 bits
    with pytest.raises(ValueError):
        encode(Advertisement.v3(1, 100, ()), V4A, V6B)  # mixed families


# --- properties -----------------------------------------------------------------------------

v4addr = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
v6addr = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


@st.composite
def adverts(draw):
    family = draw(st.sampled_from([4, 6]))
    addr = v4addr if family == 4 else v6addr
    version = 3 if family == 6 else draw(st.sampled_from([2, 3]))
    addrs = tuple(draw(st.lists(addr, max_size=20)))
    vrid, prio = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    if version == 2:
        auth_type = draw(st.sampled_from([0, 1, 2]))
        adv = Advertisement(2, vrid, prio, addrs, draw(st.integers(0, 255)) * 100, auth_type,
                            draw(st.binary(min_size=8, max_size=8)))
    else:
        adv = Advertisement(3, vrid, prio, addrs, draw(st.integers(0, 4095)))
    return adv, draw(addr), draw(addr)


@settings(max_examples=400, deadline=None)
@given(adverts())
def test_round_trip(case) -> None:
    adv, src, dst = case
    payload = encode(adv, src, dst)
    back = decode(payload, src, dst)
    assert back == adv
    assert encode(back, src, dst) == payload
    if src.version == 4:
        assert decode_ipv4_datagram(encode_ipv4_datagram(adv, src, dst)).advertisement == adv


GOOD = [bytes.fromhex(f["hex"])[14:] for _, f in FRAMES]


def _assert_only_malformed(data: bytes) -> None:
    try:
        decode_ip_datagram(data)
    except MalformedPacket as exc:
        assert isinstance(exc.reason, DropReason)
    try:
        decode(data, V4A, V4B)
    except MalformedPacket:
        pass
    try:
        decode_ipv6(data, V6A, V6B, 255)
    except MalformedPacket:
        pass


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=120))
def test_decoder_only_raises_malformed_on_random_bytes(data: bytes) -> None:
    _assert_only_malformed(data)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(GOOD), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
       st.integers(0, 120))
def test_decoder_only_raises_malformed_on_mutated_frames(frame: bytes, edits, cut: int) -> None:
    data = bytearray(frame)
    for pos, val in edits:
        if pos < len(data):
            data[pos] = val
    _assert_only_malformed(bytes(data[: len(data) - cut % (len(data) + 1)]))


def test_decoder_fuzz_100k() -> None:
    """100,000 inputs in one run: random bytes and mutations of the golden frames (seeded)."""
    rng = random.Random(0x5EED)
    outcomes = {"ok": 0, "malformed": 0}
    for i in range(100_000):
        if i % 2:
            data = bytearray(rng.choice(GOOD))
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                del data[rng.randrange(len(data)):]
            data = bytes(data)
        else:
            data = rng.randbytes(rng.randint(0, 100))
        for fn in (lambda d: decode_ip_datagram(d), lambda d: decode(d, V4A, V4B),
                   lambda d: decode_ipv6(d, V6A, V6B, 255)):
            try:
                fn(data)
                outcomes["ok"] += 1
            except MalformedPacket as exc:
                assert isinstance(exc.reason, DropReason)
                outcomes["malformed"] += 1
    assert outcomes["malformed"] > 100_000  # most inputs are rejected ...
    assert outcomes["ok"] > 0  # ... and some mutations (e.g. of the IP id) still decode
