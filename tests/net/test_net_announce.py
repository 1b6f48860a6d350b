"""Gratuitous ARP and unsolicited NA from a node, captured in the client's namespace."""

from __future__ import annotations

import socket
import time

import pytest

from vipkeeper.lab.topology import Lan, Topology
from vipkeeper.net import frames
from vipkeeper.net.announce import Announcer

pytestmark = pytest.mark.net
ETH_P_ALL = 0x0003


def _capture(in_ns, ns: str) -> socket.socket:
    def make() -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind(("eth0", 0))
        return s

    return in_ns(ns, make)


def _first(sock: socket.socket, match, timeout: float = 2.0) -> bytes:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            frame = sock.recv(2048)
        except TimeoutError:
            break
        if match(frame):
            return frame
    pytest.fail("expected frame not captured")


def test_garp_reaches_the_client(lan: Lan, in_ns) -> None:
    with _capture(in_ns, lan["client"].ns) as cap, in_ns(lan["a"].ns, lambda: Announcer("eth0")) as ann:
        assert ann.mac == frames.mac_bytes(lan["a"].mac)
        assert ann.announce(["192.0.2.100/24"]) == 1
        frame = _first(cap, lambda f: (p := frames.parse_arp(f)) is not None and p.is_gratuitous)
        assert frame[:42] == frames.gratuitous_arp(ann.mac, "192.0.2.100")


def test_unsolicited_na_reaches_the_client(lan: Lan, in_ns) -> None:
    with _capture(in_ns, lan["client"].ns) as cap, in_ns(lan["a"].ns, lambda: Announcer("eth0")) as ann:
        assert ann.send_na("2001:db8::100", router=False)
        frame = _first(cap, lambda f: (p := frames.parse_neighbour_advert(f)) is not None and str(p.target) == "2001:db8::100")
        assert frame == frames.unsolicited_na(ann.mac, "2001:db8::100")
        advert = frames.parse_neighbour_advert(frame)
        assert advert is not None and advert.checksum_ok and advert.hop_limit == 255 and advert.override


def test_no_garp_on_noarp_interface(topology: Topology, lan: Lan, in_ns) -> None:
    topology.run(lan["b"].ns, ["ip", "link", "set", "eth0", "arp", "off"])
    with in_ns(lan["b"].ns, lambda: Announcer("eth0")) as ann:
        assert ann.noarp and ann.send_garp("192.0.2.100") is False and ann.sent == 0


def test_missing_interface_is_one_clear_error(lan: Lan, in_ns) -> None:
    with pytest.raises(OSError, match="eth9"):
        in_ns(lan["a"].ns, lambda: Announcer("eth9"))
