"""Figure 11: does the daemon stall while its scripts run? 1,000 instances at advert_int 1.

The scale figure's layout (bench/scale.py: one daemon alone in namespace `a`, every instance
Master, adverts captured with kernel timestamps in `p` over four veth links), plus the load an
admin's configuration puts on the daemon's own process:
- one `vrrp_script` tracked by every instance, run every second, that writes 2 MiB to its
  standard output and exits 0 (a health check with a chatty command);
- 100 instances with a `notify` script (it sleeps 0.3 s and appends a line: a typical mailer or
  logger), and a `vrrp_track_file` (weight 0) that the bench flips during the capture: the 100
  go FAULT and come back to MASTER, so 200 notify scripts are started inside the window.
Measured over the capture window on the 900 instances that do not flip: the advert gap minus
the interval (p99 and max: how late the daemon sent while it forked, read and reaped), the
transitions they made (must be 0), the daemon's CPU; for vipkeeper also its own timer-lag
record (status `daemon.loop`: how late the loop ran the timers, and the late wake-ups).
"""

from __future__ import annotations

import os
import sys
import time

from bench.daemons import IMPLS, Config, Instance
from bench.report import Table
from bench.scale import PER_LINK, build, jitters, lag_over, loop_of, start_all_master, vip
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import FrameCapture, is_vrrp_or_arp

N, FLIP, INTERVAL = 1000, 100, 1.0
HEAVY = "#!/bin/sh\nhead -c 2097152 /dev/zero | tr '\\0' x\nexit 0\n"
NOTIFY = "#!/bin/sh\nsleep 0.3\necho \"$(date +%s.%N) $*\" >> \"$(dirname \"$0\")/notify.log\"\n"


