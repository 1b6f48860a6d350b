"""Figure 4: churn cost -- daemon CPU per 100,000 process events, and spurious transitions.

One node per daemon; it tracks a long-running process (weight 0: any quorum flip would be a
FAULT). Per run the daemon is started alone (so the two never compete for the cores or see each
other's load), settles, and then bench/native.py's spawner forks+execs N short-lived processes
of the tracked name and N of another name, each reaped before the next. The kernel reports
fork, exec and exit for each: 3 x 2N events. CPU = utime+stime of the daemon's processes from
/proc, read before the spawn and after the daemon has drained its backlog (its CPU stops
growing). Spurious transitions = notify_fifo lines plus `Entering`/`Quorum` log lines during
the window; with no quorum flip possible (the long-running process never exits) any is wrong.
Every other process started on this shared machine in the window is seen too (noise).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.daemons import IMPLS, Config, Daemon, Instance
from bench.lab import Tracked
from bench.native import Programs, named_copy
from bench.report import Table
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import FifoWatch

EVENTS_PER_PROCESS = 3  # fork, exec, exit


def drained(daemon: Daemon, timeout: float = 30.0) -> float:
    """CPU seconds once the daemon's CPU stops growing (backlog processed)."""
    deadline = time.monotonic() + timeout
    last = daemon.cpu()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = daemon.cpu()
        if now - last < 0.01:
            return now
        last = now
    return daemon.cpu()


def figure4(runs: int, workdir: str, programs: Programs, processes: int) -> Table:
    table = Table("fig4-churn", f"{processes} short-lived processes of the tracked name + {processes} others", "CPU-s / 100k events")
    work = os.path.join(workdir, "churn")
    os.makedirs(work, exist_ok=True)
    topo = Topology()
    tracked: Tracked | None = None
    watch: FifoWatch | None = None
    cpu: dict[str, list] = {"vipkeeper": [], "keepalived": []}
    spurious: dict[str, list] = {"vipkeeper": [], "keepalived": []}
    wall: dict[str, list] = {"vipkeeper": [], "keepalived": []}
    extra: dict[str, list] = {"vipkeeper": [], "keepalived": []}
    try:
        lan = topo.add_bridge_lan(nodes=("a",), client=None, ipv6=False)
        ns = lan["a"].ns
        name = f"{topo.prefix}c"
        tracked = Tracked(work, name)
        tracked.start()
        bindir = os.path.join(work, "bin")  # the short-lived copy shares the name, not the path
        os.makedirs(bindir, exist_ok=True)
        short = named_copy(programs.true, bindir, name)
        other = named_copy(programs.true, work, f"{topo.prefix}o")
        fifo = os.path.join(work, "notify.fifo")
        os.mkfifo(fifo)
        watch = FifoWatch(fifo)
        config = Config([Instance("VI_1", "eth0", 51, 150, 1.0, 2, ["192.0.2.100/24"], track="trk")],
                        tracked={"trk": (name, 0)}, notify_fifo=fifo, router_id="churn")
        events = EVENTS_PER_PROCESS * 2 * processes
        for run in range(runs):
            order = ["vipkeeper", "keepalived"] if run % 2 == 0 else ["keepalived", "vipkeeper"]
            for impl in order:
                daemon = IMPLS[impl](ns, config, work, f"{impl}-{run}")
                t_start = time.time()
                daemon.start()
                try:
                    up = watch.first(lambda line: "MASTER" in line.text.split(), t_start, 15.0)
                    if up is None:  # alone on its LAN it must become Master; transitions before are not churn's
                        print(f"  warning: {impl} never became MASTER", file=sys.stderr)
                    time.sleep(0.5)
                    lines_before = len(daemon.log_lines())
                    t0 = time.time()
                    cpu0 = daemon.cpu()
                    done = subprocess.run([programs.spawner, str(processes), short, other], capture_output=True,
                                          text=True, timeout=600, check=False)
                    cpu1 = drained(daemon)
                    t1 = time.time()
                    wall[impl].append(float(done.stdout.strip() or "nan"))
                    cpu[impl].append((cpu1 - cpu0) * 100_000 / events)
                    fifo_lines = [line for line in watch.since(t0) if line.time <= t1]
                    logged = [l for l in daemon.log_lines()[lines_before:] if "Entering" in l or "Quorum" in l]
                    spurious[impl].append(float(len(fifo_lines) + len(logged)))
                    if impl == "vipkeeper":
                        snap = daemon.status()  # type: ignore[attr-defined]
                        if snap:
                            pt = snap.get("process_tracker", {})
                            extra[impl].append({k: pt.get(k) for k in ("mode", "events", "rescans", "enobufs")})
                    else:
                        extra[impl].append({"missed/rcvbuf lines": sum(1 for l in daemon.log_lines()[lines_before:]
                                                                       if "Missed" in l or "rcv_bufs" in l)})
                finally:
                    daemon.stop()
            print(".", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        for impl in ("vipkeeper", "keepalived"):
            table.add("CPU-s per 100k process events", impl, cpu[impl])
        for impl in ("vipkeeper", "keepalived"):
            table.add("spurious transitions per run", impl, spurious[impl])
        for impl in ("vipkeeper", "keepalived"):
            table.add("spawner wall time (s)", impl, wall[impl])
        table.notes.append(f"events per run = 3 x {2 * processes} (fork, exec, exit); daemon alone per run, connector mode")
        table.notes.append(f"vipkeeper tracker counters per run: {extra['vipkeeper']}")
        table.notes.append(f"keepalived lost-event lines per run: {extra['keepalived']}")
    finally:
        if tracked is not None:
            tracked.reap()
        if watch is not None:
            watch.close()
        topo.close()
    return table
