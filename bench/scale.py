"""Figure 5: scale -- 1, 255 and 1,000 instances at advert_int 1 and 0.1.

One daemon (priority 200, alone, so every instance becomes Master and sends adverts) in node
namespace `a`, linked to a capture namespace `p` by ceil(n/250) veth pairs; VRIDs 1..250 per
link. Instances 0..499 are IPv4 (VIPs from 198.51.100.0/24 and 192.0.2.0/24, /32 each),
the rest IPv6 (2001:db8:5::/64): the documentation ranges hold only ~500 IPv4 VIPs. All VRRPv3.
Once the log shows every instance `Entering MASTER STATE`, the bench reads the daemon's CPU
before/after a capture window, its RSS at the end, and a FrameCapture (vipkeeper.lab.watch) on
every interface of `p` keeps the kernel's receive timestamp of every advert. Jitter = gap between consecutive adverts of one instance
minus the interval (a late advert is positive; a missing one shows up as about +1 interval).
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import time

from bench.daemons import IMPLS, Config, Instance, compile_as_installed
from bench.report import Table
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import FrameCapture, is_vrrp_or_arp

PER_LINK = 250


def vip(k: int) -> tuple[str, int]:
    """VIP text and IP version of instance k."""
    if k < 254:
        return f"198.51.100.{k + 1}/32", 4
    if k < 500:
        return f"192.0.2.{k - 253}/32", 4
    return f"2001:db8:5::{k:x}/128", 6


def build(topo: Topology, links: int) -> tuple[str, str]:
    a = topo.add_namespace("a")
    p = topo.add_namespace("p")
    for i in range(links):
        subprocess.run(["ip", "link", "add", "name", f"vk{i}", "netns", a, "type", "veth", "peer", "name", f"vp{i}",
                        "netns", p], check=True, capture_output=True)
        topo.run(a, ["ip", "addr", "add", f"192.0.2.{250 + i}/32", "dev", f"vk{i}"])
        topo.run(a, ["ip", "link", "set", f"vk{i}", "up"])
        topo.run(p, ["ip", "link", "set", f"vp{i}", "up"])
    return a, p


def jitters(dump: dict[str, list[float]], interval: float) -> tuple[list[float], int]:
    out: list[float] = []
    for stamps in dump.values():
        stamps.sort()
        out += [((b - a) - interval) * 1000 for a, b in itertools.pairwise(stamps)]
    return out, len(dump)


def one(impl: str, n: int, interval: float, window: float, workdir: str) -> dict:
    links = max(1, math.ceil(n / PER_LINK))
    topo = Topology()
    daemon = None
    try:
        a, p = build(topo, links)
        instances = []
        for k in range(n):
            address, _family = vip(k)
            instances.append(Instance(f"VI_{k}", f"vk{k // PER_LINK}", k % PER_LINK + 1, 200, interval, 3, [address]))
        work = os.path.join(workdir, f"scale-{impl}-{n}-{interval:g}")
        os.makedirs(work, exist_ok=True)
        daemon = IMPLS[impl](a, Config(instances, router_id="scale"), work, "a")
        masters, all_master_s = start_all_master(daemon, n, 30 + n * 0.05)
        if not daemon.running:
            tail = " | ".join(daemon.log_lines()[-3:])
            return {"error": f"daemon exited: {tail}"}
        # vipkeeper's lag record before the settling time: a status request runs on the daemon's
        # loop, so it must not fall into the window
        loop0 = loop_of(daemon)
        time.sleep(2 * interval + 0.5)
        cpu0, w0 = daemon.cpu(), time.monotonic()
        with FrameCapture(p, None, keep=is_vrrp_or_arp, rcvbuf=8 << 20) as capture:
            time.sleep(window)  # the measurement window itself, not a wait for an event
        cpu1, w1 = daemon.cpu(), time.monotonic()
        rss = daemon.rss()
        loop1 = loop_of(daemon)
        captured: dict[str, list[float]] = {}
        for frame, adv in capture.adverts():
            captured.setdefault(f"{adv.source} {adv.advertisement.vrid}", []).append(frame.time)
        jit, seen = jitters(captured, interval)
        return {"cpu_pct": (cpu1 - cpu0) / (w1 - w0) * 100, "rss_mib": rss / 1024, "jitter_ms": jit, "seen": seen,
                "masters": masters, "all_master_s": all_master_s, "running": daemon.running,
                "lag": lag_over(loop0, loop1)}
    finally:
        if daemon is not None:
            daemon.stop(timeout=15)
        topo.close()


def start_all_master(daemon, n: int, timeout: float, poll: float = 0.5) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Start `daemon` and wait (bounded by `timeout`) until its log shows `n` instances
    `Entering MASTER STATE` or it exits: (instances Master, seconds from start)."""
    t_start = time.time()
    daemon.start()
    deadline = time.monotonic() + timeout
    masters = 0
    while time.monotonic() < deadline and daemon.running:
        masters = sum(1 for line in daemon.log_lines() if "Entering MASTER STATE" in line)
        if masters >= n:
            break
        time.sleep(poll)
    return masters, time.time() - t_start


