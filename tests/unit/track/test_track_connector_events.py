"""Which raw connector events become table events (ProcessTracker._events), with /proc faked.

The tracker drops events that cannot concern a tracker before they become objects and reads a
name only when it may matter; these tests pin what must never be dropped.
"""

from __future__ import annotations

from vipkeeper.config.model import TrackProcess
from vipkeeper.track.proc_connector import (
    PROC_EVENT_COMM, PROC_EVENT_EXEC, PROC_EVENT_EXIT, PROC_EVENT_FORK, ProcessTracker,
)
from vipkeeper.track.process_table import Comm, Exec, Exit, Fork, ProcessInfo, Snapshot

EXEC, EXIT, FORK, COMM = PROC_EVENT_EXEC, PROC_EVENT_EXIT, PROC_EVENT_FORK, PROC_EVENT_COMM


def tracker(running: dict[int, str], known: dict[int, str] | None = None) -> tuple[ProcessTracker, list]:
    """A tracker of "svc" whose /proc shows `running` (pid -> name); `known` already counts."""
    tr = ProcessTracker([TrackProcess(name="t", process="svc")], lambda ch: None, auto_connect=False)
    tr.table.apply_snapshot(Snapshot({p: ProcessInfo(n, None, 100 + p) for p, n in (known or {}).items()}), 0.0)
    reads: list = []

    def read(pid: int, may_count: bool) -> ProcessInfo | None:
        reads.append(pid)
        name = running.get(pid)
        if name is None or (not may_count and name != "svc"):
            return None
        return ProcessInfo(name, None, 100 + pid)

    tr._read = read  # type: ignore[method-assign]
    return tr, reads


def test_unrelated_processes_become_nothing():
    tr, reads = tracker({20: "bash"})
    raw = [(FORK, 1, 20, 1), (EXEC, 20, 0, 2), (EXIT, 20, 0, 3), (FORK, 1, 21, 4), (EXIT, 21, 0, 5)]
    assert tr._events(raw) == ([], set())
    assert reads == []  # 20 exits later in the batch: never read


def test_matching_exec_is_read_once_and_kept_with_its_start_time():
    tr, reads = tracker({30: "svc", 31: "bash"})
    events, touched = tr._events([(EXEC, 30, 0, 1), (EXEC, 31, 0, 2)])
    assert events == [Exec(30, ProcessInfo("svc", None, 130), 1)]
    assert touched == {30} and reads == [30, 31]


def test_exit_and_fork_of_a_counting_pid_are_kept():
    tr, _ = tracker({}, known={5: "svc"})
    events, touched = tr._events([(FORK, 5, 6, 1), (EXIT, 6, 0, 2), (EXIT, 5, 0, 3)])
    assert events == [Fork(5, 6, 1), Exit(6, 2), Exit(5, 3)]
    assert touched == {5, 6}


def test_exec_of_a_counting_pid_is_read_whatever_its_new_name():
    tr, _ = tracker({5: "bash"}, known={5: "svc"})
    events, _ = tr._events([(EXEC, 5, 0, 1)])
    assert events == [Exec(5, ProcessInfo("bash", None, 105), 1)]


def test_fork_after_a_matching_exec_in_the_same_batch_is_kept():
    tr, _ = tracker({40: "svc"})
    events, _ = tr._events([(EXEC, 40, 0, 1), (FORK, 40, 41, 2), (EXIT, 41, 0, 3)])
    assert events == [Exec(40, ProcessInfo("svc", None, 140), 1), Fork(40, 41, 2), Exit(41, 3)]


def test_daemonising_exec_fork_exit_in_one_batch_counts_the_child():
    tr, _ = tracker({51: "svc"})  # 50 is gone already; its child 51 runs on
    raw = [(FORK, 1, 50, 1), (EXEC, 50, 0, 2), (FORK, 50, 51, 3), (EXIT, 50, 0, 4)]
    events, touched = tr._events(raw)
    assert events == [Exec(51, ProcessInfo("svc", None, 151), 3)]
    assert touched == {51}


def test_comm_changes_are_always_kept():
    tr, _ = tracker({})
    events, _ = tr._events([(COMM, 9, b"svc\0\0\0\0\0\0\0\0\0\0\0\0\0", 1)])
    assert events == [Comm(9, "svc", 1)]


def test_pids_a_scan_just_found_keep_their_events():
    tr, _ = tracker({})
    events, _ = tr._events([(EXIT, 70, 0, 1)], also_known={70})
    assert events == [Exit(70, 1)]


# -- the drain stops at a counted PID's exit (ProcessTracker._drain) ---------------------------

def _datagram(what: int, pid: int, ts: int) -> bytes:
    """A process-connector message as the kernel sends it (nlmsghdr, cn_msg, proc_event) for an
    exec or exit of a single-threaded process."""
    import struct
    body = struct.pack("=IIQ", what, 0, ts) + struct.pack("=iiii", pid, pid, 0, 0)
    cn = struct.pack("=IIIIHH", 1, 1, ts, 0, len(body), 0)
    return struct.pack("=IHHII", 16 + len(cn) + len(body), 3, 0, ts, 0) + cn + body


def test_a_counted_exit_is_applied_before_the_backlog_behind_it_is_received():
    """The machine's execs queued behind a tracked process's exit are read (/proc, one read each)
    only after the lost quorum went out; those before it, before; all of them once."""
    import asyncio
    import socket

    from vipkeeper.track.proc_connector import ProcessConnector

    order: list = []
    tr = ProcessTracker([TrackProcess(name="t", process="svc")],
                        lambda ch: order.append(("change", ch.has_quorum)), auto_connect=False)
    tr.table.apply_snapshot(Snapshot({5: ProcessInfo("svc", None, 105)}), 0.0)

    def read(pid: int, may_count: bool) -> ProcessInfo | None:
        order.append(("read", pid))
        return None  # none of them is a "svc"

    tr._read = read  # type: ignore[method-assign]
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ours.setblocking(False)
    loop = asyncio.new_event_loop()
    try:
        tr._loop = loop
        tr._connector = ProcessConnector(ours, filtered=True)
        for n, (what, pid) in enumerate([(EXEC, 40), (EXIT, 5), (EXEC, 41), (EXEC, 42)], 1):
            kernel.send(_datagram(what, pid, n))
        assert tr._drain() == 4
        assert order == [("read", 40), ("change", False), ("read", 41), ("read", 42)], order
        assert tr.counters.events == 4
    finally:
        tr._connector = None
        ours.close()
        kernel.close()
        loop.close()
