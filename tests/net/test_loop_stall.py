"""A stalled daemon shows: the loop lag histogram, the late-run log line, the watchdog pings.

A real daemon (Master, advert_int 0.1, so a deadline falls every 100 ms) runs in a namespace
with NOTIFY_SOCKET pointing at a datagram socket this test binds and WATCHDOG_USEC=200000 (a
ping every 100 ms). It is stopped with SIGSTOP for 300 ms and continued: no test hook, the
kernel stops it as a starved or swapped-out process would be. Then
- `status --json` shows a lag of at least 200 ms in `daemon.loop` (max and the histogram's
  buckets above 100 ms), counted as late;
- the log has the "ran its timers ... ms late" line for it;
- the WATCHDOG=1 pings came every 100 ms before the stop, none during it, and again after.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

CONF = """
global_defs {
  router_id a
  vrrp_version 3
}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 61
  priority 150
  advert_int 0.1
  virtual_ipaddress {
    192.0.2.61/24
  }
}
"""


class Pings:
    """Datagrams on the bound NOTIFY_SOCKET, stamped when read (a thread blocked in recv)."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.got: list[tuple[float, bytes]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(256)
            except TimeoutError:
                continue
            except OSError:
                return
            self.got.append((time.monotonic(), data))

    def watchdog(self) -> list[float]:
        return [t for t, data in list(self.got) if data == b"WATCHDOG=1"]

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def test_sigstopped_daemon_shows_in_lag_histogram_log_and_watchdog(topology: Topology, lan,
                                                                    tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(CONF)
    ctl = str(tmp_path / "a.ctl")
    log_path = tmp_path / "a.log"
    pings = Pings(str(tmp_path / "notify"))
    try:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": ":".join(sys.path),
               "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}
        daemon = topology.popen(lan["a"].ns, [sys.executable, "-m", "vipkeeper", "run", "-n", "-l", "--no-syslog",
                                              "-f", str(conf), "-p", str(tmp_path / "a.pid"),
                                              "--control-socket", ctl],
                                stderr=open(log_path, "w"), env=env)

        def status() -> dict | None:
            done = subprocess.run([sys.executable, "-m", "vipkeeper", "status", "--socket", ctl, "--json"],
                                  capture_output=True, text=True, timeout=10, check=False)
            assert "Traceback" not in done.stderr, done.stderr
            return json.loads(done.stdout) if done.returncode == 0 else None

        def master() -> dict | None:
            s = status()
            return s if s and s["instances"][0]["state"] == "MASTER" else None

        wait_for(master, 20, what="the daemon MASTER")
        assert any(data == b"READY=1\nSTATUS=vipkeeper running" for _, data in pings.got)
        start = time.monotonic()
        wait_for(lambda: len([t for t in pings.watchdog() if t > start]) >= 11, 10, what="eleven watchdog pings")
        before = [t for t in pings.watchdog() if t > start][:11]
        # one every 100 ms: ten gaps add up to a second (a little more on a loaded host)
        assert 0.9 <= before[-1] - before[0] < 2.0, before

        daemon.signal(signal.SIGSTOP)
        stopped = time.monotonic()
        time.sleep(0.3)  # the stall itself, not a wait for anything
        daemon.signal(signal.SIGCONT)
        resumed = time.monotonic()

        def stalled() -> dict | None:
            s = status()
            return s if s and s["daemon"]["loop"]["max"] >= 0.2 else None

        loop = wait_for(stalled, 10, what="the stall in the loop lag")["daemon"]["loop"]
        assert loop["late"] >= 1
        assert loop["late_threshold"] == pytest.approx(0.01)  # a tenth of advert_int 0.1
        below_100ms = dict((le, n) for le, n in loop["buckets"])[0.1]
        assert loop["count"] - below_100ms >= 1, loop  # in the histogram's buckets above 100 ms

        def stall_lines() -> list[float]:
            # on a loaded host there may be lines of 10-99 ms too: the stall's is its own
            return [float(x.split("ran its timers ")[1].split(" ms late")[0])
                    for x in log_path.read_text().splitlines() if "ran its timers" in x]

        wait_for(lambda: any(ms >= 200.0 for ms in stall_lines()), 10, what="the stall's log line")
        assert max(stall_lines()) < 5000.0

        wait_for(lambda: len([t for t in pings.watchdog() if t > resumed]) >= 3, 10, what="pings after SIGCONT")
        during = [t for t in pings.watchdog() if stopped + 0.05 < t < resumed - 0.01]
        assert during == [], (stopped, resumed, during)
        around = [t for t in pings.watchdog() if t > start]
        assert max(b - a for a, b in zip(around, around[1:])) >= 0.25  # the gap of the stall
    finally:
        pings.close()
