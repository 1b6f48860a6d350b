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

In both modes every PID that currently counts for a tracker has a pidfd (opened, then checked
still alive after its /proc entry was read, so it is known to refer to that very process). A
readable pidfd confirms that process's exit even if the connector missed it, so a dead service
can never stay "up" through a reused PID.

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
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from vipkeeper.config.model import TrackProcess
from vipkeeper.track import procfs
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
_TWO_I = struct.Struct("=ii")
_FOUR_I = struct.Struct("=iiii")

DEFAULT_RCVBUF = 8 * 1024 * 1024
DEFAULT_RESCAN_INTERVAL = 0.2


class ConnectorUnavailable(Exception):
    """The process connector cannot be used here; the message says why, in words."""


@dataclass(frozen=True)
class RawEvent:
    """A decoded process event (threads already dropped); `cpu`/`seq` for gap detection."""

    event: Event | None  # None for the subscription ack
    cpu: int
    seq: int


def decode(datagram: bytes) -> RawEvent | None:
    """One connector datagram -> one event, or None for thread events and kinds we do not use."""
    if len(datagram) < _DATA_OFF + 8:
        return None
    _, _, seq, _, _, _ = _CN_MSG.unpack_from(datagram, _NLMSGHDR.size)
    what, cpu, ts = _EV_HDR.unpack_from(datagram, _EV_OFF)
    if what == PROC_EVENT_EXEC or what == PROC_EVENT_EXIT:
        pid, tgid = _TWO_I.unpack_from(datagram, _DATA_OFF)
        if pid != tgid:
            return None
        ev: Event = Exec(pid, None, ts) if what == PROC_EVENT_EXEC else Exit(pid, ts)
        return RawEvent(ev, cpu, seq)
    if what == PROC_EVENT_FORK:
        _, ppid_tgid, cpid, ctgid = _FOUR_I.unpack_from(datagram, _DATA_OFF)
        if cpid != ctgid:
            return None
        return RawEvent(Fork(ppid_tgid, cpid, ts), cpu, seq)
    if what == PROC_EVENT_COMM:
        pid, tgid = _TWO_I.unpack_from(datagram, _DATA_OFF)
        if pid != tgid:
            return None
        raw = datagram[_DATA_OFF + 8 : _DATA_OFF + 24].split(b"\0", 1)[0]
        return RawEvent(Comm(pid, raw.decode("utf-8", "surrogateescape"), ts), cpu, seq)
    if what == PROC_EVENT_NONE:
        return RawEvent(None, cpu, seq)
    return None


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

    def drain(self, limit: int = 100000) -> tuple[list[Event], bool, bool]:
        """Everything queued now: (events, overflowed, sequence gap seen).

        Gaps are looked for only on an unfiltered socket (the filter makes gaps by design), over
        every message including the thread events that are then dropped.
        """
        out: list[Event] = []
        recv = self.sock.recv
        overflow = gap = False
        check = not self.filtered
        last = self._last_seq
        for _ in range(limit):
            try:
                data = recv(256)
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
            if check and len(data) >= _DATA_OFF:
                seq = _CN_MSG.unpack_from(data, _NLMSGHDR.size)[2]
                cpu = _EV_HDR.unpack_from(data, _EV_OFF)[1]
                prev = last.get(cpu)
                if prev is not None and seq != (prev + 1) & 0xFFFFFFFF:
                    gap = True
                last[cpu] = seq
            ev = decode(data)
            if ev is not None and ev.event is not None:
                out.append(ev.event)
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


