"""Figure 6: start-up -- daemon exec to its first advert on the wire; config check time.

Start-up: one node, priority 100, alone, one instance (Master after Master_Down_Interval); t0 = CLOCK_REALTIME right before the exec, the end = the kernel's receive timestamp of
the node's first advert in the client namespace. Runs alternate between the daemons.
Check: wall time of `python3 -m vipkeeper check -f FILE` and `keepalived -t -f FILE` on the largest sample
of tests/data/keepalived-samples/ (exit status reported; keepalived exits 5 on warnings).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

from bench.daemons import IMPLS, Config, Instance, compile_as_installed
from bench.report import Table
from vipkeeper.lab.nodes import daemon_python
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import FrameCapture, is_vrrp_or_arp

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "keepalived-samples")


def figure6(runs: int, workdir: str) -> Table:
    # Bytecode, as the installed package has it (Debian's py3compile at install time): with
    # PYTHONDONTWRITEBYTECODE in the environment, or a fresh clone, every start would otherwise
    # compile each module it imports (measured: 421 M instead of 637 M instructions for `check`).
    # With the interpreter the daemon runs under (its own cache tag), as the package's install does
    # (the daemon starts with the unit's environment: bench/daemons.py).
    package_note = compile_as_installed(workdir)
    table = Table("fig6-startup", "exec -> first advert on the wire; config check", "ms")
    table.notes.append(package_note)
    work = os.path.join(workdir, "startup")
    os.makedirs(work, exist_ok=True)
    topo = Topology()
    first: dict[str, list] = {"vipkeeper": [], "keepalived": []}
    watch: FrameCapture | None = None
    try:
        lan = topo.add_bridge_lan(nodes=("a",), client="client", ipv6=False)
        a = lan["a"]
        watch = FrameCapture(lan["client"].ns, lan["client"].ifname, keep=is_vrrp_or_arp)
        source = str(a.ipv4.ip)
        # Priority 100, not 255: keepalived treats 255 as an address owner only when the VIP is the
        # interface's own address; both must wait Master_Down_Interval (3 x 1 + 0.609 s) here.
        config = Config([Instance("VI_1", "eth0", 51, 100, 1.0, 2, ["192.0.2.100/24"])], router_id="startup")
        for run in range(runs):
            for impl in (["vipkeeper", "keepalived"] if run % 2 == 0 else ["keepalived", "vipkeeper"]):
                daemon = IMPLS[impl](a.ns, config, work, f"{impl}-{run}")
                t0 = time.time()
                daemon.start()
                try:
                    capture = watch

                    def first_advert() -> float | None:
                        return next((frame.time for frame, adv in capture.adverts(after=t0)
                                     if str(adv.source) == source), None)

                    ts = watch.wait(first_advert, 15.0)
                    first[impl].append((ts - t0) * 1000 if ts else None)
                finally:
                    daemon.stop()
                time.sleep(0.3)
            print(".", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    finally:
        if watch is not None:
            watch.close()
        topo.close()
    down = (3 + (256 - 100) / 256) * 1000
    for impl in ("vipkeeper", "keepalived"):
        table.add("exec -> first advert", impl, first[impl], down)
    for impl in ("vipkeeper", "keepalived"):
        table.add("  minus Master_Down_Interval", impl, [None if v is None else v - down for v in first[impl]])

    samples = sorted(glob.glob(os.path.join(SAMPLES, "*")), key=os.path.getsize)
    if samples:
        largest = samples[-1]
        # The interpreter itself, as the daemon rows start it: `shutil.which("vipkeeper")` can be a
        # version manager's shell shim (pyenv's costs ~50 ms of bash before Python starts).
        commands = {"vipkeeper": [daemon_python(), "-m", "vipkeeper", "check", "-f", largest],
                    "keepalived": ["keepalived", "-t", "-f", largest]}
        times: dict[str, list] = {"vipkeeper": [], "keepalived": []}
        codes: dict[str, set] = {"vipkeeper": set(), "keepalived": set()}
        for run in range(runs):
            for impl in (["vipkeeper", "keepalived"] if run % 2 == 0 else ["keepalived", "vipkeeper"]):
                t0 = time.perf_counter()
                done = subprocess.run(commands[impl], capture_output=True, timeout=60, check=False)
                times[impl].append((time.perf_counter() - t0) * 1000)
                codes[impl].add(done.returncode)
        for impl in ("vipkeeper", "keepalived"):
            table.add("check (largest sample)", impl, times[impl], exit_codes=sorted(codes[impl]))
        table.notes.append(f"check on {largest} ({os.path.getsize(largest)} bytes); exit codes "
                           f"vipkeeper {sorted(codes['vipkeeper'])}, keepalived {sorted(codes['keepalived'])}")
    return table
