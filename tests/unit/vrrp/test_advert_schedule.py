"""The steady Master's advert schedule (vrrp/advert_schedule.py): the first deadline moved
earlier onto a grid every instance shares, then a fixed rate. A fake clock (plain floats)."""

from __future__ import annotations

import itertools
import random

import pytest

from vipkeeper.vrrp.advert_schedule import AdvertSchedule, grid_slots, grid_step


def test_the_grid_is_a_50th_of_the_interval_at_most_5_ms_and_divides_it() -> None:
    assert grid_step(1.0) == pytest.approx(0.005) and grid_step(0.1) == pytest.approx(0.002)
    assert grid_step(0.25) == pytest.approx(0.005) and grid_step(3.0) == pytest.approx(0.005)
    assert grid_slots(0.2) == 50 and grid_step(0.2) == pytest.approx(0.004)
    assert grid_slots(0.37) == 74 and grid_step(0.37) == pytest.approx(0.005)
    assert grid_slots(0.26) == 52 and grid_step(0.26) == pytest.approx(0.005)
    assert grid_slots(0.2468) == 50 and grid_step(0.2468) < 0.005  # a whole number of points per interval
    for cs in range(1, 4096, 7):  # every VRRPv3 interval in centiseconds (and v2's whole seconds)
        interval = cs / 100
        assert grid_slots(interval) >= 50 and grid_step(interval) <= 0.005 + 1e-12


def test_the_first_deadline_moves_earlier_onto_the_grid_by_less_than_a_step() -> None:
    rng = random.Random(18)
    for interval in (1.0, 0.1, 0.37, 2.0, 1.55):
        step = grid_step(interval)
        for _ in range(500):
            first = rng.uniform(1.0, 50_000.0)
            s = AdvertSchedule(first, interval)
            assert first - step < s.at <= first + 1e-9  # earlier (never later), by less than a step
            assert abs(s.at / step - round(s.at / step)) < 1e-6  # on a grid point


def test_instances_whose_deadlines_share_a_grid_point_are_due_at_the_same_instant() -> None:
    """Two Masters that came up 3 ms apart (same step) and one that came up an interval and
    a half later: the first two are due at the very same float every round, the third on
    the same grid every round."""
    a, b = AdvertSchedule(1000.511, 1.0), AdvertSchedule(1000.514, 1.0)
    c = AdvertSchedule(1001.513, 1.0)
    assert a.at == b.at == 1000.51 and c.at == pytest.approx(1001.51)
    for _ in range(1000):
        now = a.at + 0.0003  # sent a little late
        assert a.advance(now) == b.advance(now + 0.0001)
        if c.at <= now:
            c.advance(now)
        assert c.at == a.at or c.at == a.at + 1.0


def test_a_deadline_on_the_grid_stays_where_it_is() -> None:
    """The deadline handed back to the core (`resume_steady`) and given again by `steady()`
    after an event (a priority change, a lower-priority advert the Master ignores) keeps the
    phase: the same point, never the one before."""
    s = AdvertSchedule(12_345.678, 0.1)
    for _ in range(2000):
        again = AdvertSchedule(s.at, 0.1)
        assert again.at == s.at and again.index == s.index
        s.advance(s.at)


def test_fixed_rate_a_late_send_is_followed_by_a_shorter_gap_never_drift() -> None:
    s = AdvertSchedule(100.0, 1.0)
    assert s.at == 100.0
    lateness = [0.0, 0.0004, 0.02, 0.0, 0.3, 0.0, 0.0, 0.9, 0.001]
    sent = []
    for late in lateness:
        due = s.at
        sent.append(due + late)
        s.advance(due + late)
    assert [round(b - a, 9) for a, b in itertools.pairwise(sent)] == [
        round(1.0 + late_b - late_a, 9) for late_a, late_b in itertools.pairwise(lateness)]
    assert s.at == 100.0 + len(lateness)  # no drift: the deadlines are the grid's, whatever the sends did


def test_a_loop_more_than_an_interval_late_skips_what_is_past_and_keeps_the_phase() -> None:
    s = AdvertSchedule(200.0, 0.1)
    s.advance(200.0)
    assert s.at == pytest.approx(200.1)
    at = s.advance(200.1 + 0.35)  # the loop stalled 350 ms: 200.2, 200.3 and 200.4 are past
    assert at == pytest.approx(200.5) and at > 200.45
    assert s.advance(at) == pytest.approx(200.6)


def test_no_gap_between_deadlines_is_longer_than_the_interval_by_design() -> None:
    """Whatever the core gives as first deadline (an interval after the transition advert, or
    after an advert sent at once for a priority-0 advert) and however late the sends, the
    planned gap from the previous advert to the next deadline never exceeds the interval."""
    rng = random.Random(5798)
    for interval in (1.0, 0.1, 0.37, 3.0):
        now = rng.uniform(0, 10_000.0)
        for _ in range(200):
            last_sent = now  # an advert the core sent now (a transition); the core's next is now + interval
            s = AdvertSchedule(now + interval, interval)
            assert s.at - last_sent <= interval + 1e-9
            for _ in range(rng.randrange(1, 20)):
                now = s.at + rng.choice((0.0, 0.0, rng.uniform(0, interval * 2.5)))
                assert s.at - last_sent <= interval + 1e-9
                last_sent = now
                s.advance(now)
                assert now < s.at and s.at - last_sent <= interval + 1e-9
            now += rng.uniform(0, interval)


def test_a_non_positive_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        AdvertSchedule(1.0, 0.0)
