"""Process churn: a tracked service stays up while thousands of same-named and other processes
start and exit as fast as the machine allows. vipkeeper must report zero status changes and no
error lines; a `pidof`-based check (tests/data/seed/check_services.sh style) runs
alongside and its failures are counted and printed (not asserted: they are the bug we fix).

VIPKEEPER_CHURN sets the number of processes per kind (default 2000; the full run is 20000).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vipkeeper.config.model import TrackProcess
from vipkeeper.track.proc_connector import ProcessTracker

pytestmark = pytest.mark.net

DRIVER = str(Path(__file__).with_name("track_churn_driver.py"))
COUNT = int(os.environ.get("VIPKEEPER_CHURN", "2000"))

PIDOF_LOOP = r'''
n=0; f=0; e=0; ef=$(mktemp)
while [ ! -e "$1/stop" ]; do
  out=$(pidof "$2" 2>"$ef")
  [ -z "$out" ] && f=$((f+1))
  grep -q "can.t read" "$ef" && e=$((e+1))
  n=$((n+1))
done
rm -f "$ef"; echo "$n $f $e"
'''


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("mode", ["connector", "rescan"])
def test_churn_causes_no_status_change(tmp_path, mode):
    name = "vktrk_" + os.urandom(3).hex()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    long_exe, short_exe, other_exe = tmp_path / "a" / name, tmp_path / "b" / name, tmp_path / "b" / ("vkoth_" + name[6:])
    shutil.copy("/bin/sleep", long_exe)
    shutil.copy("/bin/true", short_exe)
    shutil.copy("/bin/true", other_exe)
    logger = logging.getLogger(f"vipkeeper.test.churn.{mode}")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    count = COUNT if mode == "connector" else max(COUNT // 4, 500)

    async def body() -> None:
        changes: list = []
        long_lived = subprocess.Popen([str(long_exe), "600"])
        kw = {"connector_problem": "forced by the test"} if mode == "rescan" else {}
        tr = ProcessTracker([TrackProcess(name="svc", process=name)], changes.append, logger=logger,
                            rescan_interval=0.1, **kw)
        pidof = drivers = None
        try:
            await tr.start()
            assert tr.mode == mode
            assert [c.has_quorum for c in changes] == [True]
            pidof = subprocess.Popen(["bash", "-c", PIDOF_LOOP, "pidof-loop", str(tmp_path), name],
                                     stdout=subprocess.PIPE, text=True)
            cpu0, t0 = time.process_time(), time.monotonic()
            drivers = [subprocess.Popen([sys.executable, DRIVER, str(exe), str(count)], stdout=subprocess.PIPE)
                       for exe in (short_exe, other_exe)]
            deadline = time.monotonic() + 300
            while any(d.poll() is None for d in drivers) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert all(d.returncode == 0 for d in drivers)
            await asyncio.sleep(0.3)  # let the last events drain
            elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
            (tmp_path / "stop").touch()
            runs, fails, cant_read = (int(x) for x in pidof.communicate(timeout=30)[0].split())
            print(f"\n[{mode}] churn {count}+{count} processes in {elapsed:.1f} s "
                  f"({2 * count / elapsed:.0f} processes/s); tracker CPU {cpu:.2f} s "
                  f"({100 * cpu / elapsed:.1f}% of one core); events {tr.counters.events}, "
                  f"rescans {tr.counters.rescans}, enobufs {tr.counters.enobufs}, "
                  f"pidfd exits {tr.counters.pidfd_exits}")
            print(f"[{mode}] pidof check: {runs} runs, {fails} said 'not running' while it ran, "
                  f"{cant_read} printed \"can't read\"")
            assert changes[1:] == [], changes
            assert tr.table.status("svc") is True
            assert tr.table.pids() == {long_lived.pid}
            bad = [r.getMessage() for r in handler.records if r.levelno >= logging.WARNING]
            assert bad == []
            # and it still sees the real exit at once
            long_lived.kill()
            end = time.monotonic() + 2
            while len(changes) < 2 and time.monotonic() < end:
                await asyncio.sleep(0.005)
            assert [c.has_quorum for c in changes] == [True, False]
        finally:
            tr.stop()
            (tmp_path / "stop").touch()
            for p in [long_lived, pidof, *(drivers or [])]:
                if p is not None and p.poll() is None:
                    p.kill()
                if p is not None:
                    p.wait()

    try:
        asyncio.run(body())
    finally:
        logger.removeHandler(handler)
