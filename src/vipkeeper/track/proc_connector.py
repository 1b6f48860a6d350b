"""The process tracker's shell: kernel process events (or /proc rescans) in, status changes out.

Two ways to learn about processes, chosen once at start and logged once in plain words:

connector mode (initial network, PID and user namespace): a netlink process-connector socket
  (NETLINK_CONNECTOR, CN_IDX_PROC) delivers fork/exec/comm/exit events as they happen.
  Subscribe FIRST, then scan /proc, then apply the events queued meanwhile, dropping those the
  scan already reflects (by kernel timestamp, CLOCK_MONOTONIC; process_table.fresh_events).
  ENOBUFS (the socket queue overflowed: events were lost) -> raise the receive buffer, rescan the
  same way, count it. The subscription itself survives an overflow, and after `--netns` no new
  connector socket could be made (it would live in the wrong namespace), so the same socket is
  kept.
  A classic BPF filter on the socket drops, in the kernel, what can never matter: thread events
  (pid != tgid) and uid/gid/sid/ptrace/coredump events. Exec events must all pass (they carry no
  name), as must forks (the parent may be tracked) and exits. Because the filter drops events,
  the per-CPU sequence numbers have gaps by design; gap detection runs only without the filter.
fallback mode (the connector refuses: a non-initial network namespace -> ECONNREFUSED; or we run
  in a PID or user namespace, where the kernel ignores the subscription and its PIDs are not ours):
  a periodic /proc rescan (default every 0.2 s) finds processes that appear or change; exits
  are seen at once through pidfds.

Shortages (procfs.Shortage: out of file descriptors or memory) are not exits. A read that fails
for want of descriptors says nothing about the process: the table keeps what it knew, the
tracker logs once per episode, counts every failed read, and reads /proc again after
RETRY_FIRST, doubling up to RETRY_MAX, until a full scan succeeds (and says so). A pidfd that
cannot be opened for the same reason is retried by that scan; only ESRCH is an exit. In
connector mode a slow safety rescan (SAFETY_RESCAN_INTERVAL) also runs, so that whatever was
missed without a sign (no ENOBUFS, no gap) is found within that time.

pidfds are the safety net under the connector and the exit detector of fallback mode. A pidfd is
opened for a PID that counts for a tracker, then the process's start time is read from
/proc/PID/stat and compared with the one the table holds (so it is known to refer to that very
process; a mismatch, ESRCH or a zombie is an exit). A readable pidfd confirms that process's exit
even if the connector missed it, so a dead service can never stay "up" through a reused PID.
When the pidfd is opened:
- fallback mode, and after any /proc scan (start-up, overflow, gap): at once, for every PID;
- connector mode, a PID that came from an event: only once it has counted for PIDFD_DELAY
  (20 ms). The connector reports the exit of every process anyway; under churn most matching
  processes live a millisecond or two, and opening, polling and closing a pidfd for each of them
  was a fifth of the tracker's CPU. The table already holds the start time read with the name
  at exec, so a pidfd opened late still detects an exit the connector lost, and a PID reused
  meanwhile (start time differs). Before opening, the due timer drains the connector, so an
  exit already queued is taken from there, not mistaken for a lost one. A PID whose start time
  the table does not know (a forked child of a tracked process, a name change) gets its pidfd
  at once, as it has nothing to compare a late stat with.

Cost under churn (every fork, exec and exit of the machine reaches us; keepalived does the same
work in C). On this kind of host a wake-up of the event loop costs more than handling a few
events, so the tracker wakes per batch, not per event:
- idle: the socket's reader drains at once, so an exit after a quiet spell is seen without delay;
- streaming (a wake-up within BUSY_WINDOW, 2 ms, of the previous drain): the reader is removed and
  a STREAM_TICK (4 ms) timer drains instead, as long as each tick finds events; the first empty
  tick puts the reader back. While streaming an exit is seen at most STREAM_TICK (plus timer
  slack) late. Batches also let a short-lived process exec and exit inside one batch, and such
  a process is never read at all.
Per event: one recv_into into one buffer and one struct unpack; events that cannot concern a
tracker (a fork of an untracked parent, the exit of an unknown PID, an exec whose process exits
later in the same batch) never become objects, and an exec'd process is read only if its name
(/proc/PID/comm, the cheapest file) is a tracked one or its PID may already count. A drain stops
at the first exit of a PID that counts and applies the batch so far before receiving the rest
(a tracked process's exit behind a backlog of the machine's events starts its failover first).

The connector can be opened before the daemon enters its network namespace (`open_connector()`)
and handed to `ProcessTracker(...)` afterwards.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import select
import socket
import struct
import time
from collections import deque
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Callable, Container, Iterable, Sequence

from vipkeeper import log_hold
from vipkeeper.config.model import TrackProcess
from vipkeeper.records import record
from vipkeeper.track import procfs
from vipkeeper.track.connector_error import ConnectorUnavailable
from vipkeeper.track.process_table import (
    Comm, Event, Exec, Exit, Fork, ProcessTable, Snapshot, StatusChange,
)

log = logging.getLogger("vipkeeper.track")

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
NLMSG_DONE = 3
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2

PROC_EVENT_NONE = 0
PROC_EVENT_FORK = 0x1
PROC_EVENT_EXEC = 0x2
PROC_EVENT_COMM = 0x200
PROC_EVENT_EXIT = 0x80000000

SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33

# Fixed inode numbers of the initial namespaces (include/linux/proc_ns.h).
PROC_USER_INIT_INO = 0xEFFFFFFD
PROC_PID_INIT_INO = 0xEFFFFFFC

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
_EV_HDR = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
_EV_OFF = _NLMSGHDR.size + _CN_MSG.size  # 36: proc_event in the datagram
_DATA_OFF = _EV_OFF + _EV_HDR.size  # 52: event_data
# what, timestamp_ns and the first four words of event_data, from one datagram in one call
_RAW = struct.Struct("=36xI4xQiiii")
_RAW_SEQ = struct.Struct("=24xI8xII")  # cn_msg.seq, proc_event.what, proc_event.cpu
_COMM_OFF = _DATA_OFF + 8  # comm_proc_event.comm[16]

DEFAULT_RCVBUF = 8 * 1024 * 1024
DEFAULT_RESCAN_INTERVAL = 0.2
PIDFD_DELAY = 0.02  # s a PID from an event counts before its pidfd is opened (module docstring)
BUSY_WINDOW = 0.002  # s: a wake-up this soon after a drain means events are streaming in
STREAM_TICK = 0.004  # s between drains while they stream (module docstring)
SAFETY_RESCAN_INTERVAL = 30.0  # s between connector mode's safety rescans (module docstring)
RETRY_FIRST = 0.1  # s before /proc is read again after a shortage; doubles up to RETRY_MAX
RETRY_MAX = 2.0

# A raw event from `ProcessConnector.drain`: (what, pid, arg, timestamp_ns). pid is the process
# (for a fork: the parent's tgid); arg is the child's pid for a fork, the new name (bytes) for a
# comm change, 0 otherwise. Thread events are already dropped.
RawEvent = tuple




def to_event(raw: RawEvent) -> Event:
    """A raw connector event as a process_table event (exec without info: the shell reads it)."""
    what, pid, arg, ts = raw
    if what == PROC_EVENT_EXEC:
        return Exec(pid, None, ts)
    if what == PROC_EVENT_EXIT:
        return Exit(pid, ts)
    if what == PROC_EVENT_FORK:
        return Fork(pid, arg, ts)
    return Comm(pid, arg.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"), ts)


def bpf_program() -> list[tuple[int, int, int, int]]:
    """The classic BPF filter: keep process-level fork/exec/comm/exit and the ack, drop the rest.

    BPF loads words big-endian; the connector's fields are host (little-endian) order, so the
    constants are byte-swapped. Comparing pid with tgid needs no swap (both are loaded alike).
    """
    def be(v: int) -> int:
        return int.from_bytes(v.to_bytes(4, "little"), "big")

    LD_W_ABS, JEQ_K, JEQ_X, RET_K, ST, LDX_MEM = 0x20, 0x15, 0x1D, 0x06, 0x02, 0x61
    ACCEPT, DROP = 0xFFFFFFFF, 0
    # (code, jt, jf, k); jump offsets count from the next instruction
    prog = [
        (LD_W_ABS, 0, 0, _EV_OFF),            # 0  A = what
        (JEQ_K, 5, 0, be(PROC_EVENT_EXEC)),   # 1  -> 7
        (JEQ_K, 4, 0, be(PROC_EVENT_EXIT)),   # 2  -> 7
        (JEQ_K, 3, 0, be(PROC_EVENT_COMM)),   # 3  -> 7
        (JEQ_K, 7, 0, be(PROC_EVENT_FORK)),   # 4  -> 12
        (JEQ_K, 11, 0, PROC_EVENT_NONE),      # 5  -> 17 (the subscription ack)
        (RET_K, 0, 0, DROP),                  # 6  uid/gid/sid/ptrace/coredump
        (LD_W_ABS, 0, 0, _DATA_OFF + 4),      # 7  A = tgid
        (ST, 0, 0, 0),                        # 8  M[0] = A
        (LDX_MEM, 0, 0, 0),                   # 9  X = M[0]
        (LD_W_ABS, 0, 0, _DATA_OFF),          # 10 A = pid
        (JEQ_X, 5, 6, 0),                     # 11 pid == tgid ? 17 : 18
        (LD_W_ABS, 0, 0, _DATA_OFF + 12),     # 12 A = child_tgid
        (ST, 0, 0, 0),                        # 13
        (LDX_MEM, 0, 0, 0),                   # 14
        (LD_W_ABS, 0, 0, _DATA_OFF + 8),      # 15 A = child_pid
        (JEQ_X, 0, 1, 0),                     # 16 child_pid == child_tgid ? 17 : 18
        (RET_K, 0, 0, ACCEPT),                # 17
        (RET_K, 0, 0, DROP),                  # 18
    ]
    return prog


def _attach_filter(sock: socket.socket) -> None:
    prog = bpf_program()
    buf = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *ins) for ins in prog))
    fprog = struct.pack("=HxxxxxxQ", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def namespace_problem() -> str | None:
    """Why the connector's PIDs would not be ours, or None when we are in the initial namespaces."""
    try:
        if os.stat("/proc/self/ns/pid").st_ino != PROC_PID_INIT_INO:
            return "running inside a PID namespace"
        if os.stat("/proc/self/ns/user").st_ino != PROC_USER_INIT_INO:
            return "running inside a user namespace"
    except OSError as exc:
        return f"cannot inspect /proc/self/ns ({exc.strerror})"
    return None


