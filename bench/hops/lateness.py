"""How late timer callbacks run on an asyncio loop, three ways, interleaved (issue 18).

    PYTHONPATH=$PWD/src:$PWD python3 bench/hops/lateness.py [--rounds 6] [--timers 100]

A development tool beside bench/hops: the failover's Backup waits Skew_Time from the priority-0
advert's arrival, and whatever its timer callback runs after the deadline is failover time. Each
mode runs `--timers` one-shot timers in a row, each due 5-25 ms (random) after the previous one
ran, and records lateness = loop.time() when the callback ran - the time it was due. Modes rotate
block by block (`--rounds` blocks each), so all see the same machine load:

- asyncio: `loop.call_at` (epoll_wait's timeout is whole milliseconds, rounded up);
- timerfd: vipkeeper's `PreciseTimers` (a CLOCK_MONOTONIC timerfd, TFD_TIMER_ABSTIME);
- early+sleep: `loop.call_at` 1 ms early, then `time.sleep` of the remainder in the callback
  (no ctypes, no fd; blocks the loop for the remainder).

Prints min / median / p90 / p99 / max lateness in µs per mode, and the loop time the early+sleep
mode spent blocked in its sleeps. On a loaded host the figures carry the load's scheduling
latency; only the comparison within one run means anything.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from vipkeeper.precise_timers import PreciseTimers

EARLY = 0.001


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def block(mode: str, count: int, rng: random.Random, timers: PreciseTimers,
                out: list[float], slept: list[float]) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    left = [count]

    def schedule() -> None:
        when = loop.time() + rng.uniform(0.005, 0.025)
        if mode == "asyncio":
            loop.call_at(when, fired, when)
        elif mode == "timerfd":
            timers.call_at(when, fired, when)
        else:
            loop.call_at(when - EARLY, early, when)

    def early(when: float) -> None:
        rest = when - loop.time()
        if rest > 0:
            t = time.monotonic()
            time.sleep(rest)
            slept.append(time.monotonic() - t)
        fired(when)

    def fired(when: float) -> None:
        out.append(loop.time() - when)
        left[0] -= 1
        if left[0] == 0:
            done.set_result(None)
        else:
            schedule()

    schedule()
    await done


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--timers", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    loop = asyncio.get_running_loop()
    timers = PreciseTimers(loop)
    assert timers.precise, "no timerfd here"
    modes = ["asyncio", "timerfd", "early+sleep"]
    results: dict[str, list[float]] = {m: [] for m in modes}
    slept: list[float] = []
    for r in range(args.rounds):
        order = modes[r % 3:] + modes[: r % 3]
        for mode in order:
            await block(mode, args.timers, rng, timers, results[mode], slept)
    print(f"timer lateness, µs (callback ran - due), {args.rounds} interleaved blocks of {args.timers} per mode")
    print(f"{'mode':12s} {'n':>5s} {'min':>8s} {'median':>8s} {'p90':>8s} {'p99':>8s} {'max':>8s} {'early':>6s}")
    for mode in modes:
        v = [x * 1e6 for x in results[mode]]
        early = sum(1 for x in v if x < 0)
        print(f"{mode:12s} {len(v):5d} {min(v):8.1f} {pct(v, .5):8.1f} {pct(v, .9):8.1f} {pct(v, .99):8.1f} {max(v):8.1f} {early:6d}")
    if slept:
        print(f"early+sleep blocked the loop: median {pct(slept, .5) * 1e6:.1f} µs, max {max(slept) * 1e6:.1f} µs per timer")


if __name__ == "__main__":
    asyncio.run(main())