@dataclass
class Counters:
    events: int = 0
    rescans: int = 0
    enobufs: int = 0
    seq_gaps: int = 0
    pidfd_exits: int = 0  # exits learnt from a pidfd before (or instead of) the connector


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
        self._pidfds: dict[int, tuple[int, int]] = {}  # pid -> (fd, start)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._rescan_task: asyncio.Task | None = None
        self.mode = ""

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> dict[str, bool]:
        self._loop = asyncio.get_running_loop()
        if self._auto:
            self._connector, self._problem = open_connector(self._rcvbuf)
        if self._connector is not None:
            self.mode = "connector"
            self.log.info("process tracking: using the kernel process connector "
                          "(process starts and exits are reported at once)")
            self._full_scan(initial=True)
            self._loop.add_reader(self._connector.fileno(), self._on_readable)
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for pid in list(self._pidfds):
            self._close_pidfd(pid)

    # -- reading processes ---------------------------------------------------------------------
    def _read(self, pid: int) -> procfs.ProcessInfo | None:
        """A process's info if it might matter (cheap comm check first), else None."""
        table = self.table
        if not table.need_argv and pid not in table._procs:
            comm = procfs.read_comm(pid)
            if comm is None or comm not in table.names:
                return None
        return procfs.read_process(pid, table.need_argv)

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
        snap = self._scan()
        queued: list[Event] = []
        if self._connector is not None:
            queued, overflow, _ = self._connector.drain()
            self._connector.forget_sequence()
            if overflow:
                self.counters.enobufs += 1
            self.counters.events += len(queued)
            queued = self._fill_exec_info(queued)
        changes = self.table.apply_snapshot(snap, self._now(), queued)
        self._sync_pidfds()
        if initial:
            for ch in changes:
                self.log.info("Tracked process %s starts %s quorum (%d running)", ch.name,
                              "with" if ch.has_quorum else "without", self.table.count(ch.name))
                self.on_change(ch)
            self._arm_timer()
        else:
            self._emit(changes)

    def _fill_exec_info(self, events: list[Event]) -> list[Event]:
        """Read names for Exec events, skipping processes that exit later in the same batch."""
        exited_after: dict[int, int] = {}
        for i, ev in enumerate(events):
            if isinstance(ev, Exit):
                exited_after[ev.pid] = i
        out = []
        for i, ev in enumerate(events):
            if isinstance(ev, Exec):
                if exited_after.get(ev.pid, -1) > i:
                    continue  # it is already gone; its exit is in this batch
                info = self._read(ev.pid)
                if info is None and ev.pid not in self.table._procs:
                    continue
                ev = Exec(ev.pid, info, ev.ts_ns)
            out.append(ev)
        return out

    # -- connector mode ------------------------------------------------------------------------
    def _on_readable(self) -> None:
        assert self._connector is not None
        events, overflow, gap = self._connector.drain()
        self.counters.events += len(events)
        if overflow:
            self.counters.enobufs += 1
            size = self._connector.grow_buffer()
            self.log.warning("process tracking: kernel event queue overflowed (events lost); "
                             "rescanning /proc, receive buffer now %d bytes", size)
            self._full_scan()
            return
        if gap:
            self.counters.seq_gaps += 1
            self.log.warning("process tracking: kernel process events were missed; rescanning /proc")
            self._full_scan()
            return
        if not events:
            return
        changes = self.table.handle_batch(self._fill_exec_info(events), self._now())
        self._sync_pidfds()
        self._emit(changes)

    # -- fallback mode -------------------------------------------------------------------------
    async def _rescan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rescan_interval)
            snap = self._scan()
            changes = self.table.apply_snapshot(snap, self._now())
            self._sync_pidfds()
            self._emit(changes)

    # -- pidfds --------------------------------------------------------------------------------
    def _sync_pidfds(self) -> None:
        want = self.table._procs
        for pid in [p for p in self._pidfds if p not in want]:
            self._close_pidfd(pid)
        gone: list[Exit] = []
        for pid, entry in want.items():
            if pid in self._pidfds:
                continue
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                gone.append(Exit(pid))
                continue
            st = procfs.read_stat(pid)
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
            self._sync_pidfds()

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
        self._close_pidfd(pid)
        self.counters.pidfd_exits += 1
        self._emit(self.table.handle(Exit(pid, start=start), self._now()))
        self._sync_pidfds()

    # -- timers and output ---------------------------------------------------------------------
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _emit(self, changes: Iterable[StatusChange]) -> None:
        for ch in changes:
            self.log.info("Quorum %s for tracked process %s", "gained" if ch.has_quorum else "lost", ch.name)
            self.on_change(ch)
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
