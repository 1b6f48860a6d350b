"""The conflict socket's BPF filter (run by the kernel on a datagram socket pair) and its frame
parsing (bytes in, claims and advert identities out)."""

from __future__ import annotations

import ipaddress
import socket

from vipkeeper.net import frames
from vipkeeper.net.conflict_socket import ConflictSocket, _attach
from vipkeeper.vrrp import packet

VIP = ipaddress.ip_address("192.0.2.50")
ME = b"\x02\x00\x00\x00\x00\x01"
OTHER = "02:00:00:00:00:0b"


def vrrp4(src="192.0.2.2", prio=150):
    adv = packet.Advertisement.v3(51, prio, (VIP,))
    dgram = packet.encode_ipv4_datagram(adv, ipaddress.ip_address(src), ipaddress.ip_address("224.0.0.18"))
    return frames.ethernet_header(b"\x01\x00\x5e\x00\x00\x12", frames.mac_bytes(OTHER), frames.ETH_P_IP) + dgram


def tcp4():
    ip = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]) + bytes([192, 0, 2, 9, 192, 0, 2, 1]) + bytes(20)
    return frames.ethernet_header(ME, frames.mac_bytes(OTHER), frames.ETH_P_IP) + ip


def test_kernel_filter_keeps_arp_vrrp_and_na_only():
    rx, tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with rx, tx:
        _attach(rx)
        rx.setblocking(False)
        v6 = ipaddress.ip_address("2001:db8::50")
        sent = {
            "garp": frames.gratuitous_arp(OTHER, VIP),
            "vrrp": vrrp4(),
            "na": frames.unsolicited_na(OTHER, v6),
            "ns": frames.dad_solicitation(OTHER, v6),
            "tcp": tcp4(),
        }
        for frame in sent.values():
            tx.send(frame)
        got = []
        while True:
            try:
                got.append(rx.recv(2048))
            except BlockingIOError:
                break
        names = {v: k for k, v in sent.items()}
        assert [names[g] for g in got] == ["garp", "vrrp", "na"]


def test_frames_become_claims_and_identities():
    claims = []
    sock = ConflictSocket.__new__(ConflictSocket)
    sock.mac, sock._on_claim, sock.adverts = ME, lambda *a: claims.append(a), {}
    sock.watched = {VIP.packed, ipaddress.ip_address("2001:db8::50").packed}
    sock.frame(frames.gratuitous_arp(OTHER, "192.0.2.9"))  # not a watched VIP: skipped
    sock.frame(vrrp4())
    sock.frame(frames.arp_frame(frames.ARP_REPLY, OTHER, VIP, ME, "0.0.0.0"))  # answer to our probe
    sock.frame(frames.gratuitous_arp(OTHER, VIP))  # unsolicited
    sock.frame(frames.gratuitous_arp(ME, VIP))  # ours: ignored
    sock.frame(frames.arp_probe(OTHER, VIP))  # someone else's probe, sender 0.0.0.0: not a claim
    sock.frame(frames.unsolicited_na(OTHER, "2001:db8::50"))
    assert claims == [(VIP, OTHER, True), (VIP, OTHER, False),
                      (ipaddress.ip_address("2001:db8::50"), OTHER, None)]
    assert sock.identity(OTHER) == ("192.0.2.2", 51, 150)
    assert sock.identity("02:00:00:00:00:99") is None


def test_ipv6_probe_is_an_ns_from_our_link_local_and_its_unicast_na_is_an_answer():
    from vipkeeper.net.conflict_socket import probe_frame

    v6 = ipaddress.ip_address("2001:db8::50")
    ll = ipaddress.ip_address("fe80::1")
    ns = probe_frame(ME, v6, ll)
    assert ns[:6] == b"\x33\x33\xff\x00\x00\x50" and ns[54] == 135
    src, dst = ipaddress.IPv6Address(ns[22:38]), ipaddress.IPv6Address(ns[38:54])
    assert src == ll and frames.icmpv6_checksum(src, dst, ns[54:]) == 0
    assert ns[78:80] == b"\x01\x01" and ns[80:86] == ME  # source link-layer address option
    assert probe_frame(ME, v6, None)[22:38] == bytes(16)  # no link-local: DAD probe from ::
    # A solicited NA unicast to us (as Linux answers that NS) is an answer.
    na = bytearray(frames.unsolicited_na(OTHER, v6))
    na[0:6] = ME
    msg = bytearray(na[54:])
    msg[4] = (msg[4] & 0x1F) | 0x60  # solicited + override
    msg[2:4] = b"\0\0"
    dst6 = ipaddress.IPv6Address(bytes(na[38:54]))
    csum = frames.icmpv6_checksum(v6, dst6, bytes(msg))
    msg[2:4] = csum.to_bytes(2, "big")
    na[54:] = msg
    claims = []
    sock = ConflictSocket.__new__(ConflictSocket)
    sock.mac, sock._on_claim, sock.adverts, sock.watched = ME, lambda *a: claims.append(a), {}, {v6.packed}
    sock.frame(bytes(na))
    assert claims == [(v6, OTHER, True)]
