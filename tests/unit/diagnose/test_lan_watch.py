"""The `vipkeeper watch` core on a fake clock: adverts and claims in, findings out."""

from __future__ import annotations

import ipaddress

from vipkeeper.diagnose.lan_capture import LanCapture
from vipkeeper.diagnose.lan_watch import LanWatch, exit_status
from vipkeeper.net import frames
from vipkeeper.net.frames import arp_probe
from vipkeeper.net.frames import dad_solicitation as ndisc_probe
from vipkeeper.vrrp import packet

A, B, C = (ipaddress.ip_address(x) for x in ("192.0.2.1", "192.0.2.2", "192.0.2.3"))
VIP = ipaddress.ip_address("192.0.2.50")
VIP2 = ipaddress.ip_address("192.0.2.51")
MAC_A, MAC_B, MAC_C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"


def rx(src, prio=100, vips=(VIP,), interval_cs=100, version=3, vrid=51, ttl=255, auth=0):
    if version == 2:
        adv = packet.Advertisement(2, vrid, prio, tuple(vips), interval_cs, auth, bytes(8))
    else:
        adv = packet.Advertisement(3, vrid, prio, tuple(vips), interval_cs)
    return packet.Received(src, ipaddress.ip_address("224.0.0.18"), ttl, adv)


def kinds(w, now):
    return sorted(f.kind for f in w.findings(now))


def stream(w, src, mac, start, end, step=1.0, **kw):
    t = start
    while t <= end + 1e-9:
        w.advert(t, mac, rx(src, **kw))
        t += step


def test_one_master_is_clean():
    w = LanWatch()
    stream(w, A, MAC_A, 0, 10)
    assert w.findings(10.2) == []
    assert exit_status(w.findings(10.2)) == 0
    report = w.report(10.2)
    assert report["vrids"][0]["advertisers"][0]["advertising"] is True


def test_two_masters_after_overlap_not_during_a_preemption():
    w = LanWatch(overlap=2.0)
    stream(w, B, MAC_B, 0, 5)
    # Preemption: A (higher) starts at 5.5, B sends one more at 6 then goes silent (Backup).
    w.advert(5.5, MAC_A, rx(A, prio=150))
    w.advert(6.0, MAC_B, rx(B))
    stream(w, A, MAC_A, 6.5, 12, prio=150)
    for t in (6.1, 7.0, 8.0, 9.9):
        assert "two_masters" not in kinds(w, t), t
    # Split brain: both keep advertising.
    w2 = LanWatch(overlap=2.0)
    stream(w2, B, MAC_B, 0, 6)
    stream(w2, A, MAC_A, 5, 6, prio=150)
    assert "two_masters" not in kinds(w2, 6.0)  # overlap not yet long enough
    stream(w2, B, MAC_B, 7, 10)
    stream(w2, A, MAC_A, 7, 10, prio=150)
    assert "two_masters" in kinds(w2, 10)
    assert exit_status(w2.findings(10)) == 2
    # A goes silent: after 3 intervals + margin, one Master remains.
    stream(w2, B, MAC_B, 11, 20)
    assert "two_masters" not in kinds(w2, 20)


def test_priority_zero_ends_a_stream():
    w = LanWatch()
    stream(w, A, MAC_A, 0, 5)
    stream(w, B, MAC_B, 0, 5)
    w.advert(5.1, MAC_A, rx(A, prio=0))
    assert "two_masters" not in kinds(w, 5.2)


def test_foreign_cluster_and_vip_set_mismatch_and_interval():
    w = LanWatch()
    stream(w, A, MAC_A, 0, 5)
    stream(w, C, MAC_C, 0, 5, vips=(ipaddress.ip_address("198.51.100.9"),))
    assert kinds(w, 5) == ["foreign_cluster"]  # two clusters: each is right to be Master
    w = LanWatch()
    stream(w, A, MAC_A, 0, 5, vips=(VIP, VIP2))
    stream(w, B, MAC_B, 0, 5, prio=0.5 and 90, vips=(VIP,), interval_cs=200, step=2.0)
    got = kinds(w, 5)
    assert "vip_set_mismatch" in got and "interval_mismatch" in got and "two_masters" in got


