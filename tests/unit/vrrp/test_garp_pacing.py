"""vrrp/garp_pacing.py: keepalived 2.2.7's spacing of GARPs/NAs per interface, time passed in."""

from __future__ import annotations

from vipkeeper.vrrp.garp_pacing import Pacer, PacingPlan, Spacing, plan_of


def burst(pacer: Pacer, now: float, rounds: int, vips: list[str], ifname: str = "eth0",
          family: int = 4, instance: int = 0) -> list[str]:
    """What a Master's burst (`rounds` rounds over `vips`) sends at once."""
    sent = []
    for _ in range(rounds):
        for index, vip in enumerate(vips):
            if pacer.request(now, (instance, index), vip, ifname, family):
                sent.append(vip)
    return sent


def drain(pacer: Pacer, start: float, limit: float = 100.0) -> list[tuple[float, object]]:
    """Run the queue to empty, as the shell's timer would: (time, item) for each frame."""
    out = []
    for _ in range(1000):
        at = pacer.next_deadline()
        if at is None:
            return out
        assert start <= at <= limit
        out += [(round(at, 6), item) for item in pacer.due(at)]
    raise AssertionError("the queue never emptied")


def test_without_spacing_every_frame_goes_at_once() -> None:
    pacer = Pacer(PacingPlan())
    assert burst(pacer, 0.0, 5, ["a", "b"]) == ["a", "b"] * 5
    assert pacer.next_deadline() is None
    assert not PacingPlan().active


def test_a_burst_within_one_spacing_collapses_to_one_queued_frame_per_vip() -> None:
    """keepalived's pending flag: five rounds of one VIP give one frame now, one after S."""
    pacer = Pacer(plan_of((), 0.1, None))
    assert burst(pacer, 10.0, 5, ["a"]) == ["a"]
    assert drain(pacer, 10.0) == [(10.1, "a")]


def test_queued_vips_leave_one_per_spacing_in_configuration_order() -> None:
    pacer = Pacer(plan_of((), 0.1, None))
    assert burst(pacer, 0.0, 5, ["a", "b", "c"]) == ["a"]
    # a again first (it is first in the walk), then b and c, each one spacing apart
    assert drain(pacer, 0.0) == [(0.1, "a"), (0.2, "b"), (0.3, "c")]


def test_instances_walk_in_configuration_order_whoever_asked_first() -> None:
    pacer = Pacer(plan_of((), 0.5, None))
    assert pacer.request(0.0, (1, 0), "second", "eth0", 4)
    assert not pacer.request(0.0, (1, 0), "second", "eth0", 4)
    assert not pacer.request(0.1, (0, 0), "first", "eth0", 4)
    assert drain(pacer, 0.0) == [(0.5, "first"), (1.0, "second")]


def test_garps_and_nas_are_spaced_apart_each_by_its_own_interval() -> None:
    pacer = Pacer(plan_of((), 0.2, 0.05))
    assert pacer.request(0.0, (0, 0), "v4", "eth0", 4)
    assert pacer.request(0.0, (0, 1), "v6", "eth0", 6)  # the NA is not held by the GARP
    assert not pacer.request(0.01, (0, 0), "v4", "eth0", 4)
    assert not pacer.request(0.01, (0, 1), "v6", "eth0", 6)
    assert drain(pacer, 0.0) == [(0.05, "v6"), (0.2, "v4")]


def test_only_the_kind_that_has_an_interval_is_spaced() -> None:
    pacer = Pacer(plan_of((), None, 0.3))
    assert burst(pacer, 0.0, 3, ["v4"], family=4) == ["v4"] * 3
    assert burst(pacer, 0.0, 3, ["v6"], family=6) == ["v6"]


def test_a_request_after_the_free_time_goes_at_once_even_with_others_queued() -> None:
    pacer = Pacer(plan_of((), 0.1, None))
    assert pacer.request(0.0, (0, 0), "a", "eth0", 4)
    assert not pacer.request(0.0, (0, 1), "b", "eth0", 4)
    assert pacer.request(0.15, (1, 0), "late", "eth0", 4)  # the timer has not run yet: keepalived too
    assert drain(pacer, 0.15) == [(0.25, "b")]


def test_interfaces_without_a_group_each_have_their_own_spacing() -> None:
    pacer = Pacer(plan_of((), 0.1, None))
    assert pacer.request(0.0, (0, 0), "a", "eth0", 4)
    assert pacer.request(0.0, (1, 0), "b", "eth1", 4)


def test_a_group_of_interfaces_shares_one_spacing() -> None:
    plan = plan_of(((0.2, None, ("eth0", "eth1")),), None, None)
    pacer = Pacer(plan)
    assert pacer.request(0.0, (0, 0), "a", "eth0", 4)
    assert not pacer.request(0.0, (1, 0), "b", "eth1", 4)  # the switch behind both is busy
    assert pacer.request(0.0, (2, 0), "c", "eth2", 4)  # not in the group, no global interval
    assert drain(pacer, 0.0) == [(0.2, "b")]


def test_a_group_overrides_the_global_intervals_for_its_interfaces_kind_by_kind() -> None:
    """An interface in a group without gna_interval has no NA spacing, global one or not."""
    plan = plan_of(((0.2, None, ("eth0",)),), 1.0, 1.0)
    assert plan.spacing("eth0") == Spacing(0.2, None)
    assert plan.spacing("eth9") == Spacing(1.0, 1.0)
    pacer = Pacer(plan)
    assert burst(pacer, 0.0, 3, ["v6"], family=6) == ["v6"] * 3
    assert burst(pacer, 0.0, 3, ["v6"], ifname="eth9", family=6) == ["v6"]


def test_a_zero_interval_in_a_group_spaces_nothing() -> None:
    pacer = Pacer(plan_of(((0.0, None, ("eth0",)),), None, None))
    assert pacer.plan.active
    assert burst(pacer, 0.0, 3, ["a"]) == ["a"] * 3
