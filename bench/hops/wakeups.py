"""Wake-ups and advert gaps of N steady Masters on a simulated clock (issue 18, development tool).

`PYTHONPATH=<tree>/src:<tree> python3 bench/hops/wakeups.py --instances 1000 --interval 0.1`

The daemon's own Routers and PreciseTimers (whatever tree PYTHONPATH names: run it once per
tree to compare two branches), one VrrpSocket per instance over a fake wire, on an event loop
whose clock is a float this script moves. Nothing is measured on the machine's clock, so the
figures are the same on a loaded machine and a quiet one: they are the schedule's, under a
cost model:

- each wake-up runs `--wake-cost` µs late (the epoll/timerfd/asyncio path before the first
  callback), plus, with `--noise`, a seeded exponential lateness of that mean (µs);
- each advert sent moves the clock `--send-cost` µs (Python + the kernel's sendto);
- with `--stall`, once in every `--stall-every` s, at a seeded random time in it, one wake-up
  runs that many ms late besides (the loop busy elsewhere: a pass over every Master, a garbage
  collection, the process preempted);
- the instances come up `--spread` µs apart (start-up: config, sockets), all priority 200, so
  their master-down deadlines are that far apart too.

Printed: timer wake-ups per second, adverts per wake-up, and the advert gap − interval
(per instance, send times) as p50 / p99 / min / max in ms over a window after every instance
has been Master for a while (the bench's scale figure measures the same gaps on the wire), and
this process's CPU time per advert in the window (thread_time: the steady path's Python, timer
heap to the wire's sendto, which here is a Python stub, not the kernel's send; a CPU-time figure,
so it moves a little with the machine's load, unlike the others).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import ipaddress
import itertools
import random
import socket
import statistics
import time

from vipkeeper.config import loads
from vipkeeper.daemon.router import Router
from vipkeeper.daemon.runtime import params_of
from vipkeeper.net.vrrp_socket import VrrpSocket
from vipkeeper.precise_timers import PreciseTimers
from vipkeeper.vrrp.instance import Startup

SRC = ipaddress.IPv4Address("192.0.2.1")
GROUP = ipaddress.IPv4Address("224.0.0.18")
PER_LINK = 250


class _Accept:
    def add_now(self, vip: object) -> bool:
        return True

    def remove_now(self, vip: object) -> bool:
        return True


class _Wire:
    """One instance's wire: every send is stamped and costs `cost` seconds of the clock."""

    def __init__(self, clock: list[float], cost: float, sends: list[float], total: list[int]) -> None:
        self.clock, self.cost, self.sends, self.total = clock, cost, sends, total

    def sendto(self, data: bytes, address: object) -> int:
        self.sends.append(self.clock[0])
        self.total[0] += 1
        self.clock[0] += self.cost
        return len(data)


def config_text(n: int, interval: float) -> str:
    out = []
    for k in range(n):
        out.append(f"vrrp_instance VI_{k} {{\n interface eth{k // PER_LINK}\n virtual_router_id {k % PER_LINK + 1}\n"
                   f" priority 200\n advert_int {interval:g}\n version 3\n"
                   f" virtual_ipaddress {{\n  192.0.2.{k % PER_LINK + 2}/32\n }}\n}}")
    return "\n".join(out)


