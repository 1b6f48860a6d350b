"""A steady Master's advert times: a fixed-rate schedule on a grid every instance shares.

Rule: a steady Master (vrrp/instance.py `steady()`) sends at t_k = t_0 + k * interval, where
t_0 is the first deadline the core gave, moved *earlier* to the nearest point of a grid that
every instance with that interval shares (`grid_slots(interval)` points per interval, so a step
of interval / slots: a 50th of the interval, at most 5 ms). Snapping only ever shortens one
gap, by less than a step; no gap is ever planned longer than the interval, so no Backup's
master-down timer (three intervals and a skew) can run out because of it (RFC 3768/5798: a
Backup restarts its timer on every advert; an early one only restarts it sooner).

Why: a wake-up of the daemon costs about as much as a dozen adverts (issue 18). Instances whose
deadlines fall on the same grid point are due at the very same time and go out in one wake-up,
none of them early, in the same order every round (the timer heap keeps the order they were
queued in), so each one's lateness within the batch is the same every round and its gaps stay
at the interval. The number of wake-ups is at most the number of grid points in use, whatever
the number of instances.

How: times are grid indices (an integer `index`; the deadline is index * step, so instances
on one point compute the very same float). The next deadline is the previous
*deadline* plus one interval, not the time the send happened: a late send is followed by a
correspondingly shorter gap, never drift off the grid. A loop that ran more than an interval
late skips the deadlines already past (no burst of catch-up adverts) and keeps the phase.

Pure: times come in as arguments; no clock, no timers.
"""

from __future__ import annotations

import math

GRID_SLOTS = 50  # grid points per interval ...
GRID_STEP_MAX = 0.005  # ... but a step of at most this (s): more points for long intervals, so
# that a grid point's batch stays small (at 1,000 instances and advert_int 1, a 100 ms step put
# ~250 adverts in one burst: the burst's own spread on the wire, ~2.5 ms, showed as gap jitter;
# a 20 ms step still put ~80-100 in one, at advert_int 1 and 0.1: every advert waits for those
# ahead of it in its batch, and whatever stretches a batch (the process preempted, the CPU
# shared) was most of the gaps' 1 % tail, bench/hops/advert_tail.py. A wake-up per grid point
# in use costs ~40 us: at 0.1 and 25 points, 250 a second at most. 50 points at 0.1 (a 2 ms
# step, 500 wake-ups a second at most): the gap p99 at 1,000 instances, 0.30 ms with 25 points,
# was 0.27 ms for keepalived in the same 20-run pass; bench/README.md, sixth pass)
# A deadline this close (in steps) below a grid point counts as on it: a deadline handed back
# from a schedule (float arithmetic) must land on its own point, not the one before. (So a
# deadline may move *later* by up to a millionth of a step, 0.1 us at most: float rounding.)
_ON_POINT = 1e-6


def grid_slots(interval: float) -> int:
    """Grid points per interval: 50 (a step of a 50th of the interval) up to a 0.25 s interval,
    then one every 5 ms or a little less (always a whole number per interval, so every
    deadline of the schedule is a grid point)."""
    return max(GRID_SLOTS, math.ceil(interval / GRID_STEP_MAX - _ON_POINT))


def grid_step(interval: float) -> float:
    return interval / grid_slots(interval)


class AdvertSchedule:
    """One steady Master's deadlines, from the first (`first`, as the core gave it); `at` is
    the next one."""

    __slots__ = ("interval", "slots", "step", "index", "at")

    def __init__(self, first: float, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"advert interval must be positive, not {interval!r}")
        self.interval = interval
        self.slots = slots = grid_slots(interval)
        self.step = step = interval / slots
        self.index = index = math.floor(first / step + _ON_POINT)
        self.at = index * step

    def advance(self, now: float) -> float:
        """The advert due at `at` went (at `now`): the next deadline, one interval after the
        last, or the first one on the schedule after `now` if the loop ran an interval late."""
        index = self.index + self.slots
        at = index * self.step
        if at <= now:
            index += self.slots * (math.floor((now - at) / self.interval) + 1)
            at = index * self.step
        self.index = index
        self.at = at
        return at
