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
        assert frames.AnnounceFrames(src_mac).garp(ipaddress.IPv4Address(m[1])) == built  # the sender's way
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
    assert frames.AnnounceFrames(raw[6:12]).na(ipaddress.IPv6Address(m[1]), False) == built  # the sender's way
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


EDGE_V6 = ["::", "::1", "2001:db8::1", "2001:db8:5::3e7", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
           "fe80::ffff:ffff:ffff:ffff", "2001:db8::ff:fe00:1"]


def test_frames_from_parts_are_the_whole_builders_frames() -> None:
    """AnnounceFrames/ProbeFrames (what the announcer and the conflict socket send: no frame kept
    per VIP) give byte for byte the frames of gratuitous_arp, unsolicited_na (Router flag on and
    off), arp_probe, neighbour_solicitation and, without a link-local address, dad_solicitation:
    random MACs and addresses, and the checksum's edge cases (sums that fold to 0xffff)."""
    import random

    rnd = random.Random(18)
    cases = [(bytes(6), a) for a in EDGE_V6] + [(b"\xff" * 6, a) for a in EDGE_V6]
    cases += [(bytes(rnd.randrange(256) for _ in range(6)), str(ipaddress.IPv6Address(rnd.getrandbits(128))))
              for _ in range(400)]
    for i, (mac, text) in enumerate(cases):
        v6 = ipaddress.IPv6Address(text)
        v4 = ipaddress.IPv4Address(rnd.getrandbits(32) if i > 3 else ("0.0.0.0", "255.255.255.255", "192.0.2.1",
                                                                      "198.51.100.255")[i])
        link_local = None if i % 5 == 0 else ipaddress.IPv6Address(EDGE_V6[i % len(EDGE_V6)] if i < 30
                                                                   else rnd.getrandbits(128))
        announce, probes = frames.AnnounceFrames(mac), frames.ProbeFrames(mac, link_local)
        assert announce.garp(v4) == frames.gratuitous_arp(mac, v4)
        assert announce.na(v6, False) == frames.unsolicited_na(mac, v6, router=False)
        assert announce.na(v6, True) == frames.unsolicited_na(mac, v6, router=True)
        assert probes.probe(v4) == frames.arp_probe(mac, v4)
        ns = frames.neighbour_solicitation(mac, link_local, v6) if link_local else frames.dad_solicitation(mac, v6)
        assert probes.probe(v6) == ns, (mac.hex(), link_local, v6)