def loop_of(daemon) -> dict | None:  # type: ignore[no-untyped-def]
    """vipkeeper's own record of how late its loop ran the timers (status daemon.loop)."""
    status = daemon.status() if hasattr(daemon, "status") else None
    return (status or {}).get("daemon", {}).get("loop")


def lag_over(before: dict | None, after: dict | None) -> dict | None:
    """Timer lag over settling time and window from two cumulative histograms: p99 as the upper bound of the
    bucket that holds it, and the largest lag if it grew in the window (else "<= " the old one)."""
    if not before or not after:
        return None
    count = after["count"] - before["count"]
    if count <= 0:
        return None
    old = dict((le, n) for le, n in before["buckets"])
    p99 = None
    for le, n in after["buckets"]:
        if (n - old.get(le, 0)) >= 0.99 * count:
            p99 = le * 1000
            break
    return {"wakeups": count, "p99_le_ms": p99, "max_ms": after["max"] * 1000,
            "late": after["late"] - before["late"]}


def figure5(workdir: str, quick: bool, runs: int | None = None, sizes: tuple[int, ...] = (1, 255, 1000),
            intervals: tuple[float, ...] = (1.0, 0.1)) -> Table:
    """`runs` per row (default 1), vipkeeper and keepalived alternating run by run; `sizes` and
    `intervals` pick a subset of the rows (`--instances 1000 --intervals 0.1` while iterating)."""
    # Bytecode, as the installed package has it, as figure 6 does: without it (PYTHONDONTWRITEBYTECODE,
    # a fresh clone) each start compiles every module, and the compiler's garbage stays in the heap:
    # 1 instance 22.2 -> 20.4 MiB of RSS with it (/usr/bin/python3).
    package_note = compile_as_installed(workdir)
    table = Table("fig5-scale", "n instances, alone (all Master): CPU %, RSS, advert jitter", "see row", p99=True)
    table.notes.append(package_note)
    impls = ("vipkeeper", "keepalived")
    for n in sizes:
        for interval in intervals:
            window = (5 if interval == 1.0 else 3) if quick else (20 if interval == 1.0 else 10)
            if n == 1000 and interval == 0.1:
                window = 3 if quick else 6
            row = f"n={n} adv {interval:g}"
            cpu: dict[str, list[float | None]] = {i: [] for i in impls}
            rss: dict[str, list[float | None]] = {i: [] for i in impls}
            jit: dict[str, list[float]] = {i: [] for i in impls}
            seen: dict[str, list[int]] = {i: [] for i in impls}
            for run in range(runs or 1):
                for impl in impls if run % 2 == 0 else impls[::-1]:
                    print(f"fig5: {impl} n={n} advert_int {interval:g} window {window}s run {run + 1}",
                          file=sys.stderr, flush=True)
                    r = one(impl, n, interval, window, workdir)
                    if "error" in r:
                        cpu[impl].append(None)
                        rss[impl].append(None)
                        table.notes.append(f"{impl} {row} run {run + 1}: {r['error']}")
                        continue
                    cpu[impl].append(r["cpu_pct"])
                    rss[impl].append(r["rss_mib"])
                    jit[impl] += r["jitter_ms"]
                    seen[impl].append(r["seen"])
                    if r.get("lag"):
                        lag = r["lag"]
                        table.notes.append(f"{impl} {row} run {run + 1}: timer lag in the window, {lag['wakeups']} "
                                           f"wake-ups: p99 <= {lag['p99_le_ms']} ms (histogram bucket), max since "
                                           f"start {lag['max_ms']:.1f} ms, {lag['late']} late (> advert_int/10)")
                    if r["seen"] < n or r["masters"] < n:
                        table.notes.append(f"{impl} {row} run {run + 1}: {r['masters']} instances logged MASTER, "
                                           f"adverts seen from {r['seen']}")
                    table.notes.append(f"{impl} {row} run {run + 1}: all Master {r['all_master_s']:.1f}s after start")
            for impl in impls:
                table.add(f"{row} CPU %", impl, cpu[impl])
            for impl in impls:
                table.add(f"{row} RSS MiB", impl, rss[impl])
            for impl in impls:
                table.add(f"{row} jitter ms", impl, jit[impl] or [None], seen=seen[impl])
    table.notes.append("CPU % of one core over the capture window; jitter = advert gap - interval, all instances "
                       "(and runs) pooled; n = runs for CPU and RSS, gaps for jitter")
    return table
