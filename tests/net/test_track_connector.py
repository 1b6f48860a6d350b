"""The process tracker against real processes, in the initial namespaces (connector mode)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time

import pytest

from vipkeeper.config.model import TrackProcess
from vipkeeper.track.proc_connector import ProcessTracker, open_connector
from vipkeeper.track.process_table import StatusChange

pytestmark = pytest.mark.net



async def next_change(q: asyncio.Queue, timeout: float = 2.0) -> StatusChange:
    return await asyncio.wait_for(q.get(), timeout)


def test_connector_mode_sees_start_and_exit_within_milliseconds(named_sleep):
    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait)
        await tr.start()
        try:
            assert tr.mode == "connector"
            assert (await next_change(q)) == StatusChange("svc", False)
            t0 = time.monotonic()
            p = named_sleep()
            assert (await next_change(q)) == StatusChange("svc", True)
            up_ms = (time.monotonic() - t0) * 1000
            t1 = time.monotonic()
            p.kill()
            assert (await next_change(q)) == StatusChange("svc", False)
            down_ms = (time.monotonic() - t1) * 1000
            print(f"\nconnector mode: start seen in {up_ms:.2f} ms, exit in {down_ms:.2f} ms")
            assert down_ms < 100 and up_ms < 100
            p.wait()
        finally:
            tr.stop()
    asyncio.run(body())


def test_comm_change_by_prctl_is_followed(named_sleep):
    code = ("import ctypes,sys,time;libc=ctypes.CDLL(None);sys.stdin.readline();"
            "libc.prctl(15, sys.argv[1].encode(), 0, 0, 0);sys.stdin.readline()")

    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait)
        await tr.start()
        p = subprocess.Popen([sys.executable, "-c", code, named_sleep.name], stdin=subprocess.PIPE, text=True)
        try:
            assert (await next_change(q)) == StatusChange("svc", False)
            p.stdin.write("\n")
            p.stdin.flush()
            assert (await next_change(q)) == StatusChange("svc", True)
            assert tr.table.pids() == {p.pid}
            p.stdin.write("\n")
            p.stdin.flush()
            assert (await next_change(q)) == StatusChange("svc", False)
        finally:
            tr.stop()
            p.kill()
            p.wait()
    asyncio.run(body())


def test_pidfd_confirms_exit_the_connector_did_not_deliver(named_sleep):
    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait)
        p = named_sleep()
        await tr.start()
        try:
            assert (await next_change(q)) == StatusChange("svc", True)
            # stop reading the connector: only the pidfd can tell us now
            asyncio.get_running_loop().remove_reader(tr._connector.fileno())
            p.kill()
            assert (await next_change(q)) == StatusChange("svc", False)
            assert tr.counters.pidfd_exits >= 1
        finally:
            tr.stop()
            p.wait()
    asyncio.run(body())


def test_overflow_triggers_rescan_and_keeps_the_truth(named_sleep, tmp_path):
    true_copy = tmp_path / "vkflood"
    shutil.copy("/bin/true", true_copy)

    async def body():
        q: asyncio.Queue = asyncio.Queue()
        conn, why = open_connector(rcvbuf=4096)
        assert conn is not None, why
        conn.grow_buffer = lambda: 4096  # keep it tiny so the flood overflows
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait, connector=conn)
        keep = named_sleep()
        doomed = named_sleep()
        await tr.start()
        try:
            assert (await next_change(q)) == StatusChange("svc", True)
            # flood while the loop is not reading: the socket queue overflows
            doomed.kill()
            doomed.wait()
            for _ in range(300):
                pid = os.posix_spawn(str(true_copy), [str(true_copy)], {})
                os.waitpid(pid, 0)
            late = named_sleep()
            deadline = time.monotonic() + 3
            while tr.counters.rescans == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert tr.counters.enobufs >= 1 and tr.counters.rescans >= 1
            assert tr.table.pids() == {keep.pid, late.pid}
            assert tr.table.status("svc") is True and q.empty()
        finally:
            tr.stop()
    asyncio.run(body())
