"""Notify scripts, run the way keepalived runs them, without ever blocking the event loop.

Rules (keepalived 2.2.7, vrrp_notify.c and core/notify.c)
- A state change runs, in this order: the state's own script (`notify_master`, `notify_backup`,
  `notify_fault`, `notify_stop`, `notify_deleted`) with only the arguments the admin wrote; then
  the generic `notify` with `INSTANCE|GROUP NAME STATE PRIORITY` appended; then one line to each
  notify fifo. "Order" is start order: scripts are not waited for, as in keepalived. The fifo
  line is written at the change itself, so it may reach the fifo's reader before the scripts of
  the same change have started (they are queued, below); fifo lines keep the order of changes.
- A GROUP always reports priority 0. A DELETED state without `notify_deleted` (and always for a
  group) is reported as FAULT, for compatibility with older keepalived.
- `MASTER_RX_LOWER_PRI` runs `notify_master_rx_lower_pri` (configured arguments only) and writes
  the fifo line; `MASTER_PRIORITY`/`BACKUP_PRIORITY` only write the fifo line, and only when
  priority change notifications are enabled (the caller decides).
- Each script runs as its configured user/group, else the global `script_user`/`script_group`,
  else the user `keepalived_script` if it exists, else as root; with that user's supplementary
  groups; stdin/stdout/stderr on /dev/null; in its own process group; cwd `/`; without IFS,
  LD_PRELOAD, LD_LIBRARY_PATH in its environment.
- Every script is checked before it may run (script_launch.vet_command: PATH search, executable
  for its user, and under `enable_script_security` the ownership and mode of every path
  component): `prepare()` checks all of a configuration's scripts at start and at each reload,
  logging each refusal once; a script that was refused is never started, and one that was
  never checked is checked before its first start. A refused script is logged
  (`... - disabling`) and not run - never handed to a shell instead. Exit 127 and 126 are logged
  as "Couldn't find command" / "Couldn't execute command".
- Start order is request order, but not inside the caller's call: a state change only queues
  its scripts, and the queue is started from a callback of its own, for at most START_BUDGET
  of each loop pass, after the timers and I/O that were due (adverts first). A burst of state
  changes (100 instances going FAULT on one tracker) then costs the pass that made it no fork
  at all, and the starts are spread over the next passes instead of stalling one. A script's
  timeout counts from its actual start.
- Timeouts (vipkeeper's addition for non-STOP scripts; keepalived lets them run forever): a
  script still running at its deadline gets SIGTERM on its whole process group, then SIGKILL
  after a grace period. STOP scripts get keepalived's 1 s. Every child is reaped: no zombies.

Theory of operation
`Popen` forks and execs (half a millisecond to a few, no waiting for the script), a pidfd for the
child is registered with the loop, and the pidfd becoming readable is the exit. Timers are
`loop.call_later` handles. The process group is signalled only while its leader is unreaped
(alive or a zombie we have not collected), so the group id cannot have been reused: when a
timed-out leader dies, its group is SIGKILLed once more before the leader is reaped, which takes
out children that ignored SIGTERM. Nothing here uses threads or asyncio's child watcher.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Iterable, Sequence
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Literal, Protocol

    class FifoWriter(Protocol):
        """What the runner needs of a notify fifo (notify/fifo.py's NotifyFifo): one line per event.
        Named here, so that fifo.py imports this module and never the other way round."""

        def write(self, kind: str, name: str, state: str, priority: int) -> None: ...

    Kind = Literal["INSTANCE", "GROUP"]

from vipkeeper.config.model import Notifies, ScriptCommand
from vipkeeper.records import field, record
from vipkeeper.script_launch import (
    Identity,
    Vetted,
    command_argv,
    launch,
    resolve_identity,
    vet_command,
)
from vipkeeper.script_users import ScriptUsers

log = logging.getLogger("vipkeeper.notify")

STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")
EVENTS = ("MASTER_RX_LOWER_PRI", "MASTER_PRIORITY", "BACKUP_PRIORITY")

DEFAULT_TIMEOUT = 30.0
STOP_TIMEOUT = 1.0
KILL_GRACE = 1.0
_POLL_FALLBACK = 0.05
# Seconds of starting children per loop pass (a start costs 0.5-3 ms: vfork+exec, more with a
# user switch or a loaded host); what is left waits for the next pass, behind the timers due.
START_BUDGET = 0.001


@record(eq=False)
class RunningScript:
    """One started script: what it was, and how it ended (returncode None while running)."""

    description: str
    popen: subprocess.Popen | None  # None while queued (and for good if it could not start)
    started: float  # monotonic time of the start (of the request while queued)
    timeout: float | None
    argv: tuple[str, ...] = ()
    identity: Identity | None = field(default=None, repr=False)
    timed_out: bool = False
    start_error: str | None = None  # why it could not be started (then returncode stays None)
    returncode: int | None = None
    done: asyncio.Future = field(repr=False, default=None)  # type: ignore[assignment]
    _timers: list[asyncio.TimerHandle] = field(default_factory=list, repr=False)
    _pidfd: int | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """The child's pid (its process group); 0 while it is queued or if it never started."""
        return self.popen.pid if self.popen is not None else 0


class NotifyRunner:
    """Starts notify scripts and writes fifo lines for the daemon; owns every child it starts."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        default_user: str | None = None,
        default_group: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
        kill_grace: float = KILL_GRACE,
        script_security: bool = False,
    ) -> None:
        self._loop = loop
        self.default_user = default_user
        self.default_group = default_group
        self.script_security = script_security
        self.vetted: dict[ScriptCommand, Vetted] = {}
        self.refused_runs = 0
        self.timeout = timeout
        self.stop_timeout = stop_timeout
        self.kill_grace = kill_grace
        self.running: set[RunningScript] = set()
        self._queue: deque[RunningScript] = deque()  # accepted, not started yet (start order)
        self._pump: asyncio.TimerHandle | None = None
        self.start_budget = START_BUDGET
        self.deferred_passes = 0  # loop passes that left starts for the next one (a burst)
        # Users resolved when the configuration was read (script_users.py): no NSS lookup here.
        self.users: ScriptUsers | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # -- what the daemon calls -----------------------------------------------------------

    def notify(
        self,
        kind: Kind,
        name: str,
        state: str,
        priority: int,
        notifies: Notifies,
        fifos: Iterable[FifoWriter] = (),
    ) -> list[RunningScript]:
        """A state change: state script, then generic `notify` (queued, in that order), then the
        fifo lines (written now)."""
        if kind not in ("INSTANCE", "GROUP"):
            raise ValueError(f"notify kind must be INSTANCE or GROUP, not {kind!r}")
        if state not in STATES:
            raise ValueError(f"notify state must be one of {', '.join(STATES)}, not {state!r}")
        if kind == "GROUP":
            priority = 0
        if state == "DELETED" and (kind == "GROUP" or notifies.deleted is None):
            state = "FAULT"
        timeout = self.stop_timeout if state == "STOP" else self.timeout
        started: list[RunningScript] = []
        script = {
            "MASTER": notifies.master,
            "BACKUP": notifies.backup,
            "FAULT": notifies.fault,
            "STOP": notifies.stop,
            "DELETED": notifies.deleted,
        }[state]
        if script is not None:
            run = self.run(script, timeout=timeout, what=f"({name}) notify_{state.lower()}")
            if run:
                started.append(run)
        if notifies.generic is not None:
            run = self.run(notifies.generic, (kind, name, state, str(priority)), timeout=timeout,
                           what=f"({name}) notify")
            if run:
                started.append(run)
        for fifo in fifos:
            fifo.write(kind, name, state, priority)
        return started

    def notify_event(
        self,
        kind: Kind,
        name: str,
        event: str,
        priority: int,
        notifies: Notifies,
        fifos: Iterable[FifoWriter] = (),
    ) -> list[RunningScript]:
        """An event that is not a state: MASTER_RX_LOWER_PRI, MASTER_PRIORITY, BACKUP_PRIORITY."""
        if event not in EVENTS:
            raise ValueError(f"notify event must be one of {', '.join(EVENTS)}, not {event!r}")
        if kind == "GROUP":
            priority = 0
        started: list[RunningScript] = []
        if event == "MASTER_RX_LOWER_PRI" and notifies.master_rx_lower_pri is not None:
            run = self.run(notifies.master_rx_lower_pri, timeout=self.timeout,
                           what=f"({name}) notify_master_rx_lower_pri")
            if run:
                started.append(run)
        for fifo in fifos:
            fifo.write(kind, name, event, priority)
        return started

    def prepare(self, commands: Iterable[ScriptCommand], *, default_user: str | None = None,
                default_group: str | None = None, script_security: bool = False) -> dict[ScriptCommand, Vetted]:
        """Check every script of a configuration (at start and at each reload) and keep the
        verdicts; each refusal is logged here, once. Returns the verdicts."""
        self.default_user, self.default_group = default_user, default_group
        self.script_security = script_security
        self.vetted = {}
        for command in commands:
            if command not in self.vetted:
                self.vetted[command] = self._vet(command)
        return self.vetted

    def _vet(self, command: ScriptCommand) -> Vetted:
        try:
            identity = self.credentials(command)
        except LookupError as exc:
            log.error("Script %s: %s - disabling", command.command, exc)
            return Vetted((), None, refused=str(exc))
        verdict = vet_command(command.argv, command.command, identity, self.script_security)
        if verdict.refused:
            log.warning("%s - disabling%s", verdict.refused,
                        f" ({'; '.join(verdict.unsafe)})" if verdict.unsafe else "")
        elif verdict.unsafe:
            log.warning("Unsafe permissions found for script '%s' (%s)", command.command, "; ".join(verdict.unsafe))
        return verdict

    def verdict(self, command: ScriptCommand) -> Vetted:
        verdict = self.vetted.get(command)
        if verdict is None:
            verdict = self.vetted[command] = self._vet(command)
        return verdict

    def run(
        self,
        command: ScriptCommand,
        extra_args: Sequence[str] = (),
        *,
        timeout: float | None = None,
        what: str | None = None,
    ) -> RunningScript | None:
        """Queue one script to start (module rules: in request order, from the next loop pass);
        None (and a log line) when it is refused and will not run."""
        description = what or command.command
        verdict = self.verdict(command)
        if not verdict.ok or verdict.identity is None:
            self.refused_runs += 1
            log.info("%s: not running %r: disabled (%s)", description, command.command, verdict.refused)
            return None
        run = RunningScript(description, None, time.monotonic(), timeout,
                            argv=tuple(command_argv(verdict, extra_args)), identity=verdict.identity)
        run.done = self.loop.create_future()
        self.running.add(run)
        self._queue.append(run)
        if self._pump is None:
            # a timer due now: the next pass runs it after the I/O and the timers already due
            self._pump = self.loop.call_at(self.loop.time(), self._start_queued)
        return run

    def _start_queued(self) -> None:
        self._pump = None
        deadline = time.perf_counter() + self.start_budget
        while self._queue:
            self._start(self._queue.popleft())
            if time.perf_counter() >= deadline:
                break
        if self._queue:
            self.deferred_passes += 1
            self._pump = self.loop.call_at(self.loop.time(), self._start_queued)

    def _start(self, run: RunningScript) -> None:
        assert run.identity is not None
        try:
            argv, options = launch(run.argv, run.identity)
            run.popen = subprocess.Popen(argv, **options)
        except OSError as exc:
            run.start_error = exc.strerror or str(exc)
            log.error("%s: cannot run %r: %s", run.description, shlex.join(run.argv), run.start_error)
            self.running.discard(run)
            if not run.done.done():
                run.done.set_result(None)
            return
        run.started = time.monotonic()
        self._watch(run)
        if run.timeout is not None:
            run._timers.append(self.loop.call_later(run.timeout, self._expire, run))
        log.debug("%s: started %s as %s (pid %d)", run.description, shlex.join(run.argv), run.identity.name,
                  run.pid)

    def _unqueue(self, run: RunningScript) -> bool:
        """Drop a run that has not started yet (shutdown, a reload): True if it was queued."""
        if run.popen is not None or run not in self._queue:
            return False
        self._queue.remove(run)
        run.start_error = "not started (stopped before its turn)"
        self.running.discard(run)
        if not run.done.done():
            run.done.set_result(None)
        return True

    async def drain(self, timeout: float = STOP_TIMEOUT) -> None:
        """At shutdown: wait up to `timeout` for running scripts, then kill and reap the rest."""
        pending = [r.done for r in self.running]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        for run in list(self.running):
            if self._unqueue(run):
                log.warning("%s: not started by shutdown - dropped", run.description)
                continue
            log.warning("%s: still running at shutdown, killing process group %d", run.description, run.pid)
            run.timed_out = True
            self._signal(run, signal.SIGKILL)
        pending = [r.done for r in self.running]
        if pending:
            await asyncio.wait(pending, timeout=max(self.kill_grace, 1.0))

    async def finish(self, runs: Iterable[RunningScript], timeout: float = STOP_TIMEOUT) -> None:
        """Give these scripts `timeout` to exit by themselves (a fifo script at end-of-file),
        then kill their process groups and reap them."""
        runs = [r for r in runs if r.returncode is None]
        if runs:
            await asyncio.wait([r.done for r in runs], timeout=timeout)
        late = [r for r in runs if r.returncode is None and not self._unqueue(r)]
        for run in late:
            log.warning("%s: still running, killing process group %d", run.description, run.pid)
            run.timed_out = True
            self._signal(run, signal.SIGKILL)
        if late:
            await asyncio.wait([r.done for r in late], timeout=max(self.kill_grace, 1.0))

    # -- who and what --------------------------------------------------------------------

    def credentials(self, command: ScriptCommand) -> Identity:
        """The user/group the script runs as, keepalived's order of defaults."""
        if self.users is not None:
            return self.users.resolve(command.user, command.group, self.default_user, self.default_group,
                                      script_security=self.script_security)
        return resolve_identity(command.user, command.group, self.default_user, self.default_group,
                                script_security=self.script_security)

    # -- children ------------------------------------------------------------------------

    def _watch(self, run: RunningScript) -> None:
        try:
            run._pidfd = os.pidfd_open(run.pid)
        except OSError:
            run._pidfd = None
        if run._pidfd is not None:
            self.loop.add_reader(run._pidfd, self._exited, run)
        else:
            run._timers.append(self.loop.call_later(_POLL_FALLBACK, self._poll, run))

    def _poll(self, run: RunningScript) -> None:
        """Without pidfd: look for the exit without reaping, so `_exited` may still signal."""
        try:
            exited = os.waitid(os.P_PID, run.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            exited = True
        if exited is None:
            run._timers.append(self.loop.call_later(_POLL_FALLBACK, self._poll, run))
        else:
            self._exited(run)

    def _exited(self, run: RunningScript) -> None:
        assert run.popen is not None
        if run.timed_out:
            # The leader is a zombie we have not reaped: its group id is still ours to signal.
            self._signal(run, signal.SIGKILL)
        run.popen.wait()
        self._finish(run)

    def _finish(self, run: RunningScript) -> None:
        if run._pidfd is not None:
            self.loop.remove_reader(run._pidfd)
            os.close(run._pidfd)
            run._pidfd = None
        for timer in run._timers:
            timer.cancel()
        run._timers.clear()
        assert run.popen is not None
        run.returncode = run.popen.returncode
        self.running.discard(run)
        code = run.returncode
        elapsed = time.monotonic() - run.started
        if run.timed_out:
            log.warning("%s: killed after %.1fs (timeout)", run.description, elapsed)
        elif code == 127:
            log.error("%s: Couldn't find command: %s", run.description, shlex.join(run.argv))
        elif code == 126:
            log.error("%s: Couldn't execute command: %s", run.description, shlex.join(run.argv))
        elif code:
            log.info("%s: exited with status %s after %.3fs", run.description, code, elapsed)
        if not run.done.done():
            run.done.set_result(code)

    def _expire(self, run: RunningScript) -> None:
        if run.returncode is not None:
            return
        log.warning("%s: timed out after %gs, terminating process group %d",
                    run.description, run.timeout, run.pid)
        run.timed_out = True
        self._signal(run, signal.SIGTERM)
        run._timers.append(self.loop.call_later(self.kill_grace, self._signal, run, signal.SIGKILL))

    @staticmethod
    def _signal(run: RunningScript, sig: int) -> None:
        if run.returncode is not None or run.popen is None:
            return  # reaped: the group id may belong to someone else now
        try:
            os.killpg(run.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            log.error("%s: cannot signal process group %d: %s", run.description, run.pid, exc)