def test_version_and_auth_mismatch():
    w = LanWatch()
    stream(w, A, MAC_A, 0, 3, version=2)
    stream(w, B, MAC_B, 0, 3, version=3)
    assert "version_mismatch" in kinds(w, 3)
    w = LanWatch()
    stream(w, A, MAC_A, 0, 3, version=2, auth=1)
    stream(w, B, MAC_B, 0, 3, version=2, auth=0)
    assert "auth_mismatch" in kinds(w, 3)


def test_bad_ttl_and_checksum():
    w = LanWatch()
    w.advert(0, MAC_A, rx(A, ttl=64))
    w.malformed(0.5, "192.0.2.9", 51, "bad_checksum")
    w.malformed(0.5, "192.0.2.9", 51, "truncated")  # not a finding
    assert kinds(w, 1) == ["bad_checksum", "bad_ttl"]
    assert kinds(w, 60) == []  # forgotten after the claim window


def test_vip_conflict_from_a_probe_round_and_from_alternating_claims():
    w = LanWatch()
    stream(w, A, MAC_A, 0, 3)
    w.probe_round(1.0)
    w.claim(1.01, VIP, MAC_A, probe_answer=True)
    assert w.findings(1.1) == []
    w.claim(1.02, VIP, MAC_B, probe_answer=True)
    found = [f for f in w.findings(1.1) if f.kind == "vip_conflict"]
    assert len(found) == 1 and found[0].vrid == 51
    assert MAC_A in found[0].subjects and MAC_B in found[0].subjects
    assert "VRRP source 192.0.2.1" in found[0].message  # A's identity is known from its adverts
    # Passive: A, B, A within the window is a conflict; A..A then B..B (a handover) is not.
    w = LanWatch(claim_window=10)
    for t in (0, 1, 2):
        w.claim(t, VIP, MAC_A)
    for t in (3, 4):
        w.claim(t, VIP, MAC_B)
    assert w.findings(4) == []
    w.claim(5, VIP, MAC_A)
    assert [f.kind for f in w.findings(5)] == ["vip_conflict"]
    assert w.findings(30) == []  # old claims age out


def test_capture_frame_parsing_feeds_the_core():
    """The shell's frame dispatch, fed bytes (no socket): an advert, a bad-checksum advert, a GARP,
    an ARP reply to our probe and an NA."""
    w = LanWatch()
    cap = LanCapture.__new__(LanCapture)
    cap.watch, cap.mac, cap.probe = w, b"\x02\x00\x00\x00\x00\xff", True
    adv = packet.Advertisement.v3(51, 100, (VIP,))
    dgram = packet.encode_ipv4_datagram(adv, A, ipaddress.ip_address("224.0.0.18"))
    eth = frames.ethernet_header(b"\x01\x00\x5e\x00\x00\x12", frames.mac_bytes(MAC_A), frames.ETH_P_IP)
    cap.frame(0.0, eth + dgram)
    bad = bytearray(dgram)
    bad[-1] ^= 0xFF
    cap.frame(0.1, eth + bytes(bad))
    cap.frame(0.2, frames.gratuitous_arp(MAC_A, VIP))
    w.probe_round(0.3)
    cap.frame(0.31, frames.arp_frame(frames.ARP_REPLY, MAC_B, VIP, cap.mac, "0.0.0.0"))
    v6 = ipaddress.ip_address("2001:db8::50")
    cap.frame(0.4, frames.unsolicited_na(MAC_C, v6))
    assert (51, 4, A) in w.advertisers
    assert [f.kind for f in w.findings(0.5) if f.kind != "vip_conflict"] == ["bad_checksum"]
    assert w.vips[VIP].rounds[w.round] == {MAC_B}
    assert set(w.vips[VIP].macs) == {MAC_A, MAC_B}
    assert set(w.vips[v6].macs) == {MAC_C}


def test_probes_are_well_formed():
    mac = b"\x02\x00\x00\x00\x00\xff"
    p = frames.parse_arp(arp_probe(mac, VIP))
    assert p is not None and p.sender_ip == ipaddress.ip_address("0.0.0.0") and p.target_ip == VIP
    ns = ndisc_probe(mac, ipaddress.ip_address("2001:db8::50"))
    assert ns[:6] == b"\x33\x33\xff\x00\x00\x50"
    src, dst = ipaddress.IPv6Address(ns[22:38]), ipaddress.IPv6Address(ns[38:54])
    assert frames.icmpv6_checksum(src, dst, ns[54:]) == 0