def _script(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def one(impl: str, window: float, workdir: str, run: int = 0) -> dict:
    work = os.path.join(workdir, f"stall-{impl}-{run}")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    heavy = _script(os.path.join(work, "heavy.sh"), HEAVY)
    notify = _script(os.path.join(work, "notify.sh"), NOTIFY)
    flip = os.path.join(work, "flip")
    with open(flip, "w") as f:
        f.write("0\n")
    blocks = ["vrrp_script chk_heavy {", f"  script {heavy}", "  interval 1", "  timeout 5", "  weight 0", "}",
              "vrrp_track_file flip {", f"  file {flip}", "  weight 0", "}"]
    instances = []
    index: dict[str, int] = {}  # VIP address -> instance number: an advert names its instance by its VIP
    for k in range(N):
        address, _family = vip(k)
        index[address.split("/")[0]] = k
        extra = ["track_script {", "  chk_heavy", "}"]
        if k < FLIP:
            extra += ["track_file {", "  flip", "}", f"notify {notify}"]
        instances.append(Instance(f"VI_{k}", f"vk{k // PER_LINK}", k % PER_LINK + 1, 200, INTERVAL, 3, [address],
                                  extra=extra))
    topo = Topology()
    daemon = None
    try:
        a, p = build(topo, (N + PER_LINK - 1) // PER_LINK)
        daemon = IMPLS[impl](a, Config(instances, router_id="stall", globals_extra=["script_user root"],
                                       blocks=blocks), work, "a")
        masters, _ = start_all_master(daemon, N, 30 + N * 0.05)
        if not daemon.running or masters < N:
            return {"error": f"{masters} of {N} Master; " + " | ".join(daemon.log_lines()[-3:])}
        loop0 = loop_of(daemon)
        time.sleep(2 * INTERVAL + 0.5)
        lines0 = len(daemon.log_lines())
        cpu0, w0 = daemon.cpu(), time.monotonic()
        with FrameCapture(p, None, keep=is_vrrp_or_arp, rcvbuf=16 << 20) as capture:
            time.sleep(window / 4)  # the capture window itself: the flip happens inside it
            with open(flip, "w") as f:
                f.write("1\n")  # the 100 go FAULT: 100 notify scripts
            t_fault = time.time()
            time.sleep(window / 4)
            with open(flip, "w") as f:
                f.write("0\n")  # back to BACKUP, then MASTER: 100 (keepalived: 200) more
            t_back = time.time()
            time.sleep(window / 2)
        cpu1, w1 = daemon.cpu(), time.monotonic()
        loop1 = loop_of(daemon)
        lines = daemon.log_lines()[lines0:]
        steady = {f"VI_{k}" for k in range(FLIP, N)}
        moved = [line for line in lines if "Entering" in line and any(f"({name})" in line for name in steady)]
        flipped = sum(1 for line in lines if "Entering FAULT STATE" in line)
        captured: dict[str, list[float]] = {}
        for frame, adv in capture.adverts():
            addresses = adv.advertisement.addresses
            k = index.get(str(addresses[0])) if addresses else None
            if k is None or k < FLIP:
                continue  # a flipping instance (or not one of ours)
            captured.setdefault(str(k), []).append(frame.time)
        jit, seen = jitters(captured, INTERVAL)
        notes: list[tuple[float, str]] = []  # (time the notify script ran, state)
        try:
            with open(os.path.join(work, "notify.log")) as f:
                notes = [(float(w[0]), w[3]) for w in (line.split() for line in f) if len(w) >= 4]
        except OSError:
            pass
        # how long after the file changed the last of the 100 notify scripts ran (FAULT; BACKUP)
        to_fault = [t - t_fault for t, state in notes if state == "FAULT" and t_fault <= t < t_back]
        to_backup = [t - t_back for t, state in notes if state == "BACKUP" and t >= t_back]
        return {"jitter_ms": jit, "seen": seen, "moved": len(moved), "flipped": flipped, "notified": len(notes), "dropped": capture.dropped,
                "fault_s": max(to_fault) if len(to_fault) == FLIP else None,
                "backup_s": max(to_backup) if len(to_backup) == FLIP else None,
                "cpu_pct": (cpu1 - cpu0) / (w1 - w0) * 100, "lag": lag_over(loop0, loop1), "running": daemon.running}
    finally:
        if daemon is not None:
            daemon.stop(timeout=15)
        topo.close()


def figure11(runs: int, workdir: str, quick: bool) -> Table:
    table = Table("fig11-stall", f"{N} instances at advert_int 1, a chatty vrrp_script on all, {FLIP} flipped "
                  "with notify scripts: the other instances' advert lateness", "ms", p99=True)
    window = 8.0 if quick else 16.0
    results: dict[str, list[dict]] = {"vipkeeper": [], "keepalived": []}
    for i in range(runs):
        for impl in ("vipkeeper", "keepalived"):
            print(f"fig11: {impl} run {i + 1}/{runs} window {window:g}s", file=sys.stderr, flush=True)
            r = one(impl, window, workdir, i)
            if "error" in r:
                table.notes.append(f"{impl} run {i + 1}: {r['error']}")
                continue
            results[impl].append(r)
    for impl, got in results.items():
        if not got:
            table.add("advert gap - interval, p99 per run", impl, [None])
            continue
        p99s = [sorted(r["jitter_ms"])[int(0.99 * (len(r["jitter_ms"]) - 1))] for r in got if r["jitter_ms"]]
        table.add("advert gap - interval, p99 per run", impl, p99s)
        table.add("advert gap - interval, max per run", impl, [max(r["jitter_ms"]) for r in got if r["jitter_ms"]])
        table.add("CPU % in the window", impl, [r["cpu_pct"] for r in got])
        table.add("steady instances' transitions", impl, [float(r["moved"]) for r in got])
        table.add("file flipped -> 100th FAULT notify ran, s", impl, [r["fault_s"] for r in got])
        table.add("file back -> 100th BACKUP notify ran, s", impl, [r["backup_s"] for r in got])
        table.notes.append(f"{impl}: per run, FAULT lines {[r['flipped'] for r in got]}, notify lines "
                           f"{[r['notified'] for r in got]}, steady instances seen {[r['seen'] for r in got]}, frames the "
                           f"capture dropped {[r['dropped'] for r in got]}")
        lags = [r["lag"] for r in got if r.get("lag")]
        if lags:
            table.notes.append(f"{impl}: timer lag per run (own record): p99 <= {[lag['p99_le_ms'] for lag in lags]} ms, "
                               f"max since start {[round(lag['max_ms'], 1) for lag in lags]} ms, late wake-ups "
                               f"{[lag['late'] for lag in lags]}")
    table.notes.append(f"window {window:g} s per run; the flip file goes to 1 after a quarter of it and back to 0 at "
                       "half; lateness pooled over the non-flipping instances of a run, p99 and max taken per run")
    return table
