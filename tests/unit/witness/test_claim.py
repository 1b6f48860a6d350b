"""witness/claim.py with a fake clock: when the gate opens and closes, and what is sent."""

from __future__ import annotations

import pytest

from vipkeeper.witness.claim import (
    RATE_BOUND,
    Acquire,
    Claim,
    Grant,
    KeepAlive,
    Policy,
    Release,
)

T = 3


def claim(policy: Policy = Policy.FAIL_CLOSED, margin: float = 0.2) -> Claim:
    return Claim("/vk/instance/VI_1", "r1", T, policy, now=0.0, margin=margin)


def granted(c: Claim, lease: int = 7, sent: float = 0.0, now: float = 0.01) -> list:
    assert c.tick(sent) == [Grant(T)]
    return c.lease_granted(lease, T, sent, now)


def test_a_lease_first_then_the_key_only_when_wanted() -> None:
    c = claim()
    assert granted(c) == []  # nobody wants the key yet
    assert not c.gate_open(0.02)
    assert c.want(True, 0.5) == [Acquire(7)]
    assert not c.gate_open(0.51)  # not before etcd said yes
    assert c.acquired(7, True, "r1", 0.52) == []
    assert c.gate_open(0.52) and c.holding and c.acquisitions == 1


def test_the_gate_closes_at_send_time_plus_ttl_less_rate_and_margin() -> None:
    c = claim()
    granted(c, sent=10.0, now=10.9)  # a slow answer does not extend the deadline
    c.want(True, 11.0)
    c.acquired(7, True, "r1", 11.0)
    bound = 10.0 + T * (1 - RATE_BOUND) - 0.2
    assert c.deadline == pytest.approx(bound)
    assert c.gate_open(bound - 1e-6)
    assert not c.gate_open(bound)
    assert c.next_deadline() == pytest.approx(10.0 + T / 3)  # keepalive comes first


def test_a_keepalive_counts_from_when_it_was_sent() -> None:
    c = claim()
    granted(c)
    c.want(True, 0.1)
    c.acquired(7, True, "r1", 0.1)
    assert c.tick(1.0) == [KeepAlive(7)]
    assert c.tick(1.1) == []  # one in flight at a time
    c.keepalive_ok(7, T, sent_at=1.0, now=2.5)
    assert c.deadline == pytest.approx(1.0 + T * (1 - RATE_BOUND) - 0.2)
    assert c.gate_open(3.0)


def test_lost_lease_fail_closed_closes_the_gate_and_faults() -> None:
    c = claim()
    granted(c)
    c.want(True, 0.1)
    c.acquired(7, True, "r1", 0.1)
    out = c.io_failed(KeepAlive(7), 1.0)
    assert out == []
    deadline = c.deadline
    assert deadline is not None
    assert not c.fault(deadline - 0.01)
    out = c.tick(deadline)
    assert Grant(T) in out
    assert not c.gate_open(deadline) and c.fault(deadline) and not c.degraded
    assert c.lost == 1
    # etcd back: a new lease, fault cleared, the key wanted again is acquired again
    out = c.lease_granted(8, T, deadline + 0.5, deadline + 0.6)
    assert not c.fault(deadline + 0.6)
    assert Acquire(8) in out


def test_lost_lease_fail_open_is_degraded_plain_vrrp() -> None:
    c = claim(Policy.FAIL_OPEN)
    granted(c)
    c.want(True, 0.1)
    c.acquired(7, True, "r1", 0.1)
    c.io_failed(KeepAlive(7), 1.0)
    assert c.deadline is not None
    c.tick(c.deadline)
    assert c.degraded and c.gate_open(5.0) and not c.fault(5.0)
    c.lease_granted(8, T, 6.0, 6.1)
    assert not c.degraded
    assert not c.gate_open(6.1)  # must hold the key again


def test_no_grant_for_a_whole_ttl_means_unreachable() -> None:
    c = claim()
    assert c.tick(0.0) == [Grant(T)]
    c.io_failed(Grant(T), 0.5)
    assert not c.fault(1.0)
    assert c.next_deadline() is not None
    for _ in range(10):
        now = c.next_deadline()
        assert now is not None and now <= 3.5
        for cmd in c.tick(now):
            if isinstance(cmd, Grant):
                c.io_failed(cmd, now)
        if c.fault(now):
            break
    assert c.fault(3.5)
    assert now == pytest.approx(0.5 + T)


def test_held_by_another_waits_for_the_watch() -> None:
    c = claim()
    granted(c)
    assert c.want(True, 0.1) == [Acquire(7)]
    assert c.acquired(7, False, "r2", 0.12) == []
    assert c.holder == "r2" and not c.gate_open(0.2)
    assert c.key_changed("r2", 0.5) == []
    assert c.key_changed(None, 0.6) == [Acquire(7)]  # deleted: acquire at once
    c.acquired(7, True, "r1", 0.61)
    assert c.gate_open(0.61)


def test_another_owner_on_the_key_closes_the_gate() -> None:
    c = claim()
    granted(c)
    c.want(True, 0.1)
    c.acquired(7, True, "r1", 0.1)
    c.key_changed("r2", 0.3)
    assert not c.gate_open(0.3)


def test_giving_up_releases_and_a_late_grant_is_released_too() -> None:
    c = claim()
    granted(c)
    c.want(True, 0.1)
    c.acquired(7, True, "r1", 0.1)
    assert c.want(False, 0.2) == [Release()]
    assert not c.gate_open(0.2)
    # want, then give up while the transaction is in flight: released when it lands
    assert c.want(True, 0.3) == [Acquire(7)]
    assert c.want(False, 0.31) == []
    assert c.acquired(7, True, "r1", 0.32) == [Release()]
    assert not c.gate_open(0.32)


def test_an_acquire_under_a_lease_since_lost_does_not_open_the_gate() -> None:
    c = claim()
    granted(c)
    c.want(True, 0.1)
    c.io_failed(KeepAlive(7), 0.5)
    c.tick(c.deadline)  # lease 7 gone, Grant in flight
    assert c.lease_granted(9, T, 3.0, 3.1) == []  # the acquire under lease 7 is still in flight
    # its answer arrives now: not a holding under lease 9, so acquire again under lease 9
    assert c.acquired(7, True, "r1", 3.2) == [Acquire(9)]
    assert not c.gate_open(3.2) and not c.holding


def test_too_short_a_ttl_for_the_margin_is_refused() -> None:
    with pytest.raises(ValueError):
        Claim("/k", "r1", 1, Policy.FAIL_CLOSED, 0.0, margin=0.7)


def test_a_watch_event_older_than_our_transaction_is_ignored() -> None:
    """The old holder's DELETE (revision 10) reaches us through the watch after our own put
    (revision 11) answered: it must not close the gate."""
    c = claim()
    granted(c)
    c.want(True, 0.1)
    c.acquired(7, True, "r1", 0.12, revision=11)
    assert c.key_changed(None, 0.13, revision=10) == []
    assert c.gate_open(0.13) and c.holder == "r1"
    c.key_changed("r1", 0.14, revision=11)  # our own put, echoed
    assert c.gate_open(0.14)
    c.key_changed("r2", 0.2, revision=12)  # a newer change by someone else does close it
    assert not c.gate_open(0.2)
