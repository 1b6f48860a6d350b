"""vrrp_script runner with real processes: no zombies, no fd leaks, group kill on timeout,
no overlap, runs as the configured user."""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from vipkeeper.config.model import VrrpScript
from vipkeeper.track.script import ScriptRunner

pytestmark = pytest.mark.net

RUNS = int(os.environ.get("VIPKEEPER_SCRIPT_RUNS", "2000"))


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def zombie_children() -> list[int]:
    me = os.getpid()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2 :].split()
        if rest[0] == b"Z" and int(rest[1]) == me:
            out.append(int(pid))
    return out


def with_pidfd_watcher(coro_fn):
    """The daemon's recommended child watcher (3.11): one pidfd per child instead of a thread."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())
    try:
        return asyncio.run(coro_fn())
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_child_watcher(None)


def test_many_runs_leave_no_fds_and_no_zombies():
    async def body():
        r = ScriptRunner(VrrpScript(name="t", script="true", argv=("true",)), lambda n, ok: None)
        await r.run_once()  # warm up lazily created loop fds
        before = fd_count()
        # Other tests in this pytest process may have left zombies of their own: judge only
        # what these runs add.
        zombies_before = set(zombie_children())
        t0 = time.monotonic()
        for _ in range(RUNS):
            res = await r.run_once()
            assert res.success
        per_run = (time.monotonic() - t0) / RUNS * 1000
        print(f"\n{RUNS} runs of `true`: {per_run:.2f} ms per run")
        assert fd_count() == before
        assert set(zombie_children()) - zombies_before == set()
    with_pidfd_watcher(body)


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "bg.pid"
    cmd = f"sleep 30 & echo $! > {pidfile}; wait"

    async def body():
        changes = []
        r = ScriptRunner(VrrpScript(name="slow", script=cmd, argv=("sh", "-c", cmd), interval=5, timeout=0.3),
                         lambda n, ok: changes.append(ok))
        t0 = time.monotonic()
        res = await r.run_once()
        r.record(res)
        assert res.timed_out and not res.success
        assert time.monotonic() - t0 < 3
        bg = int(pidfile.read_text())
        deadline = time.monotonic() + 2
        while os.path.exists(f"/proc/{bg}") and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        alive = os.path.exists(f"/proc/{bg}") and b"Z" not in open(f"/proc/{bg}/stat", "rb").read().split(b")")[1][:3]
        assert not alive, "the script's background child survived the timeout"
        assert changes == [False]
    with_pidfd_watcher(body)


@pytest.mark.parametrize("watcher", ["pidfd", "threaded"])
def test_a_script_that_ended_in_time_is_not_timed_out_by_a_late_loop(watcher, monkeypatch):
    """The loop is blocked (a starved host) past the deadline, right after the timeout is armed,
    while the script exits at once: when it runs again, the timeout and the exit are both due.
    The exit counts, as keepalived counts it: the script's status 3, no timeout, nothing killed.
    (Before: `timed_out`.)"""
    real_wait_for = asyncio.wait_for
    stalled = []

    async def stalling_wait_for(aw, timeout):  # type: ignore[no-untyped-def]
        if not stalled:  # the first wait only: the run's own
            stalled.append(True)
            asyncio.get_running_loop().call_soon(time.sleep, timeout + 0.4)  # the whole loop stalls
        return await real_wait_for(aw, timeout)

    monkeypatch.setattr(asyncio, "wait_for", stalling_wait_for)

    async def body():
        # it exits 0.1 s into the 0.6 s stall, inside its 0.2 s timeout: an `exit 3` at once could
        # be reaped (threaded watcher) before the stall began, and nothing would be late
        r = ScriptRunner(VrrpScript(name="quick", script="sleep 0.1; exit 3", argv=("sh", "-c", "sleep 0.1; exit 3"),
                                    interval=5, timeout=0.2), lambda n, ok: None)
        res = await r.run_once()
        assert stalled
        assert (res.timed_out, res.status) == (False, 3), res
        assert (r.timeouts, r.late_exits) == (0, 1)
        # and a script that really overruns is still timed out
        r2 = ScriptRunner(VrrpScript(name="slow", script="sleep 5", argv=("sleep", "5"), interval=5, timeout=0.2),
                          lambda n, ok: None)
        assert (await r2.run_once()).timed_out and r2.timeouts == 1
    if watcher == "pidfd":
        with_pidfd_watcher(body)
    else:
        asyncio.run(body())


def test_schedule_skips_overlapping_runs_and_counts_rise_fall(caplog):
    async def body():
        changes = []
        r = ScriptRunner(VrrpScript(name="ovl", script="sleep 0.25", argv=("sleep", "0.25"),
                                    interval=0.1, timeout=1, rise=2, fall=1),
                         lambda n, ok: changes.append(ok))
        r.start()
        deadline = time.monotonic() + 3
        while not changes and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await r.stop()
        assert changes == [True]  # initial result rise-1: one success is enough
        assert r.skipped >= 1
    with caplog.at_level(logging.INFO, logger="vipkeeper.track"):
        with_pidfd_watcher(body)
    assert "Track script ovl is already running, expect idle - skipping run" in caplog.text
    assert "VRRP_Script(ovl) succeeded" in caplog.text


def test_runs_as_configured_user():
    nobody = pwd.getpwnam("nobody")
    d = tempfile.mkdtemp(prefix="vktrk", dir="/tmp")
    os.chmod(d, 0o777)
    out = Path(d) / "id"
    cmd = f"id -u > {out}; id -g >> {out}"

    async def body():
        r = ScriptRunner(VrrpScript(name="u", script=cmd, argv=("sh", "-c", cmd), user="nobody"),
                         lambda n, ok: None)
        res = await r.run_once()
        assert res.success
    try:
        with_pidfd_watcher(body)
        uid, gid = out.read_text().split()
    finally:
        shutil.rmtree(d)
    assert (int(uid), int(gid)) == (nobody.pw_uid, nobody.pw_gid)


def test_environment_is_cleaned(tmp_path, monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "/nonexistent.so")
    out = tmp_path / "env"
    cmd = f"env > {out}"

    async def body():
        r = ScriptRunner(VrrpScript(name="e", script=cmd, argv=("sh", "-c", cmd)), lambda n, ok: None)
        assert (await r.run_once()).success
    with_pidfd_watcher(body)
    assert "LD_PRELOAD" not in out.read_text()
