"""The campaign's delay fault is a real delay: packets through a node's eth0 are held, both ways.

Nodes a (192.0.2.1) and b (192.0.2.2) on one bridge; b runs a UDP echo server. The delay (an
iptables NFQUEUE rule set plus `NfqueueDelay` reading the queue in b's namespace, exactly what
the campaign runner applies) goes on b. Each datagram carries its send time (one clock: all in
this process), so both the one-way delay (a -> b: b's INPUT) and the round trip (b's INPUT and
OUTPUT) are measured.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from bench.campaign.nfqueue_delay import IPTABLES_RESTORE, NfqueueDelay, ruleset

pytestmark = pytest.mark.net

PORT = 7007
DELAY = 0.1
SLACK = 0.06  # a loaded 2-core machine: thread wake-ups, the GIL


class Echo:
    """UDP echo in b's namespace; notes each datagram's one-way time (arrival - send stamp)."""

    def __init__(self, in_ns, ns: str, addr: str) -> None:
        self.sock = in_ns(ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        self.sock.bind((addr, PORT))
        self.sock.settimeout(0.1)
        self.one_way: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(64)
            except TimeoutError:
                continue
            (sent,) = struct.unpack("!d", data[:8])
            self.one_way.append(time.monotonic() - sent)
            self.sock.sendto(data, peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def rtts(client: socket.socket, dst: str, count: int, timeout: float = 2.0) -> list[float]:
    """`count` echoes, one at a time; every one must come back (no loss)."""
    out = []
    client.settimeout(timeout)
    for i in range(count):
        t = time.monotonic()
        client.sendto(struct.pack("!dI", t, i), (dst, PORT))
        data, _ = client.recvfrom(64)
        assert struct.unpack("!dI", data)[1] == i
        out.append(time.monotonic() - t)
    return out


def test_delay_holds_every_packet_both_ways_and_revert_restores_a_fast_lossless_link(lan, topology, in_ns):
    a, b = lan["a"], lan["b"]
    dst = str(b.ipv4.ip)
    echo = Echo(in_ns, b.ns, dst)
    client = in_ns(a.ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    delayer = NfqueueDelay(b.ns, DELAY)
    try:
        before = rtts(client, dst, 10)
        assert max(before) < 0.02, before

        delayer.start()
        topology.run(b.ns, IPTABLES_RESTORE, input=ruleset(True))
        echo.one_way.clear()
        delayed = rtts(client, dst, 10)
        one_way = list(echo.one_way)
        print(f"\ndelay {DELAY * 1000:.0f} ms on b: one-way a->b {min(one_way) * 1000:.1f}..{max(one_way) * 1000:.1f} ms, "
              f"round trip {min(delayed) * 1000:.1f}..{max(delayed) * 1000:.1f} ms, max late {delayer.max_late * 1000:.1f} ms")
        assert len(one_way) == 10
        assert all(DELAY <= t <= DELAY + SLACK for t in one_way), one_way  # b's INPUT
        assert all(2 * DELAY <= t <= 2 * DELAY + SLACK for t in delayed), delayed  # b's INPUT and OUTPUT
        assert delayer.received >= 20 and delayer.errors == []

        # packets held when the fault is reverted are released at once, none dropped
        held_at_revert = delayer.received
        t0 = time.monotonic()
        for i in range(5):
            client.sendto(struct.pack("!dI", time.monotonic(), 100 + i), (dst, PORT))
        assert delayer.wait_received(held_at_revert + 5, 2.0), delayer.received  # all five held in b's INPUT now
        topology.run(b.ns, IPTABLES_RESTORE, input=ruleset(False))  # rules first, then the reader
        delayer.stop()
        client.settimeout(2.0)
        back = sorted(struct.unpack("!dI", client.recvfrom(64)[0])[1] for _ in range(5))
        released = time.monotonic() - t0
        assert back == [100, 101, 102, 103, 104]
        assert delayer.accepted == delayer.received

        after = rtts(client, dst, 10)
        print(f"after revert: round trip max {max(after) * 1000:.1f} ms; 5 held packets back after {released * 1000:.0f} ms")
        assert max(after) < 0.02, after

        # --queue-bypass: rules with no reader let everything through (a dead runner drops nothing)
        topology.run(b.ns, IPTABLES_RESTORE, input=ruleset(True))
        bypass = rtts(client, dst, 5)
        assert max(bypass) < 0.02, bypass
    finally:
        topology.run(b.ns, IPTABLES_RESTORE, input=ruleset(False), check=False)
        delayer.stop()
        client.close()
        echo.close()


def test_the_delay_is_the_configured_one(lan, topology, in_ns):
    """A second value (250 ms, the campaign's largest), so the hold is not a constant by accident."""
    a, b = lan["a"], lan["b"]
    dst = str(b.ipv4.ip)
    echo = Echo(in_ns, b.ns, dst)
    client = in_ns(a.ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        with NfqueueDelay(b.ns, 0.25):
            topology.run(b.ns, IPTABLES_RESTORE, input=ruleset(True))
            try:
                delayed = rtts(client, dst, 3)
            finally:
                topology.run(b.ns, IPTABLES_RESTORE, input=ruleset(False))
        print(f"\ndelay 250 ms on b: round trip {min(delayed) * 1000:.1f}..{max(delayed) * 1000:.1f} ms")
        assert all(0.5 <= t <= 0.5 + SLACK for t in delayed), delayed
    finally:
        client.close()
        echo.close()