class ProcessConnector:
    """A subscribed process-connector socket. Open it before entering another network namespace."""

    def __init__(self, sock: socket.socket, filtered: bool) -> None:
        self.sock = sock
        self.filtered = filtered
        self._last_seq: dict[int, int] = {}
        self._buf = bytearray(256)  # every datagram is received into this one buffer
        self.stopped = False  # the last drain ended at an exit in `stop` (more may be queued)

    @classmethod
    def open(cls, rcvbuf: int | None = None, use_filter: bool = True,
             ack_timeout: float = 0.5) -> "ProcessConnector":
        """Subscribe to process events; ConnectorUnavailable(reason) when this host cannot."""
        why = namespace_problem()
        if why:
            raise ConnectorUnavailable(why)
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                                 NETLINK_CONNECTOR)
        except OSError as exc:
            if exc.errno == errno.EPROTONOSUPPORT:
                raise ConnectorUnavailable("the kernel has no process connector (CONFIG_PROC_EVENTS)") from None
            raise ConnectorUnavailable(f"cannot open the process connector: {exc.strerror}") from None
        try:
            size = rcvbuf or DEFAULT_RCVBUF
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            sock.bind((0, CN_IDX_PROC))  # port 0: the kernel picks a unique one
            if use_filter:
                _attach_filter(sock)
            cls._send_op(sock, PROC_CN_MCAST_LISTEN)
            if not cls._await_ack(sock, ack_timeout):
                raise ConnectorUnavailable("the kernel did not confirm the process-event subscription")
        except ConnectorUnavailable:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            if exc.errno == errno.ECONNREFUSED:
                raise ConnectorUnavailable(
                    "inside a network namespace other than the initial one: the kernel refused the subscription") from None
            raise ConnectorUnavailable(f"process connector subscription failed: {exc.strerror}") from None
        return cls(sock, use_filter)

    @staticmethod
    def _send_op(sock: socket.socket, op: int) -> None:
        payload = struct.pack("=I", op)
        cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0)
        msg_len = _NLMSGHDR.size + len(cn) + len(payload)
        sock.send(_NLMSGHDR.pack(msg_len, NLMSG_DONE, 0, 0, 0) + cn + payload)

    @staticmethod
    def _await_ack(sock: socket.socket, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                return False
            try:
                while True:
                    data = sock.recv(256)
                    if len(data) >= _DATA_OFF and _EV_HDR.unpack_from(data, _EV_OFF)[0] == PROC_EVENT_NONE:
                        return True
            except BlockingIOError:
                continue

    def fileno(self) -> int:
        return self.sock.fileno()

    def grow_buffer(self) -> int:
        size = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) * 2
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        return size

    def drain(self, limit: int = 100000, stop: Container[int] = ()) -> tuple[list[RawEvent], bool, bool]:
        """Everything queued now: (raw events, overflowed, sequence gap seen).

        `stop`: PIDs whose exit ends the drain there, that exit the last event returned, and
        `stopped` set: the caller acts on it before receiving the rest (a tracked process's exit
        behind a backlog of the machine's other events starts a failover before that backlog
        is read).
        Gaps are looked for only on an unfiltered socket (the filter makes gaps by design), over
        every message including the thread events that are then dropped. This is the hot loop
        of the tracker: one recv_into and one unpack per message, a tuple per kept event.
        """
        self.stopped = False
        out: list[RawEvent] = []
        append = out.append
        buf = self._buf
        recv_into = self.sock.recv_into
        unpack = _RAW.unpack_from
        overflow = gap = False
        check = not self.filtered
        last = self._last_seq
        for _ in range(limit):
            try:
                n = recv_into(buf)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    overflow = True
                    last.clear()
                    continue
                raise
            if n < _DATA_OFF + 8:
                continue
            if check:
                seq, _, cpu = _RAW_SEQ.unpack_from(buf)
                prev = last.get(cpu)
                if prev is not None and seq != (prev + 1) & 0xFFFFFFFF:
                    gap = True
                last[cpu] = seq
            what, ts, a, b, c, d = unpack(buf)
            if what == PROC_EVENT_EXIT:
                if a == b:
                    append((what, a, 0, ts))
                    if a in stop:
                        self.stopped = True
                        break
            elif what == PROC_EVENT_EXEC:
                if a == b:
                    append((what, a, 0, ts))
            elif what == PROC_EVENT_FORK:
                if c == d:
                    append((what, b, c, ts))
            elif what == PROC_EVENT_COMM and a == b:
                append((what, a, bytes(buf[_COMM_OFF : _COMM_OFF + 16]), ts))
        return out, overflow, gap

    def forget_sequence(self) -> None:
        """After a rescan, start gap detection afresh."""
        self._last_seq.clear()

    def close(self) -> None:
        try:
            self._send_op(self.sock, PROC_CN_MCAST_IGNORE)
        except OSError:
            pass
        self.sock.close()


