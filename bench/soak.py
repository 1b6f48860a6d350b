"""Soak: many instances at a short advert interval with a flapping tracked process, for minutes.

`python3 -m bench.soak [--minutes 30] [--instances 100] [--interval 0.1] [--flap 2] [--sample 10]`

One daemon (alone, priority 200) in namespace `a`, linked to namespace `p` by one veth pair;
every instance tracks one process (`vrrp_track_process`, weight 0: absent means FAULT), so each
flap takes every instance FAULT -> MASTER and back: VIPs deleted and re-added, notifies of state,
adverts started and stopped, process-connector events. The tracked process (a renamed copy of
/bin/sleep) is killed and restarted every --flap seconds. Every --sample seconds the soak reads
the daemon's RSS (VmRSS, all its processes) and open fd count (/proc/PID/fd). At the end it
prints first/last/max of both and a least-squares slope per minute over the second half (after
warm-up), and says whether they are flat: the second half's largest fd count at most one above
the first half's, RSS slope under --rss-slope KiB/min. It exits by itself after --minutes; the exit code is 0 when flat and
the daemon is still running, 1 otherwise. Samples go to --csv when given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass

from bench.daemons import IMPLS, Config, Instance, rss_kib
from bench.lab import Tracked, wait_until
from vipkeeper.lab.topology import Topology


@dataclass
class Sample:
    t: float  # seconds since the daemon was up
    rss_kib: int
    fds: int


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope dy/dx of (x, y) points; 0.0 with fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def summarise(samples: list[Sample], rss_slope_limit: float) -> dict:
    """First/last/max of RSS and fds, and the slopes (per minute) over the second half of the run."""
    if not samples:
        return {"samples": 0, "flat": False}
    half = samples[len(samples) // 2:]
    rss_per_min = slope([(s.t / 60, s.rss_kib) for s in half])
    fd_per_min = slope([(s.t / 60, s.fds) for s in half])
    # fds move by a transient one or two (a pidfd, a netlink request); a leak grows with the flaps
    first = samples[: len(samples) // 2] or samples
    fds_flat = max(s.fds for s in half) <= max(s.fds for s in first) + 1
    return {
        "samples": len(samples),
        "minutes": round(samples[-1].t / 60, 2),
        "rss_kib": {"first": samples[0].rss_kib, "last": samples[-1].rss_kib,
                    "max": max(s.rss_kib for s in samples), "slope_per_min_2nd_half": round(rss_per_min, 1)},
        "fds": {"first": samples[0].fds, "last": samples[-1].fds, "max": max(s.fds for s in samples),
                "slope_per_min_2nd_half": round(fd_per_min, 3)},
        "flat": fds_flat and rss_per_min < rss_slope_limit,
    }


def fd_count(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return total


def config(instances: int, interval: float) -> Config:
    insts = []
    for k in range(instances):
        vip = f"198.51.100.{k + 1}/32" if k < 250 else f"2001:db8:5::{k:x}/128"
        insts.append(Instance(f"VI_{k}", "vk0", k + 1, 200, interval, 3, [vip], track="soak_proc"))
    return Config(insts, tracked={"soak_proc": ("vksoakproc", 0)}, router_id="soak")


def run(impl: str, minutes: float, instances: int, interval: float, flap: float, every: float,
        rss_slope_limit: float, csv: str | None, workdir: str) -> tuple[dict, list[Sample]]:
    topo = Topology()
    tracked = Tracked(workdir, "vksoakproc")
    daemon = None
    samples: list[Sample] = []
    flaps = 0
    try:
        a = topo.add_namespace("a")
        p = topo.add_namespace("p")
        topo.run(a, ["ip", "link", "add", "name", "vk0", "type", "veth", "peer", "name", "vp0", "netns", p])
        topo.run(a, ["ip", "addr", "add", "192.0.2.250/32", "dev", "vk0"])
        topo.run(a, ["ip", "link", "set", "vk0", "up"])
        topo.run(p, ["ip", "link", "set", "vp0", "up"])
        tracked.start()
        daemon = IMPLS[impl](a, config(instances, interval), workdir, "soak")
        daemon.start()
        if not wait_until(lambda: sum("Entering MASTER STATE" in ln for ln in daemon.log_lines()) >= instances,
                          30 + instances * 0.1, 0.5):
            raise RuntimeError("not every instance became Master")
        t0 = time.monotonic()
        end = t0 + minutes * 60
        next_flap = t0 + flap
        next_sample = t0
        up = True
        out = open(csv, "w") if csv else None
        try:
            if out:
                out.write("t_s,rss_kib,fds\n")
            while time.monotonic() < end and daemon.running:
                now = time.monotonic()
                if now >= next_sample:
                    pids = daemon.pids()
                    s = Sample(now - t0, sum(rss_kib(p) for p in pids), fd_count(pids))
                    samples.append(s)
                    if out:
                        out.write(f"{s.t:.1f},{s.rss_kib},{s.fds}\n")
                        out.flush()
                    print(f"soak {s.t / 60:6.2f} min  rss {s.rss_kib} KiB  fds {s.fds}  flaps {flaps}",
                          file=sys.stderr, flush=True)
                    next_sample += every
                if now >= next_flap:
                    if up:
                        tracked.kill()
                        tracked.reap()
                    else:
                        tracked.start()
                    up = not up
                    flaps += 1
                    next_flap += flap
                time.sleep(max(0.0, min(next_flap, next_sample) - time.monotonic()))
        finally:
            if out:
                out.close()
        summary = summarise(samples, rss_slope_limit)
        summary.update(impl=impl, instances=instances, advert_int=interval, flap_s=flap, flaps=flaps,
                       daemon_running=daemon.running,
                       fault_entries=sum("Entering FAULT STATE" in ln for ln in daemon.log_lines()),
                       master_entries=sum("Entering MASTER STATE" in ln for ln in daemon.log_lines()))
        summary["flat"] = summary["flat"] and daemon.running
        return summary, samples
    finally:
        tracked.reap()
        if daemon is not None:
            daemon.stop()
        topo.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench.soak", description=__doc__.splitlines()[0])
    ap.add_argument("--impl", choices=sorted(IMPLS), default="vipkeeper")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--interval", type=float, default=0.1, help="advert_int")
    ap.add_argument("--flap", type=float, default=2.0, help="seconds between kill and restart of the tracked process")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between RSS/fd samples")
    ap.add_argument("--rss-slope", type=float, default=64.0, help="flat: RSS slope under this many KiB/min")
    ap.add_argument("--csv", help="write every sample here")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        ap.error("the soak needs root (network namespaces, raw sockets)")
    if not 1 <= args.instances <= 255:
        ap.error("--instances must be 1..255 (one VRID each on one link)")
    with tempfile.TemporaryDirectory(prefix="vksoak-") as workdir:
        try:
            summary, _ = run(args.impl, args.minutes, args.instances, args.interval, args.flap, args.sample,
                             args.rss_slope, args.csv, workdir)
        except RuntimeError as e:
            print(f"soak: {e}", file=sys.stderr)
            return 1
    print(json.dumps(summary, indent=2))
    return 0 if summary["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
