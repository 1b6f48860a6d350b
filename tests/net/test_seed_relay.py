"""The SMTP relay pair of the problem report, run unmodified: tests/data/seed/
smtp-relay-node1.conf and -node2.conf under `vipkeeper run`, each node in its own network, PID
and mount namespace with a real haproxy and a real postfix `master` (so "haproxy" means that
node's haproxy). Stopping a tracked service on the Master moves the VIP; starting it again lets
the Master preempt back; a restart that completes inside the tracker's `delay` changes nothing.
Judged from addresses (netlink events in each namespace) and adverts on the wire."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from vipkeeper.lab import nodes as labnodes
from vipkeeper.lab.testbed import Testbed

pytestmark = pytest.mark.net

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("VIPKEEPER_CORPUS", REPO / "tests" / "data"))
SEED = CORPUS / "seed"
VIP = "192.0.2.25"
VRID = 25
ADV = 1.0
DELAY = 1.0  # `delay 1` in both vrrp_track_process blocks
SKEW2 = (256 - 100) / 256 * ADV
START = {"haproxy": labnodes.start_haproxy, "postfix": labnodes.start_postfix}


@pytest.fixture
def relay(topology):
    confs = {"a": SEED / "smtp-relay-node1.conf", "b": SEED / "smtp-relay-node2.conf"}
    for path in confs.values():
        assert path.is_file(), f"seed config missing: {path} (set VIPKEEPER_CORPUS)"
    with Testbed(topology, ("a", "b"), ipv6=False) as bed:
        for name in ("a", "b"):
            labnodes.start_haproxy(bed.nodes[name])
            labnodes.start_postfix(bed.nodes[name])
        for name in ("a", "b"):
            assert labnodes.process_visible(bed.nodes[name], "haproxy")
            assert labnodes.process_visible(bed.nodes[name], "master")
            bed.start(name, conf=confs[name])  # the file itself, unmodified
        bed.wait_sole("a", VIP, 3 * ADV + SKEW2 + 4.0)
        yield bed


def settled(bed: Testbed, master: str, seconds: float) -> None:
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    assert bed.dual_holding(VIP, start, end) == []
    assert bed.holders(VIP) == [master]
    assert bed.advertisers(start, end, VRID) == {master}


@pytest.mark.parametrize("service", ["haproxy", "postfix"])
def test_stopping_a_tracked_service_moves_the_vip_and_back(relay: Testbed, service: str) -> None:
    settled(relay, "a", 2.2 * ADV)
    stopped = relay.nodes["a"].procs[service].kill(signal.SIGTERM)
    relay.nodes["a"].procs[service].wait(5.0)
    relay.wait_sole("b", VIP, DELAY + SKEW2 + 3.0)
    removed = relay.removed_at("a", VIP, stopped)
    added = relay.added_at("b", VIP, stopped)
    assert removed is not None and added is not None
    # nothing happens before the tracker's delay has run out
    assert removed - stopped >= DELAY - 0.05, f"VIP released {removed - stopped:.3f}s after the stop"
    assert relay.priority_zero_at("a", stopped, VRID) is not None
    assert relay.dual_holding(VIP, stopped) == []
    settled(relay, "b", 2.2 * ADV)

    restarted = time.time()
    START[service](relay.nodes["a"])
    relay.wait_sole("a", VIP, 3 * ADV + 4.0)
    assert relay.removed_at("b", VIP, restarted) is not None
    assert all(e - s < ADV for s, e in relay.dual_holding(VIP, restarted))
    settled(relay, "a", 2.2 * ADV)


def test_restart_inside_delay_causes_no_transition(relay: Testbed) -> None:
    settled(relay, "a", 1.2 * ADV)
    killed = relay.nodes["a"].procs["haproxy"].kill(signal.SIGKILL)
    relay.nodes["a"].procs["haproxy"].wait(5.0)
    time.sleep(0.5)  # a slow start, still inside `delay 1`
    labnodes.start_haproxy(relay.nodes["a"])
    time.sleep(DELAY + 2 * ADV)
    end = time.time()
    assert relay.removed_at("a", VIP, killed) is None
    assert relay.added_at("b", VIP, killed) is None
    assert relay.holders(VIP) == ["a"]
    assert relay.advertisers(killed, end, VRID) == {"a"}
    assert {r.advertisement.priority for _, r in relay.adverts("a", killed, end, VRID)} == {150}
    assert not any(st for _, _, st in relay.logs["a"][-1].states(after=killed))
