"""Figure 7: advert jitter under a CPU hog, with and without real-time scheduling.

Ten VRRPv3 instances at advert_int 0.1 (all Master, alone) in node namespace `a`, linked to a
capture namespace `p` as in figure 5. Both daemons are pinned to CPU 0 (`vrrp_cpu_affinity 0`)
and two busy-looping processes pinned to CPU 0 compete with them for it. Rows: each daemon
without real-time settings, and with `vrrp_rt_priority 50` + `vrrp_no_swap` (SCHED_RR: it
preempts the hogs whenever an advert is due). Jitter = gap between consecutive adverts of one
instance minus the interval, from the kernel's receive timestamps in `p` (late is positive).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.daemons import IMPLS, Config, Instance
from bench.report import Table
from bench.scale import build, jitters
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import FrameCapture, is_vrrp_or_arp

HOG = "import os\nos.sched_setaffinity(0, {0})\nwhile True:\n    pass\n"
N, INTERVAL = 10, 0.1
SETTINGS = {"plain": ["vrrp_cpu_affinity 0"],
            "rt 50 + no_swap": ["vrrp_cpu_affinity 0", "vrrp_rt_priority 50", "vrrp_no_swap"]}


def one(impl: str, settings: list[str], window: float, workdir: str) -> dict:
    topo = Topology()
    daemon = None
    hogs: list[subprocess.Popen] = []
    try:
        a, p = build(topo, 1)
        instances = [Instance(f"VI_{k}", "vk0", k + 1, 200, INTERVAL, 3, [f"198.51.100.{k + 1}/32"]) for k in range(N)]
        work = os.path.join(workdir, f"rt-{impl}-{len(settings)}")
        os.makedirs(work, exist_ok=True)
        daemon = IMPLS[impl](a, Config(instances, router_id="rt", globals_extra=settings), work, "a")
        daemon.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and daemon.running:
            if sum(1 for line in daemon.log_lines() if "Entering MASTER STATE" in line) >= N:
                break
            time.sleep(0.2)
        if not daemon.running:
            return {"error": " | ".join(daemon.log_lines()[-3:])}
        hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(2)]
        time.sleep(1.0)  # the hogs settle on CPU 0
        with FrameCapture(p, None, keep=is_vrrp_or_arp, rcvbuf=8 << 20) as capture:
            time.sleep(window)  # the measurement window itself, not a wait for an event
        captured: dict[str, list[float]] = {}
        for frame, adv in capture.adverts():
            captured.setdefault(f"{adv.source} {adv.advertisement.vrid}", []).append(frame.time)
        jit, seen = jitters(captured, INTERVAL)
        return {"jitter_ms": jit, "seen": seen}
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        if daemon is not None:
            daemon.stop(timeout=15)
        topo.close()


def figure7(workdir: str, quick: bool) -> Table:
    table = Table("fig7-realtime", "advert jitter (ms) at advert_int 0.1 with two CPU hogs on the daemon's CPU",
                  "see row", p99=True)
    window = 5 if quick else 30
    for label, settings in SETTINGS.items():
        for impl in ("vipkeeper", "keepalived"):
            print(f"fig7: {impl} {label} window {window}s", file=sys.stderr, flush=True)
            r = one(impl, settings, window, workdir)
            if "error" in r:
                table.add(f"{label} jitter ms", impl, [None])
                table.notes.append(f"{impl} {label}: {r['error']}")
                continue
            table.add(f"{label} jitter ms", impl, r["jitter_ms"], seen=r["seen"])
    table.notes.append("both daemons pinned to CPU 0 with two busy loops; jitter = advert gap - interval, "
                       "10 instances pooled")
    return table
