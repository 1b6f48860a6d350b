"""Which processes match which `vrrp_track_process`, and when a tracker has quorum.

Everything that decides a track_process status lives in this file. It reads nothing: no /proc, no
clock, no sockets. The shell (proc_connector.py) reads process names and hands them in with the
events; time comes in as `now` (seconds, any monotonic origin).

Rules (keepalived 2.2.7, core/track_process.c; research notes §4)
- Matching. A tracker without parameters and without `full_command` matches the process name
  (comm) exactly, as `pgrep '^name$'`; comm is at most 15 characters, so a longer configured name
  never matches (keepalived's behaviour; `lint` should say so). With `full_command`, parameters or
  `param_match`, argv[0] must equal `process` exactly, and the parameters are compared as
  keepalived does on the NUL-joined argument list: exact = the same list; partial = the
  configured parameters are the first ones; initial = like partial but the last configured one may
  be a prefix of the real one. `param_match` with no parameters: exact = no parameters at all,
  partial/initial = any.
- Quorum: OK iff quorum <= count <= quorum_max (None = unbounded).
- Events, applied one by one in kernel order:
  Exec(pid, info): the process may start or stop matching; a new match counts at once (no
    fork_delay) and cancels a pending terminate timer; a lost match counts at once and cancels a
    pending fork timer.
  Fork(parent, child): a child of a tracked process joins the parent's trackers. If that makes the
    count reach quorum (or pass quorum_max): a pending terminate timer is cancelled (the
    restart bounce is suppressed); else with fork_delay a fork timer starts; else it counts at once.
  Exit(pid): the process leaves its trackers. If the count falls below quorum (or back to
    quorum_max): a pending fork timer is cancelled; else with terminate_delay a terminate timer
    starts; else it counts at once. An Exit carrying `start` (a pidfd confirmation) removes the
    entry only if it is that very process, so a late confirmation never removes a reused PID.
  Comm(pid, name): a name change; name trackers are re-checked at once, full_command ones not.
  A timer's expiry re-evaluates quorum from the count.
  Only a flip of the boolean is a status change.
- Snapshot (start-up and every rescan) is a diff against the table: PIDs that vanished are Exits,
  new PIDs are Execs, known PIDs are re-checked (a different start time means the PID was reused:
  Exit then Exec). The first snapshot sets every tracker's initial status without delay, and
  every tracker is reported once.
- Events queued while a scan ran are merged by time (`fresh_events`): an event older than the
  scan's read of its PID is already reflected in the snapshot and is dropped.

Theory of operation: a dict pid -> entry (info, set of tracker names) and per tracker a count, the
boolean status and at most one pending timer deadline of each kind. `handle_batch` applies a run of
events and reports only trackers whose status differs at the end from the start of the batch, so
a process that appears and vanishes within one batch never shows as a flip.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Iterable, Mapping, Sequence

from vipkeeper.config.model import TrackProcess
from vipkeeper.records import factory, record
from vipkeeper.track.procfs import ProcessInfo

__all__ = [
    "ProcessInfo", "Exec", "Fork", "Exit", "Comm", "Snapshot", "StatusChange", "ProcessTable",
    "matches", "uses_cmdline", "fresh_events",
]


@record(frozen=True)
class Exec:
    pid: int
    info: ProcessInfo | None  # None: the process was already gone when the shell looked
    ts_ns: int = 0


@record(frozen=True)
class Fork:
    parent: int
    child: int
    ts_ns: int = 0


@record(frozen=True)
class Exit:
    pid: int
    ts_ns: int = 0
    start: int | None = None  # set by pidfd confirmations: which process exited


@record(frozen=True)
class Comm:
    pid: int
    comm: str
    ts_ns: int = 0


Event = Exec | Fork | Exit | Comm  # types.UnionType: typing.Union would import typing


@record(frozen=True)
class Snapshot:
    """The processes that matter, as one scan of /proc saw them.

    `processes` holds every running process that matches some tracker (it may hold others; they
    are ignored); a PID absent from it is not running. `read_ns[pid]` is when that PID was read
    and `started_ns` when the scan began, on the clock of the events' `ts_ns`.
    """

    processes: Mapping[int, ProcessInfo]
    started_ns: int = 0
    read_ns: Mapping[int, int] = factory(dict)


@record(frozen=True)
class StatusChange:
    name: str
    has_quorum: bool


def uses_cmdline(spec: TrackProcess) -> bool:
    return bool(spec.full_command or spec.params or spec.param_match is not None)


def _params_match(spec: TrackProcess, params: Sequence[str]) -> bool:
    mode = spec.param_match or ("exact" if spec.params else None)
    if mode is None:
        return True
    want = "\0".join(spec.params)
    have = "\0".join(params)
    if mode == "exact":
        return tuple(params) == tuple(spec.params)
    if not spec.params:
        return True
    if mode == "partial":
        return len(params) >= len(spec.params) and tuple(params[: len(spec.params)]) == tuple(spec.params)
    # initial: the NUL-joined real list starts with the NUL-joined configured list
    return have.startswith(want)


def matches(spec: TrackProcess, info: ProcessInfo) -> bool:
    """Does this process count for this tracker (keepalived's rules, see the module docstring)."""
    if not uses_cmdline(spec):
        return info.comm == spec.process
    if not info.argv:
        return False
    return info.argv[0] == spec.process and _params_match(spec, info.argv[1:])


def _pid_of(event: Event) -> int:
    return event.child if isinstance(event, Fork) else event.pid


def fresh_events(snapshot: Snapshot, events: Iterable[Event]) -> list[Event]:
    """The queued events a snapshot does not already reflect, in their order.

    An event about PID p that happened before the scan read p (or, for PIDs the scan did not
    list, before the scan began) is older than what the snapshot says about p.
    """
    out = []
    for ev in events:
        pid = _pid_of(ev)
        if ev.ts_ns < snapshot.read_ns.get(pid, snapshot.started_ns):
            continue
        out.append(ev)
    return out


@record
class _Tracker:
    spec: TrackProcess
    count: int = 0
    have_quorum: bool | None = None  # None until the first snapshot
    fork_deadline: float | None = None
    terminate_deadline: float | None = None

    @property
    def quorum(self) -> int:
        return 0 if self.spec.quorum_max == 0 else self.spec.quorum

    def ok(self, n: int) -> bool:
        spec = self.spec
        qmax = spec.quorum_max
        quorum = 0 if qmax == 0 else spec.quorum  # `quorum`, inline: on a failover's path
        return quorum <= n and (qmax is None or n <= qmax)

    def crossing_up(self) -> bool:
        """After an increment: did the count just reach quorum or just pass quorum_max?"""
        qmax = self.spec.quorum_max
        return self.count == self.quorum or (qmax is not None and self.count == qmax + 1)

    def crossing_down(self) -> bool:
        """After a decrement: did the count just drop below quorum or just back to quorum_max?"""
        spec = self.spec
        qmax = spec.quorum_max
        quorum = 0 if qmax == 0 else spec.quorum  # `quorum`, inline: on a failover's path
        return self.count + 1 == quorum or (qmax is not None and self.count == qmax)


@record
class _Entry:
    info: ProcessInfo | None  # None for a forked child never exec'd or read
    trackers: set[str] = factory(set)


class ProcessTable:
    """The pure state of all `vrrp_track_process` trackers; see the module docstring."""

    def __init__(self, specs: Iterable[TrackProcess]) -> None:
        self._trackers: dict[str, _Tracker] = {s.name: _Tracker(s) for s in specs}
        self._procs: dict[int, _Entry] = {}
        self._changes: list[StatusChange] = []
        self.loaded = False
        self.names = frozenset(t.spec.process for t in self._trackers.values() if not uses_cmdline(t.spec))
        self.need_argv = any(uses_cmdline(t.spec) for t in self._trackers.values())

    # -- queries -------------------------------------------------------------------------------
    def status(self, name: str) -> bool | None:
        return self._trackers[name].have_quorum

    def count(self, name: str) -> int:
        return self._trackers[name].count

    def statuses(self) -> dict[str, bool | None]:
        return {n: t.have_quorum for n, t in self._trackers.items()}

    def pids(self) -> set[int]:
        """PIDs that currently count for some tracker (the shell holds a pidfd on each)."""
        return set(self._procs)

    def pids_of(self, name: str) -> set[int]:
        return {pid for pid, e in self._procs.items() if name in e.trackers}

    def info(self, pid: int) -> ProcessInfo | None:
        e = self._procs.get(pid)
        return e.info if e else None

    def interesting(self, info: ProcessInfo) -> bool:
        """Could this process match some tracker? (The shell's cheap pre-filter.)"""
        return any(matches(t.spec, info) for t in self._trackers.values())

    def next_deadline(self) -> float | None:
        ds = [d for t in self._trackers.values() for d in (t.fork_deadline, t.terminate_deadline) if d is not None]
        return min(ds) if ds else None

    # -- status bookkeeping ----------------------------------------------------------------------
    def _set_status(self, t: _Tracker, up: bool) -> None:
        if t.have_quorum is None or t.have_quorum == up:
            return
        t.have_quorum = up
        self._changes.append(StatusChange(t.spec.name, up))

    def _take(self) -> list[StatusChange]:
        out, self._changes = self._changes, []
        return out

    def _add(self, pid: int, t: _Tracker, now: float, via_fork: bool) -> None:
        self._procs[pid].trackers.add(t.spec.name)
        t.count += 1
        if not t.crossing_up():
            return
        if t.terminate_deadline is not None:
            t.terminate_deadline = None  # bounce suppressed: the status never went down
        elif via_fork and t.spec.fork_delay > 0:
            t.fork_deadline = now + t.spec.fork_delay
            return
        self._set_status(t, t.ok(t.count))

    def _remove(self, pid: int, t: _Tracker, now: float, via_exit: bool) -> None:
        self._procs[pid].trackers.discard(t.spec.name)
        t.count -= 1
        if not t.crossing_down():
            return
        if t.fork_deadline is not None:
            t.fork_deadline = None  # bounce suppressed: the fork never counted
        elif via_exit and t.spec.terminate_delay > 0:
            t.terminate_deadline = now + t.spec.terminate_delay
            return
        self._set_status(t, t.ok(t.count))

    def _drop_entry_if_empty(self, pid: int) -> None:
        e = self._procs.get(pid)
        if e is not None and not e.trackers:
            del self._procs[pid]

    # -- events ----------------------------------------------------------------------------------
    def _exit(self, pid: int, now: float, start: int | None = None) -> None:
        e = self._procs.get(pid)
        if e is None:
            return
        if start is not None and e.info is not None and e.info.start and e.info.start != start:
            return  # a confirmation for an earlier process that had this PID
        for name in sorted(e.trackers):
            self._remove(pid, self._trackers[name], now, via_exit=True)
        del self._procs[pid]

    def _exec(self, pid: int, info: ProcessInfo | None, now: float) -> None:
        if info is None:
            return  # gone before it could be read: its Exit follows
        e = self._procs.get(pid)
        if e is not None and e.info is not None and e.info.start and info.start and e.info.start != info.start:
            self._exit(pid, now)  # the PID was reused and the old exit was missed
            e = None
        if e is None:
            e = self._procs[pid] = _Entry(info)
        else:
            e.info = info
        for t in self._trackers.values():
            member = t.spec.name in e.trackers
            match = matches(t.spec, info)
            if match and not member:
                self._add(pid, t, now, via_fork=False)
            elif member and not match:
                self._remove(pid, t, now, via_exit=False)
        self._drop_entry_if_empty(pid)

    def _fork(self, parent: int, child: int, now: float) -> None:
        pe = self._procs.get(parent)
        if pe is None or not pe.trackers:
            return
        ce = self._procs.get(child)
        if ce is None:
            inherited = pe.info and ProcessInfo(comm=pe.info.comm, argv=pe.info.argv, start=0)
            ce = self._procs[child] = _Entry(inherited)
        for name in sorted(pe.trackers):
            if name not in ce.trackers:
                self._add(child, self._trackers[name], now, via_fork=True)

    def _comm(self, pid: int, comm: str, now: float) -> None:
        e = self._procs.get(pid)
        old = e.info if e is not None else None
        if old is None:
            old = ProcessInfo(comm=comm)
        info = ProcessInfo(comm=comm, argv=old.argv, start=old.start)
        if e is None:
            e = self._procs[pid] = _Entry(info)
        else:
            e.info = info
        for t in self._trackers.values():
            if uses_cmdline(t.spec):
                continue  # a name change says nothing about the command line
            member = t.spec.name in e.trackers
            match = comm == t.spec.process
            if member and not match:
                self._remove(pid, t, now, via_exit=False)
            elif match and not member:
                self._add(pid, t, now, via_fork=False)
        self._drop_entry_if_empty(pid)

    def _apply(self, event: Event, now: float) -> None:
        if isinstance(event, Exec):
            self._exec(event.pid, event.info, now)
        elif isinstance(event, Exit):
            self._exit(event.pid, now, event.start)
        elif isinstance(event, Fork):
            self._fork(event.parent, event.child, now)
        elif isinstance(event, Comm):
            self._comm(event.pid, event.comm, now)
        else:  # pragma: no cover - a programming error, not input
            raise TypeError(f"not a process event: {event!r}")

    def handle(self, event: Event, now: float) -> list[StatusChange]:
        """Apply one event; the status flips it caused (net: a reused PID is not a flip).

        An Exit (a pidfd's: the Master's way to a failover) touches each of its trackers once,
        so the flips it records are its net flips: taken as recorded, in the trackers' order."""
        if event.__class__ is Exit and not self._changes:
            self._exit(event.pid, now, event.start)  # type: ignore[union-attr]
            out, self._changes = self._changes, []
            if len(out) > 1:
                flipped = {c.name: c for c in out}
                out = [flipped[n] for n in self._trackers if n in flipped]
            return out
        return self.handle_batch((event,), now)

    def handle_batch(self, events: Iterable[Event], now: float) -> list[StatusChange]:
        """Apply a run of events that arrived together; report net flips only."""
        before = {n: t.have_quorum for n, t in self._trackers.items()}
        for ev in events:
            self._apply(ev, now)
        self._take()
        return [StatusChange(n, t.have_quorum) for n, t in self._trackers.items()
                if t.have_quorum is not None and t.have_quorum != before[n]]

    def expire(self, now: float) -> list[StatusChange]:
        """Fire the fork/terminate timers that are due."""
        for t in self._trackers.values():
            if t.fork_deadline is not None and t.fork_deadline <= now:
                t.fork_deadline = None
                self._set_status(t, t.ok(t.count))
            if t.terminate_deadline is not None and t.terminate_deadline <= now:
                t.terminate_deadline = None
                self._set_status(t, t.ok(t.count))
        return self._take()

    def apply_snapshot(self, snapshot: Snapshot, now: float,
                       events: Iterable[Event] = ()) -> list[StatusChange]:
        """Load (first call) or diff against a scan, then apply the events queued meanwhile."""
        if not self.loaded:
            return self._load(snapshot, now, events)
        before = {n: t.have_quorum for n, t in self._trackers.items()}
        seen = snapshot.processes
        for pid in list(self._procs):
            if pid not in seen:
                self._exit(pid, now)
        for pid, info in seen.items():
            e = self._procs.get(pid)
            if e is None and not self.interesting(info):
                continue
            self._exec(pid, info, now)
        for ev in fresh_events(snapshot, events):
            self._apply(ev, now)
        self._take()
        return [StatusChange(n, t.have_quorum) for n, t in self._trackers.items()
                if t.have_quorum is not None and t.have_quorum != before[n]]

    def _load(self, snapshot: Snapshot, now: float, events: Iterable[Event]) -> list[StatusChange]:
        for pid, info in snapshot.processes.items():
            for t in self._trackers.values():
                if matches(t.spec, info):
                    self._procs.setdefault(pid, _Entry(info)).trackers.add(t.spec.name)
                    t.count += 1
        for t in self._trackers.values():
            t.have_quorum = t.ok(t.count)
        self.loaded = True
        for ev in fresh_events(snapshot, events):
            self._apply(ev, now)
        self._take()
        return [StatusChange(n, bool(t.have_quorum)) for n, t in self._trackers.items()]
