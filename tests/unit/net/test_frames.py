"""Golden tests: every ARP and NA frame keepalived 2.2.7 put on the wire, rebuilt from its fields."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path

import pytest

from vipkeeper.net import frames

VECTORS = Path(os.environ.get("VIPKEEPER_VECTORS", Path(__file__).resolve().parents[3] / "tests" / "data" / "vectors"))
CAPTURE = VECTORS / "keepalived-2.2.7" / "frames.json"


def _frames(kind: str) -> list[tuple[str, dict]]:
    data = json.loads(CAPTURE.read_text())
    out = []
    for capture in data["captures"]:
        for i, frame in enumerate(capture["frames"]):
            if frame["summary"].startswith(kind):
                out.append((f"{capture['name']}-{i}", frame))
    return out


ARP = _frames("ARP")
NA = [(n, f) for n, f in _frames("IP6") if "neighbor advertisement" in f["summary"]]


def test_capture_holds_the_frames_we_test() -> None:
    assert len(ARP) >= 20 and len(NA) >= 2


@pytest.mark.parametrize("name,frame", ARP, ids=[n for n, _ in ARP])
def test_arp_frames_match_keepalived(name: str, frame: dict) -> None:
    raw = bytes.fromhex(frame["hex"])
    src_mac = raw[6:12]  # the sender's MAC is the only field tcpdump's summary leaves out
    summary = frame["summary"]
    if m := re.match(r"ARP, Request who-has (\S+) \(ff:ff:ff:ff:ff:ff\) tell (\S+),", summary):
        assert m[1] == m[2]
        built = frames.gratuitous_arp(src_mac, m[1])
    elif m := re.match(r"ARP, Request who-has (\S+) tell (\S+),", summary):
        built = frames.arp_frame(frames.ARP_REQUEST, src_mac, m[2], b"\0" * 6, m[1])
    elif m := re.match(r"ARP, Reply (\S+) is-at (\S+),", summary):
        dst_mac = raw[0:6]
        # The reply answers the request of the other capture frame: target = its sender.
        request = next(bytes.fromhex(f["hex"]) for _, f in ARP if "tell" in f["summary"] and "ff:ff" not in f["summary"])
        target_ip = ipaddress.IPv4Address(request[28:32])
        assert request[6:12] == dst_mac
        built = frames.arp_frame(frames.ARP_REPLY, m[2], m[1], dst_mac, target_ip)
    else:
        pytest.fail(f"unexpected ARP summary: {summary}")
    assert built.hex() == frame["hex"]
    parsed = frames.parse_arp(raw)
    assert parsed is not None and parsed.is_gratuitous == ("(ff:ff:ff:ff:ff:ff)" in summary)


@pytest.mark.parametrize("name,frame", NA, ids=[n for n, _ in NA])
def test_neighbour_adverts_match_keepalived(name: str, frame: dict) -> None:
    raw = bytes.fromhex(frame["hex"])
    m = re.match(r"IP6 (\S+) > ff02::1: ICMP6, neighbor advertisement, tgt is (\S+),", frame["summary"])
    assert m is not None and m[1] == m[2]
    built = frames.unsolicited_na(raw[6:12], m[1], router=False)
    assert built.hex() == frame["hex"]
    parsed = frames.parse_neighbour_advert(raw)
    assert parsed is not None
    assert parsed.checksum_ok and parsed.override and not parsed.router and parsed.hop_limit == 255
    assert parsed.target == ipaddress.IPv6Address(m[1]) and parsed.target_mac == raw[6:12]


def test_router_flag_changes_flags_and_checksum() -> None:
    plain = frames.unsolicited_na("02:00:00:00:00:01", "2001:db8::1")
    router = frames.unsolicited_na("02:00:00:00:00:01", "2001:db8::1", router=True)
    parsed = frames.parse_neighbour_advert(router)
    assert parsed is not None and parsed.router and parsed.override and parsed.checksum_ok
    assert plain[:56] == router[:56] and (plain[58], router[58]) == (0x20, 0xA0)
    assert plain[56:58] != router[56:58]


def test_gratuitous_arp_is_42_bytes_broadcast() -> None:
    frame = frames.gratuitous_arp("02:00:00:00:00:01", "192.0.2.100")
    assert len(frame) == 42 and frame[:6] == frames.BROADCAST_MAC
    parsed = frames.parse_arp(frame)
    assert parsed is not None and parsed.is_gratuitous and parsed.target_mac == frames.BROADCAST_MAC


@pytest.mark.parametrize("bad", ["02:00:00:00:00", "zz:00:00:00:00:01", "0200:00:00:00:01:02", b"\x01"])
def test_bad_mac_is_one_clear_error(bad: str | bytes) -> None:
    with pytest.raises(frames.FrameError):
        frames.mac_bytes(bad)


def test_bad_address_is_one_clear_error() -> None:
    with pytest.raises(frames.FrameError):
        frames.gratuitous_arp("02:00:00:00:00:01", "2001:db8::1")
    with pytest.raises(frames.FrameError):
        frames.unsolicited_na("02:00:00:00:00:01", "192.0.2.1")


def test_parsers_ignore_other_frames() -> None:
    garp = frames.gratuitous_arp("02:00:00:00:00:01", "192.0.2.100")
    na = frames.unsolicited_na("02:00:00:00:00:01", "2001:db8::1")
    assert frames.parse_neighbour_advert(garp) is None
    assert frames.parse_arp(na) is None
    assert frames.parse_arp(garp[:30]) is None
