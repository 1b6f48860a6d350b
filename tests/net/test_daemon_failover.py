"""Two `vipkeeper run` nodes on a bridge: election, SIGKILL failover, preemption, nopreempt,
SIGTERM handover (skew time; at once with fast_handover or a single unicast peer), and the VIP
never on both nodes once settled. Judged from netlink address events in each namespace and the
adverts each node put on the wire, not from log text."""

from __future__ import annotations

import signal
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

VIP = "192.0.2.50/24"
ADV = 0.5  # VRRPv3 advert_int; master-down = 3 * ADV + skew
VRID = 51


def skew(priority: int, adv: float = ADV) -> float:
    return (256 - priority) / 256 * adv


def master_down(priority: int, adv: float = ADV) -> float:
    return 3 * adv + skew(priority, adv)


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=False) as tb:
        yield tb


def assert_settled(bed: Testbed, master: str, seconds: float) -> None:
    """For `seconds`: only `master` holds the VIP and only it advertises (checked over every instant)."""
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    assert bed.dual_holding(VIP, start, end) == []
    assert bed.holders(VIP) == [master]
    assert bed.advertisers(start, end, VRID) == {master}


def test_election_sigkill_failover_and_preemption(bed: Testbed) -> None:
    bed.start("a", conf=vrrp_conf(priority=150, vips=[VIP], advert_int=ADV))
    bed.start("b", conf=vrrp_conf(priority=100, vips=[VIP], advert_int=ADV))
    bed.wait_sole("a", VIP, master_down(150) + 3.0)
    assert_settled(bed, "a", 4 * ADV)

    # SIGKILL: no priority-0 advert; b must wait the master-down interval after a's last advert.
    killed = bed.stop("a", signal.SIGKILL)
    last = max(f.time for f, _ in bed.adverts("a", 0, None, VRID))
    got = bed.added_at("b", VIP, killed)
    deadline = time.monotonic() + master_down(100) + 2.0
    while got is None and time.monotonic() < deadline:
        time.sleep(0.005)
        got = bed.added_at("b", VIP, killed)
    assert got is not None, "backup never took the VIP after the Master's daemon was SIGKILLed"
    waited = got - last
    assert master_down(100) - 0.05 <= waited <= master_down(100) + 0.35, f"took over {waited:.3f}s after the last advert"
    assert bed.priority_zero_at("a", killed, VRID) is None  # a SIGKILLed daemon says nothing
    assert bed.wait_garps(VIP, killed, 2.0), "new Master sent no gratuitous ARP"

    # a comes back with the higher priority: it removes its leftover VIP and preempts.
    back = time.time()
    bed.start("a", conf=vrrp_conf(priority=150, vips=[VIP], advert_int=ADV))
    bed.wait_sole("a", VIP, master_down(150) + 3.0)
    assert bed.removed_at("b", VIP, back) is not None
    assert_settled(bed, "a", 6 * ADV)


def test_nopreempt_keeps_the_current_master(bed: Testbed) -> None:
    bed.start("b", conf=vrrp_conf(priority=100, vips=[VIP], advert_int=ADV, nopreempt=True))
    bed.wait_sole("b", VIP, master_down(100) + 3.0)
    joined = time.time()
    bed.start("a", conf=vrrp_conf(priority=150, vips=[VIP], advert_int=ADV, nopreempt=True))
    # a is up once it advertises nothing but listens; give it three master-down intervals.
    time.sleep(0.5)
    assert_settled(bed, "b", 3 * master_down(150))
    assert bed.added_at("a", VIP, joined) is None
    assert bed.advertisers(joined, None, VRID) == {"b"}


def test_preempt_when_higher_priority_joins(bed: Testbed) -> None:
    bed.start("b", conf=vrrp_conf(priority=100, vips=[VIP], advert_int=ADV))
    bed.wait_sole("b", VIP, master_down(100) + 3.0)
    joined = time.time()
    bed.start("a", conf=vrrp_conf(priority=150, vips=[VIP], advert_int=ADV))
    bed.wait_sole("a", VIP, master_down(150) + 3.0)
    # the handover leaves at most one advert interval where both could claim the VIP
    assert all(e - s < ADV for s, e in bed.dual_holding(VIP, joined))
    assert_settled(bed, "a", 4 * ADV)


@pytest.mark.parametrize("mode", ["multicast", "fast_handover", "unicast"])
def test_sigterm_hands_over(bed: Testbed, mode: str) -> None:
    a_ip, b_ip = str(bed.lan["a"].ipv4.ip), str(bed.lan["b"].ipv4.ip)
    extra = ["fast_handover"] if mode == "fast_handover" else []

    def conf(prio: int, me: str, peer: str) -> str:
        uni = {"unicast_src": me, "unicast_peers": [peer]} if mode == "unicast" else {}
        return vrrp_conf(priority=prio, vips=[VIP], advert_int=ADV, extra=extra, **uni)

    bed.start("a", conf=conf(150, a_ip, b_ip))
    bed.start("b", conf=conf(50, b_ip, a_ip))
    bed.wait_sole("a", VIP, master_down(150) + 3.0)
    assert_settled(bed, "a", 3 * ADV)

    stopped = bed.stop("a", signal.SIGTERM)
    zero = bed.priority_zero_at("a", stopped, VRID)
    assert zero is not None, "SIGTERM did not send a priority-0 advert"
    assert bed.removed_at("a", VIP, stopped) is not None, "SIGTERM left the VIP on the old Master"
    taken = bed.wait_sole("b", VIP, master_down(50) + 2.0)
    added = bed.added_at("b", VIP, stopped) or taken
    delay = added - zero
    overlap = bed.dual_holding(VIP, stopped)
    if mode == "multicast":
        # RFC 5798 / keepalived: a Backup that hears priority 0 takes over after its skew time.
        assert skew(50) - 0.05 <= delay <= skew(50) + 0.25, f"took over {delay:.3f}s after priority 0"
        assert overlap == []
    else:
        assert delay < 0.15, f"{mode}: took over {delay:.3f}s after priority 0, expected at once"
        # The old Master sends priority 0 before it removes its VIPs (so the peer takes over while
        # it tidies up): the two may overlap for the time that takes, never longer.
        assert sum(e - s for s, e in overlap) < 0.05, overlap
    assert_settled(bed, "b", 3 * ADV)
