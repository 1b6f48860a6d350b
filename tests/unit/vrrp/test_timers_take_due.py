"""vrrp/instance.py's Timers.take_due: the earliest due timer, ties to the first name in
alphabetical order, cleared - exactly what the core's earlier `min((at, name) for due timers)`
picked (issue 18: it now reads slot by slot, on every timer's wake-up)."""

from __future__ import annotations

import random

from vipkeeper.vrrp.instance import TIMER_NAMES, Timers


def _reference(timers: dict[str, float], now: float) -> str | None:
    due = [(at, name) for name, at in timers.items() if at <= now]
    return min(due)[1] if due else None


def test_take_due_picks_and_clears_what_min_over_the_due_timers_picked() -> None:
    rng = random.Random(18)
    for _ in range(5000):
        values = {name: float(rng.choice((1, 2, 3, 4))) for name in TIMER_NAMES if rng.random() < 0.6}
        now = float(rng.choice((0, 1, 2, 3, 4, 5)))
        timers = Timers()
        for name, at in values.items():
            timers[name] = at
        expected = dict(values)
        while True:
            want = _reference(expected, now)
            got = timers.take_due(now)
            assert got == want, (values, now)
            if got is None:
                break
            del expected[got]
            assert dict(timers.items()) == expected


def test_nothing_due_leaves_every_timer() -> None:
    timers = Timers()
    timers["down"] = 10.0
    timers["advert"] = 10.0
    assert timers.take_due(9.999) is None
    assert dict(timers.items()) == {"down": 10.0, "advert": 10.0}
    assert timers.take_due(10.0) == "advert" and timers.take_due(10.0) == "down" and not timers
