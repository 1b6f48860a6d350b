"""vrrp_script runner: start-to-start scheduling, no overlap, timeouts that kill the whole group.

Rules (keepalived vrrp_scheduler.c and core/notify.c; research notes §1 and §5)
- Runs start `interval` apart, start to start; the first run is at once. If the previous run
  is still going, this one is skipped and logged: `Track script NAME is already running, expect
  idle - skipping run` (or `... is being timed out, ...` while it is being killed).
- timeout (default: interval) -> SIGTERM to the process group, 2 s later SIGKILL to the group,
  then SIGKILL again every 10 s (`Script NAME child (PID p) failed to terminate after kill`).
  A timed-out run is a failure ("timed_out"). A run whose process has already exited when its
  timeout is handled is not one: on a starved host the loop may reach the deadline before the
  exit's callbacks, and the script's own status counts (seen: 388 false timeouts in 30 min of
  the seed bench at load 35; keepalived, whose exit events are not behind a callback chain, 212).
- Exit status 0 = success, anything else (or death by a signal) = failure. A change of exit
  status is logged `Script `NAME` now returning N`.
- The child: its own session and process group; stdin/stdout/stderr on /dev/null; every other
  fd closed; IFS, LD_PRELOAD, LD_LIBRARY_PATH removed from the environment; run as the script
  user/group (setgroups, setgid, then setuid; script_launch.launch: through setpriv, so that the
  daemon vforks rather than forks). The command has been checked (script_launch.vet_command) by whoever built the
  runner; a refused one never gets a runner.
- The rise/fall state machine is script_state.ScriptState; transitions are logged as keepalived
  does (`VRRP_Script(NAME) succeeded` / `VRRP_Script(NAME) failed (exited with status N)`) and
  delivered through `on_change(name, ok)`.
No zombies: the direct child is always awaited (also after a kill); the runner never leaves a
task or an fd behind when stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Callable

from vipkeeper.config.model import VrrpScript
from vipkeeper.records import record
from vipkeeper.script_launch import (
    Identity,
    Vetted,
    command_argv,
    launch,
    resolve_identity,
    vet_command,
)
from vipkeeper.track.script_state import ScriptState

log = logging.getLogger("vipkeeper.track")

TERM_GRACE = 2.0
KILL_REPEAT = 10.0


@record(frozen=True)
class RunResult:
    success: bool
    status: int | None = None  # exit status
    signal: int | None = None  # killed by this signal (not by us)
    timed_out: bool = False

    def describe(self) -> str:
        if self.timed_out:
            return "timed_out"
        if self.signal is not None:
            return f"due to signal {self.signal}"
        return f"exited with status {self.status}"


def _has_exited(pid: int) -> bool:
    """Has child `pid` exited (a zombie not yet reaped)? Asked without reaping it (WNOWAIT): the
    asyncio child watcher still collects its status."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True  # already reaped by the watcher: its status is on the way
    return info is not None


