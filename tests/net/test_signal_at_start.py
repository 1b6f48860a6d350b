"""A daemon being started is not killed by a reload, a dump request or a stray signal.

From the first line of `vipkeeper run` (daemon/signal_table.py's early handlers, installed by
`cli.entry` before any other import) until the loop's own handlers: SIGHUP, SIGUSR1/2, the
real-time signals and the other "terminate by default" signals without a meaning here arrive
every millisecond while the daemon imports, reads its configuration and starts; it must come
up, become Master and stop cleanly on SIGTERM (before: a SIGHUP between the early handlers,
which did not cover it, and the loop's killed it).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.testbed import vrrp_conf

pytestmark = pytest.mark.net

STORM = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGRTMIN + 5, signal.SIGALRM, signal.SIGHUP)


def caught(pid: int, sig: int) -> bool:
    """Does `pid` have a handler for `sig` (SigCgt in /proc)?"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(mask >> (sig - 1) & 1)


def test_signals_while_starting_do_not_kill_the_daemon(lan, tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(vrrp_conf(priority=150, vips=["192.0.2.50/24"], advert_int=0.2))
    daemon = HostDaemon("vipkeeper", lan["a"].ns, conf, tmp_path, "a")
    # the child inherits dispositions: a runner started under nohup ignores SIGHUP, which would
    # hide a daemon that leaves it at its default (terminate)
    before = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        daemon.start()
    finally:
        signal.signal(signal.SIGHUP, before)
    try:
        # the earliest moment a signal may be sent: the first handler is in place
        deadline = time.monotonic() + 10
        while not caught(daemon.pid, signal.SIGUSR1) and daemon.running and time.monotonic() < deadline:
            time.sleep(0.0005)
        assert daemon.running, " | ".join(daemon.log_lines())
        sent = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and daemon.running:
            os.kill(daemon.pid, STORM[sent % len(STORM)])
            sent += 1
            if any("Entering MASTER STATE" in line for line in daemon.log_lines()):
                break
            time.sleep(0.001)
        assert daemon.running, f"killed after {sent} signals: " + " | ".join(daemon.log_lines()[-5:])
        assert any("Entering MASTER STATE" in line for line in daemon.log_lines()), "never became Master"
        assert sent >= 20, f"only {sent} signals reached the start-up"
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10.0)
        assert daemon.popen is not None and daemon.popen.returncode == 0, daemon.log_lines()[-5:]
    finally:
        daemon.stop()