def open_connector(rcvbuf: int | None = None, use_filter: bool = True) -> tuple[ProcessConnector | None, str]:
    """(connector, "") or (None, reason): the daemon calls this before `--netns` switches."""
    try:
        return ProcessConnector.open(rcvbuf, use_filter), ""
    except ConnectorUnavailable as exc:
        return None, str(exc)


def _pidfd_alive(fd: int) -> bool:
    p = select.poll()
    p.register(fd, select.POLLIN)
    return not p.poll(0)


@record
class Counters:
    events: int = 0
    rescans: int = 0
    enobufs: int = 0
    seq_gaps: int = 0
    pidfd_exits: int = 0  # exits learnt from a pidfd before (or instead of) the connector
    shortages: int = 0  # reads of /proc or pidfd_open that failed for want of fds or memory


class ProcessTracker:
    """Feeds a ProcessTable from the kernel and reports status flips through `on_change`.

    `on_change(StatusChange(name, has_quorum))` is called from the event loop, once per flip, and
    once per tracker with its initial status when `start()` completes.
    """

    def __init__(self, specs: Sequence[TrackProcess], on_change: Callable[[StatusChange], None], *,
                 connector: ProcessConnector | None = None, connector_problem: str = "",
                 auto_connect: bool = True, rescan_interval: float = DEFAULT_RESCAN_INTERVAL,
                 rcvbuf: int | None = None, logger: logging.Logger = log) -> None:
        self.table = ProcessTable(specs)
        self.on_change = on_change
        self.rescan_interval = rescan_interval
        self.counters = Counters()
        self.log = logger
        self._connector = connector
        self._problem = connector_problem
        self._auto = auto_connect and connector is None and not connector_problem
        self._rcvbuf = rcvbuf
        self._names = frozenset(n.encode("utf-8", "surrogateescape") for n in self.table.names)
        self._pidfds: dict[int, tuple[int, int]] = {}  # pid -> (fd, start)
        self._pidfd_due: deque[tuple[float, int]] = deque()  # (when, pid): lazy pidfds, in time order
        self._pidfd_timer: asyncio.TimerHandle | None = None
        self._tick: asyncio.TimerHandle | None = None  # set while streaming: the next drain
        self._last_drain = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._rescan_task: asyncio.Task | None = None
        self._retry: asyncio.TimerHandle | None = None  # the next /proc read after a shortage
        self._retry_delay = RETRY_FIRST
        self._short_since: float | None = None  # set during a shortage episode
        self._safety: asyncio.TimerHandle | None = None
        self.safety_interval = SAFETY_RESCAN_INTERVAL
        self.mode = ""

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> dict[str, bool]:
        """Initial statuses. Raises procfs.ProcUnavailable (no /proc), ConnectorUnavailable
        (/proc of another PID namespace) or procfs.Shortage, each with a one-line message."""
        self._loop = asyncio.get_running_loop()
        procfs.check_mounted()
        if self._auto:
            self._connector, self._problem = open_connector(self._rcvbuf)
        if self._connector is not None:
            self.mode = "connector"
            self.log.info("process tracking: using the kernel process connector "
                          "(process starts and exits are reported at once)")
            self._full_scan(initial=True)
            self._loop.add_reader(self._connector.fileno(), self._on_readable)
            self._safety = self._loop.call_later(self.safety_interval, self._on_safety)
        else:
            self.mode = "rescan"
            if procfs_pid_mismatch():
                raise ConnectorUnavailable("/proc belongs to another PID namespace than this process; "
                                           "mount /proc for this namespace (unshare --mount-proc)")
            self.log.info("process tracking: kernel process connector unavailable (%s); using pidfd for "
                          "exits and a /proc rescan every %gs for new processes",
                          self._problem or "not requested", self.rescan_interval)
            self._full_scan(initial=True)
            self._rescan_task = self._loop.create_task(self._rescan_loop())
        return {n: bool(s) for n, s in self.table.statuses().items()}

    def stop(self) -> None:
        if self._loop is not None and self._connector is not None:
            try:
                self._loop.remove_reader(self._connector.fileno())
            except (ValueError, OSError):
                pass
        if self._connector is not None:
            self._connector.close()
            self._connector = None
        if self._rescan_task is not None:
            self._rescan_task.cancel()
            self._rescan_task = None
        for handle in (self._timer, self._pidfd_timer, self._tick, self._retry, self._safety):
            if handle is not None:
                handle.cancel()
        self._timer = self._pidfd_timer = self._tick = self._retry = self._safety = None
        self._pidfd_due.clear()
        for pid in list(self._pidfds):
            self._close_pidfd(pid)

    # -- reading processes ---------------------------------------------------------------------
    def _read(self, pid: int, known: bool) -> procfs.ProcessInfo | None:
        """A process's info if it might matter, else None. `known`: it may already count, so
        whatever its name is now matters."""
        if self.table.need_argv:
            return procfs.read_process(pid, True)
        return procfs.read_if_named(pid, None if known else self._names)

    def _read_or_retry(self, pid: int, known: bool) -> procfs.ProcessInfo | None:
        """`_read`, but a shortage leaves the process unknown and asks for a rescan."""
        try:
            return self._read(pid, known)
        except procfs.Shortage as exc:
            self._shortage(f"reading /proc/{pid}", exc)
            return None

    # -- shortages -----------------------------------------------------------------------------
    def _shortage(self, what: str, exc: OSError) -> None:
        """A read failed for want of fds or memory: count it, log once, read /proc again later."""
        self.counters.shortages += 1
        if self._short_since is None:
            self._short_since = self._now()
            self.log.warning("process tracking: %s failed (%s); keeping the known process states "
                             "and reading /proc again until it works", what, exc.strerror or exc)
        if self._retry is None and self._loop is not None:
            self._retry = self._loop.call_later(self._retry_delay, self._on_retry)
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)

    def _on_retry(self) -> None:
        self._retry = None
        if self.mode == "connector" and self._connector is not None:
            self._full_scan()
        else:
            self._rescan_once()

    def _recovered(self) -> None:
        if self._short_since is not None:
            self.log.warning("process tracking: /proc readable again after %.1fs (%d failed reads); "
                             "rescanned", self._now() - self._short_since, self.counters.shortages)
            self._short_since = None
        self._retry_delay = RETRY_FIRST

    def _on_safety(self) -> None:
        """Connector mode's slow safety rescan (module docstring)."""
        assert self._loop is not None
        self._safety = self._loop.call_later(self.safety_interval, self._on_safety)
        if self._connector is not None:
            self._full_scan()

    def _scan(self) -> Snapshot:
        started = time.monotonic_ns()
        table = self.table
        procs: dict[int, procfs.ProcessInfo] = {}
        read_ns: dict[int, int] = {}
        known = table._procs
        for pid in procfs.list_pids():
            t = time.monotonic_ns()
            if not table.need_argv:
                st = procfs.read_stat(pid)
                if st is None or st.state in ("Z", "X", "x"):
                    continue
                if st.comm not in table.names and pid not in known:
                    continue
                info = procfs.ProcessInfo(st.comm, None, st.start)
            else:
                info = procfs.read_process(pid, True)
                if info is None:
                    continue
            if pid not in known and not table.interesting(info):
                continue
            procs[pid] = info
            read_ns[pid] = t
        return Snapshot(procs, started, read_ns)

    def _full_scan(self, initial: bool = False) -> None:
        if not initial:
            self.counters.rescans += 1
        before = self.counters.shortages
        if initial:
            snap = self._scan()  # at start a shortage is the caller's error
        else:
            try:
                snap = self._scan()
            except procfs.Shortage as exc:
                self._shortage("rescanning /proc", exc)
                return
        queued: list[Event] = []
        if self._connector is not None:
            raw, overflow, _ = self._connector.drain()
            self._connector.forget_sequence()
            if overflow:
                self.counters.enobufs += 1
            self.counters.events += len(raw)
            queued, _ = self._events(raw, also_known=snap.processes)
        changes = self.table.apply_snapshot(snap, self._now(), queued)
        self._sync_pidfds()
        if self.counters.shortages == before:
            self._recovered()
        if initial:
            for ch in changes:
                self.log.info("Tracked process %s starts %s quorum (%d running)", ch.name,
                              "with" if ch.has_quorum else "without", self.table.count(ch.name))
                self.on_change(ch)
            self._arm_timer()
        else:
            self._emit(changes)

    def _events(self, raw: list[RawEvent], also_known: Container[int] = ()) -> tuple[list[Event], set[int]]:
        """The raw events that may concern a tracker, as table events (exec'd names read), and
        the PIDs they touch.

        Dropped: an exec whose process exits later in the batch (it is gone; its name cannot be
        read and its exit settles it), an exec of a process whose name matters to no tracker, a
        fork of a parent that neither counts nor may count by then, an exit of such a PID.
        "May count by then": it was exec'd, renamed or forked from a kept parent earlier in this
        batch. The one exception: the child of a parent exec'd in this batch but never read
        (the daemonising exec-fork-exit) is read itself, as keepalived would have counted it
        through the parent. `also_known`: PIDs a scan just found (not yet in the table).
        """
        procs = self.table._procs
        last_exit = {r[1]: i for i, r in enumerate(raw) if r[0] == PROC_EVENT_EXIT}
        maybe: set[int] = set()
        unread: set[int] = set()  # exec'd in this batch, but gone before we could read it
        out: list[Event] = []
        for i, (what, pid, arg, ts) in enumerate(raw):
            if what == PROC_EVENT_EXIT:
                if pid in procs or pid in maybe or pid in also_known:
                    out.append(Exit(pid, ts))
            elif what == PROC_EVENT_FORK:
                if pid in procs or pid in maybe or pid in also_known:
                    out.append(Fork(pid, arg, ts))
                    maybe.add(arg)
                elif pid in unread:
                    # a daemon that exec'd, forked and exited within one batch: its parent
                    # could not be read, so judge the child (alive, same name) by itself
                    info = self._read_or_retry(arg, False)
                    if info is not None:
                        out.append(Exec(arg, info, ts))
                        maybe.add(arg)
            elif what == PROC_EVENT_EXEC:
                known = pid in procs or pid in maybe or pid in also_known
                info = None if last_exit.get(pid, -1) > i else self._read_or_retry(pid, known)
                if info is not None:
                    out.append(Exec(pid, info, ts))
                    maybe.add(pid)
                else:
                    unread.add(pid)
            else:
                out.append(to_event((what, pid, arg, ts)))
                maybe.add(pid)
        touched = {ev.child if isinstance(ev, Fork) else ev.pid for ev in out}
        return out, touched

    # -- connector mode ------------------------------------------------------------------------
    def _on_readable(self) -> None:
        """The socket has data: drain it now. If the previous drain was only just before, events
        are streaming in: stop waking per event and drain on a STREAM_TICK timer instead."""
        assert self._loop is not None and self._connector is not None
        if self._loop.time() - self._last_drain < BUSY_WINDOW:
            self._loop.remove_reader(self._connector.fileno())
            self._tick = self._loop.call_later(STREAM_TICK, self._on_tick)
        self._drain()

    def _on_tick(self) -> None:
        """Streaming: drain what gathered; back to waking on the socket once a tick finds nothing."""
        self._tick = None
        if self._connector is None:
            return
        assert self._loop is not None
        got = 0
        try:
            got = self._drain()
        finally:  # even if handling failed, keep receiving
            if self._connector is None:
                pass  # stopped meanwhile
            elif got:
                self._tick = self._loop.call_later(STREAM_TICK, self._on_tick)
            else:
                self._loop.add_reader(self._connector.fileno(), self._on_readable)

    def _drain(self) -> int:
        """Receive and apply everything queued; the number of events received.

        In at most two batches: the first ends at the first exit of a PID that counts for a
        tracker (ProcessConnector.drain's `stop`), so that exit -- perhaps a lost quorum, a
        failover -- is applied before the events queued behind it are received and read (an
        exec among them costs a /proc read each). Splitting changes nothing else: the same
        events could have arrived across two wake-ups."""
        assert self._connector is not None
        stop: Container[int] = self.table._procs
        total = 0
        try:
            while True:
                raw, overflow, gap = self._connector.drain(stop=stop)
                self.counters.events += len(raw)
                total += len(raw) + int(overflow)
                if overflow:
                    self.counters.enobufs += 1
                    size = self._connector.grow_buffer()
                    self.log.warning("process tracking: kernel event queue overflowed (events lost); "
                                     "rescanning /proc, receive buffer now %d bytes", size)
                    self._full_scan()
                elif gap:
                    self.counters.seq_gaps += 1
                    self.log.warning("process tracking: kernel process events were missed; rescanning /proc")
                    self._full_scan()
                elif raw:
                    events, touched = self._events(raw)
                    if events:
                        changes = self.table.handle_batch(events, self._now())
                        # the changes first: a lost quorum starts a failover; the pidfds can wait
                        self._emit(changes)
                        self._pidfds_after_events(touched)
                conn = self._connector
                if conn is None or not conn.stopped:  # (None: stopped by a callback meanwhile)
                    return total
                stop = ()  # the rest in one batch
        finally:
            self._last_drain = self._now()

    # -- fallback mode -------------------------------------------------------------------------
    async def _rescan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rescan_interval)
            self._rescan_once()

    def _rescan_once(self) -> None:
        before = self.counters.shortages
        try:
            snap = self._scan()
        except procfs.Shortage as exc:
            self._shortage("rescanning /proc", exc)
            return
        changes = self.table.apply_snapshot(snap, self._now())
        self._sync_pidfds()
        if self.counters.shortages == before:
            self._recovered()
        self._emit(changes)

    # -- pidfds --------------------------------------------------------------------------------
    def _sync_pidfds(self) -> None:
        """After a scan: a pidfd for every PID that counts, at once; none for any other."""
        want = self.table._procs
        for pid in [p for p in self._pidfds if p not in want]:
            self._close_pidfd(pid)
        self._open_pidfds([pid for pid in want if pid not in self._pidfds])

    def _pidfds_after_events(self, touched: Iterable[int]) -> None:
        """After a batch of connector events: settle the pidfds of the PIDs it touched only.

        A pidfd whose PID left the table, or now names a newer process (reused PID), is closed.
        A PID that counts and has none gets one later (PIDFD_DELAY) if the table knows its start
        time, else at once (module docstring).
        """
        procs = self.table._procs
        pidfds = self._pidfds
        now_fds: list[int] = []
        due = self._now() + PIDFD_DELAY
        for pid in touched:
            cur = pidfds.get(pid)
            e = procs.get(pid)
            start = e.info.start if e is not None and e.info is not None else 0
            if cur is not None:
                if e is not None and (not start or start == cur[1]):
                    continue
                self._close_pidfd(pid)
            if e is None:
                continue
            if start:
                self._pidfd_due.append((due, pid))
            else:
                now_fds.append(pid)
        if now_fds:
            self._open_pidfds(now_fds)
        if self._pidfd_due and self._pidfd_timer is None:
            assert self._loop is not None
            self._pidfd_timer = self._loop.call_at(self._pidfd_due[0][0], self._on_pidfds_due)

    def _on_pidfds_due(self) -> None:
        self._pidfd_timer = None
        if self._connector is not None:
            self._drain()  # exits already queued come from the connector, not from a failed open
        procs, pidfds, pending = self.table._procs, self._pidfds, self._pidfd_due
        now = self._now()
        pids: list[int] = []
        while pending and pending[0][0] <= now:
            pid = pending.popleft()[1]
            if pid in procs and pid not in pidfds:
                pids.append(pid)
        if pids:
            self._open_pidfds(pids)
        if pending and self._pidfd_timer is None:
            assert self._loop is not None
            self._pidfd_timer = self._loop.call_at(pending[0][0], self._on_pidfds_due)

    def _open_pidfds(self, pids: Iterable[int]) -> None:
        """Open and confirm a pidfd for each PID; a PID found gone (or reused) is an exit now."""
        procs = self.table._procs
        gone: list[Exit] = []
        for pid in pids:
            entry = procs.get(pid)
            if entry is None or pid in self._pidfds:
                continue
            try:
                fd = os.pidfd_open(pid)
            except OSError as exc:
                if exc.errno in procfs.SHORTAGE_ERRNOS:
                    self._shortage(f"pidfd_open({pid})", exc)  # the rescan opens it later
                else:
                    gone.append(Exit(pid))  # ESRCH: gone; anything else: cannot be confirmed
                continue
            try:
                st = procfs.read_stat(pid)
            except procfs.Shortage as exc:
                os.close(fd)
                self._shortage(f"reading /proc/{pid}/stat", exc)
                continue
            known = entry.info.start if entry.info is not None else 0
            if st is None or st.state in ("Z", "X", "x") or not _pidfd_alive(fd) \
                    or (known and st.start != known):
                os.close(fd)
                gone.append(Exit(pid))
                continue
            self._pidfds[pid] = (fd, st.start)
            assert self._loop is not None
            self._loop.add_reader(fd, self._on_pidfd, pid, fd)
        if gone:
            self.counters.pidfd_exits += len(gone)
            self._emit(self.table.handle_batch(gone, self._now()))

    def _close_pidfd(self, pid: int) -> None:
        fd, _ = self._pidfds.pop(pid)
        if self._loop is not None:
            self._loop.remove_reader(fd)
        os.close(fd)

    def _on_pidfd(self, pid: int, fd: int) -> None:
        cur = self._pidfds.get(pid)
        if cur is None or cur[0] != fd:
            return
        start = cur[1]
        self.counters.pidfd_exits += 1
        # The change first (a lost quorum starts a failover), the descriptor after: nothing
        # runs on the loop in between, so the readable pidfd cannot call again meanwhile.
        self._emit(self.table.handle(Exit(pid, start=start), self._loop.time()))  # type: ignore[union-attr]
        if self._pidfds.get(pid) is cur:
            self._close_pidfd(pid)
        if self.mode == "connector":
            self._pidfds_after_events((pid,))  # a reused PID that still counts needs a new pidfd
        else:
            self._sync_pidfds()

    # -- timers and output ---------------------------------------------------------------------
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _emit(self, changes: Iterable[StatusChange]) -> None:
        # The line comes first in the log, but is written after on_change has carried the
        # change out: a lost quorum's priority-0 advert does not wait for it (log_hold.py;
        # hold_line: the hold and its first line in the fewest calls).
        held = None
        try:
            for ch in changes:
                message = f"Quorum {'gained' if ch.has_quorum else 'lost'} for tracked process {ch.name}"
                if held is None:
                    held = log_hold.hold_line(self.log, logging.INFO, message)
                else:
                    log_hold.line(self.log, logging.INFO, message)
                self.on_change(ch)
        finally:
            log_hold.release(held)
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._loop is None:
            return
        deadline = self.table.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._emit(self.table.expire(self._now()))


def procfs_pid_mismatch() -> bool:
    """True when /proc shows another PID namespace's numbering than ours."""
    try:
        return int(os.readlink("/proc/self")) != os.getpid()
    except (OSError, ValueError):
        return True
