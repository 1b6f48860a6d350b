"""Figure 3: process-exit detection latency.

The tracked process is bench/native.py's stamper: it reads CLOCK_REALTIME right before _exit
and prints it, so the exit time comes from the process itself. The tracker's state change is the
notify_fifo line `INSTANCE "VI_1" FAULT ...` (weight 0 tracking: quorum lost -> FAULT), read and
timestamped by vipkeeper.lab.watch.FifoWatch -- the same observer for both daemons. vipkeeper's own log line
`Quorum lost for tracked process` (millisecond stamps) is reported as a second row. One node per
daemon, both in the initial PID namespace, tracking by connector; runs alternate.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time

from bench.daemons import IMPLS, Config, Daemon, Instance
from bench.native import Programs, named_copy
from bench.report import Table
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import FifoWatch


class Node:
    def __init__(self, impl: str, workdir: str, programs: Programs) -> None:
        self.impl = impl
        self.workdir = os.path.join(workdir, f"detect-{impl}")
        os.makedirs(self.workdir, exist_ok=True)
        self.topo = Topology()
        self.daemon: Daemon | None = None
        self.stamper: subprocess.Popen[str] | None = None
        self.watch: FifoWatch | None = None
        try:
            lan = self.topo.add_bridge_lan(nodes=("a",), client=None, ipv6=False)
            self.name = f"{self.topo.prefix}d"
            self.binary = named_copy(programs.stamper, self.workdir, self.name)
            self.fifo = os.path.join(self.workdir, "notify.fifo")
            os.mkfifo(self.fifo)
            self.watch = FifoWatch(self.fifo)
            config = Config([Instance("VI_1", "eth0", 51, 150, 1.0, 2, ["192.0.2.100/24"], track="trk")],
                            tracked={"trk": (self.name, 0)}, notify_fifo=self.fifo, router_id=f"detect_{impl}")
            self.start_stamper()
            self.daemon = IMPLS[impl](lan["a"].ns, config, self.workdir, "a")
            self.daemon.start()
        except BaseException:
            self.close()
            raise

    def start_stamper(self) -> float:
        t = time.time()
        self.stamper = subprocess.Popen([self.binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        start_new_session=True)
        return t

    def state_line(self, since: float, states: tuple[str, ...], timeout: float):  # type: ignore[no-untyped-def]
        assert self.watch is not None

        def match(line) -> bool:  # type: ignore[no-untyped-def]
            fields = line.text.split()
            return len(fields) >= 3 and fields[1] == '"VI_1"' and fields[2] in states

        return self.watch.first(match, since, timeout)

    def one(self) -> tuple[float | None, float | None]:
        """Exit the stamper; (ms to the fifo line, ms to vipkeeper's log line or None)."""
        assert self.stamper is not None and self.stamper.stdin is not None and self.stamper.stdout is not None
        self.stamper.stdin.write("x")
        self.stamper.stdin.flush()
        stamp = self.stamper.stdout.readline().strip()
        self.stamper.wait(5)
        t_exit = float(stamp)
        line = self.state_line(t_exit - 0.001, ("FAULT",), 3.0)
        fifo_ms = (line.time - t_exit) * 1000 if line else None
        log_ms = None
        if self.impl == "vipkeeper":
            deadline = time.monotonic() + 1.0
            while log_ms is None and time.monotonic() < deadline:
                log_ms = self._log_latency(t_exit)
                if log_ms is None:
                    time.sleep(0.01)
        return fifo_ms, log_ms

    def _log_latency(self, t_exit: float) -> float | None:
        assert self.daemon is not None
        for line in reversed(self.daemon.log_lines()):
            if "Quorum lost for tracked process" in line:
                ts = dt.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
                if ts >= t_exit - 0.002:
                    return (ts - t_exit) * 1000
                return None
        return None

    def rearm(self) -> bool:
        t = self.start_stamper()
        return self.state_line(t, ("BACKUP", "MASTER"), 5.0) is not None

    def close(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
        if self.stamper is not None and self.stamper.poll() is None:
            self.stamper.kill()
            self.stamper.wait(5)
        if self.watch is not None:
            self.watch.close()
        self.topo.close()


def figure3(runs: int, workdir: str, programs: Programs) -> Table:
    table = Table("fig3-detection", "tracked process exit (stamped by the process) -> tracker state change", "ms", p99=True)
    nodes: list[Node] = []
    try:
        for impl in ("vipkeeper", "keepalived"):
            nodes.append(Node(impl, workdir, programs))
        for node in nodes:
            if node.state_line(0, ("BACKUP", "MASTER"), 15.0) is None:
                print(f"  warning: {node.impl} never left FAULT at start", file=sys.stderr)
        fifo: dict[str, list] = {n.impl: [] for n in nodes}
        logged: list = []
        for run in range(runs):
            for node in nodes[run % 2:] + nodes[: run % 2]:
                time.sleep(random.uniform(0.02, 0.08))
                f_ms, l_ms = node.one()
                fifo[node.impl].append(f_ms)
                if node.impl == "vipkeeper":
                    logged.append(l_ms)
                if not node.rearm():
                    print(f"  warning: {node.impl} did not leave FAULT after run {run}", file=sys.stderr)
            if run % 10 == 9:
                print(".", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        table.add("exit -> notify_fifo FAULT line", "vipkeeper", fifo["vipkeeper"])
        table.add("exit -> notify_fifo FAULT line", "keepalived", fifo["keepalived"])
        table.add("exit -> 'Quorum lost' log line", "vipkeeper (log, 1ms)", logged)
        table.notes.append("both daemons in the initial PID namespace, connector mode; fifo lines timestamped on read "
                           "by one observer (a FifoWatch thread of the bench); vipkeeper's log stamps have 1 ms resolution (truncated)")
    finally:
        for node in nodes:
            node.close()
    return table