def run(n: int, interval: float, send_cost: float, wake_cost: float, noise: float, spread: float,
        settle: float, window: float, seed: int, stall: float = 0.0, stall_every: float = 1.0) -> dict:
    result: dict = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock = [1000.0]
        loop.time = lambda: clock[0]  # type: ignore[method-assign]
        timers = PreciseTimers(loop)
        parsed = loads(config_text(n, interval))
        sends: list[list[float]] = []
        total = [0]  # adverts sent by all instances
        routers = []
        for k, model in enumerate(parsed.instances):
            stamps: list[float] = []
            sends.append(stamps)
            sock = VrrpSocket(_Wire(clock, send_cost, stamps, total), f"eth{k // PER_LINK}", 2 + k // PER_LINK,  # type: ignore[arg-type]
                              socket.AF_INET, GROUP, SRC)
            routers.append(Router(model, params_of(model, parsed, SRC), sock, _Accept(), None,  # type: ignore[arg-type]
                                  lambda r, a: None, timers=timers))
        for r in routers:
            r.feed(Startup())
            clock[0] += spread
        start = clock[0]
        rng = random.Random(seed)
        wakeups: list[tuple[float, int]] = []  # (time, adverts sent)
        cpu0 = None  # this process's CPU time when the window began
        end = start + settle + window
        stalls = random.Random(seed + 1)  # when, in each period: not phase-locked with the adverts
        period = start
        next_stall = period + stalls.uniform(0, stall_every)
        while clock[0] < end:
            heap = timers._heap
            while heap and heap[0][-1].cancelled:
                heapq.heappop(heap)
            if not heap:
                break
            armed = heap[0][0]
            late = wake_cost + (rng.expovariate(1 / noise) if noise > 0 else 0.0)
            if stall > 0 and armed >= next_stall:
                late += stall
                period += stall_every
                next_stall = period + stalls.uniform(0, stall_every)
            clock[0] = max(clock[0], armed) + late
            before = total[0]
            timers._armed = armed
            timers._expired()
            if clock[0] >= start + settle:
                if cpu0 is None:
                    cpu0, total0 = time.thread_time(), total[0]
                wakeups.append((clock[0], total[0] - before))
        cpu = time.thread_time() - cpu0 if cpu0 is not None else 0.0
        lo = start + settle
        gaps = []
        for stamps in sends:
            inside = [t for t in stamps if lo <= t < end]
            gaps += [(b - a - interval) * 1000 for a, b in itertools.pairwise(inside)]
        gaps.sort()
        counts = [c for _, c in wakeups]
        result.update({
            "wakeups_per_s": len(wakeups) / window,
            "adverts_per_wakeup": statistics.mean(counts) if counts else 0.0,
            "max_batch": max(counts) if counts else 0,
            "gaps": len(gaps),
            "p50": gaps[len(gaps) // 2], "p99": gaps[int(len(gaps) * 0.99)], "min": gaps[0], "max": gaps[-1],
            "cpu_us_per_advert": cpu / max(1, total[0] - total0) * 1e6 if cpu0 is not None else 0.0,
            "masters": sum(1 for r in routers if r.state.name == "MASTER"),
        })
        timers.close()

    asyncio.run(main())
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--send-cost", type=float, default=10.0, help="µs per advert sent")
    ap.add_argument("--wake-cost", type=float, default=30.0, help="µs from the timer's expiry to the first callback")
    ap.add_argument("--noise", type=float, default=0.0, help="mean of a seeded exponential extra lateness per wake-up, µs")
    ap.add_argument("--stall", type=float, default=0.0, help="ms: one wake-up this late besides every --stall-every s")
    ap.add_argument("--stall-every", type=float, default=1.0)
    ap.add_argument("--spread", type=float, default=50.0, help="µs between two instances' start-up")
    ap.add_argument("--settle", type=float, default=None, help="s after start before the window (default 8 s + 3 intervals)")
    ap.add_argument("--window", type=float, default=None, help="s (default 20 at advert_int >= 1, else 6)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    settle = a.settle if a.settle is not None else 8.0 + 3 * a.interval
    window = a.window if a.window is not None else (20.0 if a.interval >= 1 else 6.0)
    r = run(a.instances, a.interval, a.send_cost * 1e-6, a.wake_cost * 1e-6, a.noise * 1e-6, a.spread * 1e-6,
            settle, window, a.seed, a.stall * 1e-3, a.stall_every)
    print(f"n={a.instances} advert_int {a.interval:g} send {a.send_cost:g} us wake {a.wake_cost:g} us "
          f"noise {a.noise:g} us stall {a.stall:g} ms/{a.stall_every:g} s spread {a.spread:g} us: {r['masters']} Master, "
          f"{r['wakeups_per_s']:.1f} wake-ups/s, {r['adverts_per_wakeup']:.1f} adverts per wake-up "
          f"(max {r['max_batch']}), gap - interval ms over {r['gaps']} gaps: p50 {r['p50']:.3f} "
          f"p99 {r['p99']:.3f} min {r['min']:.3f} max {r['max']:.3f}; this process's CPU "
          f"{r['cpu_us_per_advert']:.2f} us per advert (the shell's Python, a fake wire: no kernel send)")


if __name__ == "__main__":
    main()