class ScriptRunner:
    """Runs one vrrp_script on its schedule and reports OK/KO transitions."""

    def __init__(self, script: VrrpScript, on_change: Callable[[str, bool], None], *,
                 run_as: Identity | None = None, vetted: Vetted | None = None,
                 logger: logging.Logger = log) -> None:
        self.script = script
        self.on_change = on_change
        self.run_as = run_as or (vetted.identity if vetted else None) or resolve_identity(script.user, script.group)
        self.log = logger
        self.state = ScriptState(script.rise, script.fall, script.init_fail)
        if vetted is None:
            vetted = vet_command(script.argv, script.script, self.run_as, script_security=False)
        if not vetted.ok:
            raise ValueError(f"vrrp_script {script.name}: {vetted.refused}")
        self.argv = command_argv(vetted)
        self.interval = script.interval if script.interval > 0 else 1.0
        self.timeout = script.timeout if script.timeout and script.timeout > 0 else self.interval
        self.runs = 0
        self.skipped = 0
        self.timeouts = 0
        self.late_exits = 0  # ended in time, heard after the deadline (a starved loop)
        self._running: asyncio.Task | None = None
        self._killing = False
        self._task: asyncio.Task | None = None
        self._last_status: int | None = None

    @property
    def ok(self) -> bool | None:
        return self.state.ok

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._schedule())

    async def stop(self) -> None:
        for t in (self._task, self._running):
            if t is not None:
                t.cancel()
        for t in (self._task, self._running):
            if t is not None:
                try:
                    await t
                except (asyncio.CancelledError, Exception):
                    pass
        self._task = self._running = None

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        next_start = loop.time()
        while True:
            next_start += self.interval
            if self._running is not None and not self._running.done():
                self.skipped += 1
                what = "being timed out" if self._killing else "already running"
                self.log.info("Track script %s is %s, expect idle - skipping run", self.script.name, what)
            else:
                self._running = loop.create_task(self._run_and_record())
            now = loop.time()
            if next_start < now:  # we fell behind (a suspended host): do not fire a burst
                next_start = now
            await asyncio.sleep(next_start - now)

    async def _run_and_record(self) -> None:
        res = await self.run_once()
        self.record(res)

    def record(self, res: RunResult) -> None:
        if res.status is not None and res.status != self._last_status:
            if self._last_status is not None or res.status != 0:
                self.log.info("Script `%s` now returning %d", self.script.name, res.status)
            self._last_status = res.status
        change = self.state.record(res.success)
        if change is True:
            self.log.info("VRRP_Script(%s) succeeded", self.script.name)
        elif change is False:
            self.log.info("VRRP_Script(%s) failed (%s)", self.script.name, res.describe())
        if change is not None:
            self.on_change(self.script.name, change)

    async def run_once(self) -> RunResult:
        """Run the script once, to completion or timeout; always reaps the child."""
        self.runs += 1
        try:
            argv, options = launch(self.argv, self.run_as)
            proc = await asyncio.create_subprocess_exec(*argv, **options)
        except OSError as exc:
            self.log.info("Script %s cannot be run: %s", self.script.name, exc.strerror or exc)
            return RunResult(False, status=127)
        try:
            rc = await asyncio.wait_for(proc.wait(), self.timeout)
        except asyncio.TimeoutError:
            if _has_exited(proc.pid):
                # It ended in time; the loop was late to hear it (a starved host: the exit's
                # callbacks queue behind the timeout's). Its own status counts, not a timeout.
                self.late_exits += 1
                rc = await proc.wait()
            else:
                self.timeouts += 1
                await self._kill_group(proc)
                return RunResult(False, timed_out=True)
        except asyncio.CancelledError:
            await asyncio.shield(self._kill_group(proc))
            raise
        if rc < 0:
            return RunResult(False, signal=-rc)
        return RunResult(rc == 0, status=rc)

    async def _kill_group(self, proc: asyncio.subprocess.Process) -> None:
        self._killing = True
        try:
            pgid = proc.pid  # process_group=0: the child leads its own group
            sig = signal.SIGTERM
            wait = TERM_GRACE
            while True:
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    if proc.returncode is None:
                        self.log.info("Script %s child (PID %d) lost", self.script.name, proc.pid)
                    await proc.wait()
                    return
                try:
                    await asyncio.wait_for(proc.wait(), wait)
                    try:
                        os.killpg(pgid, signal.SIGKILL)  # reap what the script left in its group
                    except ProcessLookupError:
                        pass
                    return
                except asyncio.TimeoutError:
                    if sig == signal.SIGKILL:
                        self.log.info("Script %s child (PID %d) failed to terminate after kill",
                                      self.script.name, proc.pid)
                    sig, wait = signal.SIGKILL, (TERM_GRACE if sig == signal.SIGTERM else KILL_REPEAT)
        finally:
            self._killing = False
