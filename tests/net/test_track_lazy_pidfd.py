"""Connector mode opens pidfds lazily (proc_connector docstring): the safety net must still hold.

Each test makes the connector deaf (nothing is read from it any more), so only the lazily opened
pidfd and its start-time check can notice what happened. PIDFD_DELAY is raised for the test so
that "not yet opened" is a certainty, not a race.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time

import pytest

from vipkeeper.config.model import TrackProcess
from vipkeeper.track import proc_connector
from vipkeeper.track.proc_connector import ProcessTracker
from vipkeeper.track.process_table import StatusChange
from vipkeeper.track.procfs import ProcessInfo, read_if_named, read_stat

pytestmark = pytest.mark.net



def deafen(tr: ProcessTracker) -> None:
    """From now on the connector delivers nothing (as if it lost every event)."""
    asyncio.get_running_loop().remove_reader(tr._connector.fileno())
    if tr._tick is not None:
        tr._tick.cancel()
        tr._tick = None
    tr._connector.drain = lambda limit=0, stop=(): ([], False, False)  # type: ignore[method-assign]


async def counted(tr: ProcessTracker, q: asyncio.Queue, p: subprocess.Popen) -> None:
    assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", False)
    assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", True)
    assert tr.table.pids() == {p.pid}
    assert p.pid not in tr._pidfds  # lazy: not opened yet


def test_exit_lost_by_the_connector_is_caught_by_the_lazy_pidfd(named_sleep, monkeypatch):
    monkeypatch.setattr(proc_connector, "PIDFD_DELAY", 0.3)

    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait)
        await tr.start()
        try:
            p = named_sleep()
            await counted(tr, q, p)
            deafen(tr)
            p.kill()
            p.wait()  # gone and reaped before the pidfd is due: pidfd_open fails -> exit
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", False)
            assert tr.counters.pidfd_exits == 1 and tr.table.pids() == set()
        finally:
            tr.stop()
    asyncio.run(body())


def test_exit_after_the_lazy_pidfd_opened_is_caught_by_it(named_sleep, monkeypatch):
    monkeypatch.setattr(proc_connector, "PIDFD_DELAY", 0.05)

    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait)
        await tr.start()
        try:
            p = named_sleep()
            await counted(tr, q, p)
            deadline = time.monotonic() + 2
            while p.pid not in tr._pidfds and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert p.pid in tr._pidfds
            deafen(tr)
            p.kill()
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", False)
            assert tr.counters.pidfd_exits == 1 and tr._pidfds == {}
            p.wait()
        finally:
            tr.stop()
    asyncio.run(body())


def test_reused_pid_is_not_taken_for_the_process_read_at_exec(named_sleep, monkeypatch):
    """The table holds the start time read with the name at exec; a live process under that PID
    with another start time is someone else: the tracked one exited unseen."""
    monkeypatch.setattr(proc_connector, "PIDFD_DELAY", 0.3)

    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait)
        await tr.start()
        try:
            p = named_sleep()
            await counted(tr, q, p)
            deafen(tr)
            real = read_stat(p.pid)
            assert real is not None and tr.table.info(p.pid) == ProcessInfo(named_sleep.name, None, real.start)
            # as if the exec we read was an earlier process with this PID
            tr.table._procs[p.pid].info = ProcessInfo(named_sleep.name, None, real.start - 1)
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", False)
            assert p.poll() is None and tr.table.pids() == set() and p.pid not in tr._pidfds
        finally:
            tr.stop()
    asyncio.run(body())


def test_streaming_events_are_drained_by_ticks_and_exits_still_seen_promptly(named_sleep, tmp_path):
    true_copy = tmp_path / "vkflood"
    shutil.copy("/bin/true", true_copy)
    flood = ("import os,sys,time\nend=time.monotonic()+float(sys.argv[2])\n"
             "while time.monotonic()<end:\n os.waitpid(os.posix_spawn(sys.argv[1],[sys.argv[1]],{}),0)\n")

    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait)
        p = named_sleep()
        await tr.start()
        spawner = subprocess.Popen([sys.executable, "-c", flood, str(true_copy), "1.5"])
        try:
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", True)
            deadline = time.monotonic() + 1.0
            while tr._tick is None and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            assert tr._tick is not None  # streaming: drains on ticks, not per event
            t0 = time.monotonic()
            p.kill()
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", False)
            assert (time.monotonic() - t0) * 1000 < 100
            spawner.wait(10)
            deadline = time.monotonic() + 2.0
            while tr._tick is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert tr._tick is None  # quiet again: back to waking on the socket
            q2 = named_sleep()
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", True)
            assert tr.table.pids() == {q2.pid}
        finally:
            tr.stop()
            if spawner.poll() is None:
                spawner.kill()
            spawner.wait()
            p.wait()
    asyncio.run(body())


def test_read_if_named_reads_only_wanted_names():
    me = os.getpid()
    with open(f"/proc/{me}/comm", "rb") as f:
        comm = f.read().rstrip(b"\n")
    st = read_stat(me)
    assert st is not None
    assert read_if_named(me, frozenset([comm])) == ProcessInfo(st.comm, None, st.start)
    assert read_if_named(me, None) == ProcessInfo(st.comm, None, st.start)
    assert read_if_named(me, frozenset([b"vk-no-such-name"])) is None
    assert read_if_named(2**22 + 12345, None) is None


def test_daemon_that_execs_forks_and_exits_within_one_batch_is_counted(tmp_path):
    """exec, fork and the parent's exit arrive in one batch: the parent can no longer be read,
    so the tracker judges the surviving child by its own name."""
    name = "vkdm_" + os.urandom(3).hex()
    exe = tmp_path / name
    os.symlink(os.path.realpath(sys.executable), exe)  # comm is the name exec'd: the link's
    code = ("import os,sys,time\npid=os.fork()\nif pid:\n print(pid,flush=True)\n os._exit(0)\n"
            "os.close(1)\ntime.sleep(30)\n")

    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=name)], q.put_nowait)
        await tr.start()
        child = None
        try:
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", False)
            asyncio.get_running_loop().remove_reader(tr._connector.fileno())  # gather one batch
            p = subprocess.Popen([str(exe), "-c", code], stdout=subprocess.PIPE, text=True)
            child = int(p.stdout.readline())
            p.wait(5)
            p.stdout.close()
            assert tr._drain() >= 3
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", True)
            assert tr.table.pids() == {child}
        finally:
            tr.stop()
            if child is not None:
                os.kill(child, 9)
    asyncio.run(body())


def test_a_start_lost_without_a_sign_is_found_by_the_safety_rescan(named_sleep):
    """Issue 20 #3: connector mode rescanned only on ENOBUFS or a gap; a start lost without
    either (here: every event dropped) was never seen. The slow safety rescan finds it."""
    async def body():
        q: asyncio.Queue = asyncio.Queue()
        tr = ProcessTracker([TrackProcess(name="svc", process=named_sleep.name)], q.put_nowait)
        tr.safety_interval = 0.5
        await tr.start()
        try:
            assert tr.mode == "connector"
            assert (await asyncio.wait_for(q.get(), 2.0)) == StatusChange("svc", False)
            deafen(tr)
            started = time.monotonic()
            p = named_sleep()
            assert (await asyncio.wait_for(q.get(), 3.0)) == StatusChange("svc", True)
            assert time.monotonic() - started < 1.5 and tr.counters.rescans >= 1
            assert tr.table.pids() == {p.pid}
        finally:
            tr.stop()
    asyncio.run(body())
