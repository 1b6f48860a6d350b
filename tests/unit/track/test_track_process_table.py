"""The pure process table against synthetic event streams (keepalived's track_process rules)."""

from __future__ import annotations

import pytest

from vipkeeper.config.model import TrackProcess
from vipkeeper.track.process_table import (
    Comm, Exec, Exit, Fork, ProcessInfo, ProcessTable, Snapshot, StatusChange, fresh_events, matches,
)


def P(comm: str, *argv: str, start: int = 0) -> ProcessInfo:
    return ProcessInfo(comm, tuple(argv) if argv else None, start)


def table(*specs: TrackProcess, procs: dict[int, ProcessInfo] | None = None) -> ProcessTable:
    t = ProcessTable(specs)
    t.apply_snapshot(Snapshot(procs or {}), 0.0)
    return t


HA = TrackProcess(name="ha", process="haproxy")


def test_initial_snapshot_reports_every_tracker_once():
    t = ProcessTable([HA, TrackProcess(name="pf", process="master")])
    ch = t.apply_snapshot(Snapshot({10: P("haproxy"), 11: P("bash")}), 0.0)
    assert ch == [StatusChange("ha", True), StatusChange("pf", False)]
    assert t.count("ha") == 1 and t.pids() == {10}


def test_exec_then_exit():
    t = table(HA)
    assert t.handle(Exec(5, P("haproxy")), 1.0) == [StatusChange("ha", True)]
    assert t.handle(Exit(5), 2.0) == [StatusChange("ha", False)]
    assert t.pids() == set()


def test_exit_before_exec_of_unknown_pid_is_harmless():
    t = table(HA, procs={1: P("haproxy")})
    assert t.handle(Exit(99), 1.0) == []
    assert t.handle(Exec(99, None), 1.0) == []  # read failed: it was gone
    assert t.status("ha") is True and t.count("ha") == 1


def test_exec_into_other_program_drops_at_once():
    t = table(HA, procs={1: P("haproxy")})
    assert t.handle(Exec(1, P("bash")), 1.0) == [StatusChange("ha", False)]


def test_repeated_exec_of_same_name_does_not_double_count():
    t = table(HA)
    t.handle(Exec(1, P("haproxy")), 0)
    t.handle(Exec(1, P("haproxy")), 0)
    assert t.count("ha") == 1


def test_pid_reuse_with_missed_exit_counts_once():
    t = table(HA, procs={7: P("haproxy", start=100)})
    # the old 7 exited unseen; a new haproxy got PID 7
    assert t.handle(Exec(7, P("haproxy", start=200)), 1.0) == []
    assert t.count("ha") == 1


def test_late_pidfd_confirmation_for_old_process_keeps_reused_pid():
    t = table(HA, procs={7: P("haproxy", start=100)})
    t.handle(Exit(7), 1.0)
    t.handle(Exec(7, P("haproxy", start=200)), 1.0)
    assert t.handle(Exit(7, start=100), 1.0) == []  # confirmation of the old one
    assert t.count("ha") == 1
    assert t.handle(Exit(7, start=200), 1.0) == [StatusChange("ha", False)]


def test_comm_change_away_and_back():
    t = table(HA, procs={3: P("haproxy")})
    assert t.handle(Comm(3, "worker"), 1.0) == [StatusChange("ha", False)]
    assert t.handle(Comm(3, "haproxy"), 1.0) == [StatusChange("ha", True)]


def test_comm_change_ignored_by_full_command_tracker():
    full = TrackProcess(name="f", process="/usr/sbin/haproxy", full_command=True)
    t = table(full, procs={3: P("haproxy", "/usr/sbin/haproxy", "-f", "x")})
    assert t.status("f") is True
    assert t.handle(Comm(3, "other"), 1.0) == []
    assert t.status("f") is True


def test_fork_of_tracked_adds_child_untracked_parent_ignored():
    t = table(TrackProcess(name="ha", process="haproxy", quorum=2), procs={1: P("haproxy")})
    assert t.handle(Fork(50, 51), 0) == [] and t.count("ha") == 1
    assert t.handle(Fork(1, 2), 0) == [StatusChange("ha", True)]
    assert t.pids() == {1, 2}
    assert t.handle(Exit(2), 0) == [StatusChange("ha", False)]


def test_forked_child_exec_keeps_its_own_identity():
    t = table(HA, procs={1: P("haproxy", start=10)})
    t.handle(Fork(1, 2), 0)
    t.handle(Exec(2, P("haproxy", start=11)), 0)
    assert t.count("ha") == 2


@pytest.mark.parametrize("n,expect", [(0, False), (1, False), (2, True), (3, True), (4, False)])
def test_quorum_and_quorum_max_edges(n, expect):
    spec = TrackProcess(name="q", process="w", quorum=2, quorum_max=3)
    t = table(spec, procs={i: P("w") for i in range(1, n + 1)})
    assert t.status("q") is expect


def test_quorum_max_zero_means_none_may_run():
    spec = TrackProcess(name="no", process="bad", quorum=1, quorum_max=0)
    t = table(spec)
    assert t.status("no") is True
    assert t.handle(Exec(4, P("bad")), 0) == [StatusChange("no", False)]
    assert t.handle(Exit(4), 0) == [StatusChange("no", True)]


def test_crossing_quorum_max_by_exec_and_back_by_exit():
    spec = TrackProcess(name="q", process="w", quorum=1, quorum_max=2)
    t = table(spec, procs={1: P("w"), 2: P("w")})
    assert t.handle(Exec(3, P("w")), 0) == [StatusChange("q", False)]
    assert t.handle(Exit(3), 0) == [StatusChange("q", True)]


def test_terminate_delay_suppresses_restart_bounce():
    spec = TrackProcess(name="ha", process="haproxy", terminate_delay=2.0)
    t = table(spec, procs={1: P("haproxy")})
    assert t.handle(Exit(1), 10.0) == []
    assert t.next_deadline() == 12.0
    assert t.handle(Exec(9, P("haproxy")), 11.0) == []  # back before the deadline
    assert t.next_deadline() is None
    assert t.expire(13.0) == [] and t.status("ha") is True


def test_terminate_delay_expires_to_down():
    spec = TrackProcess(name="ha", process="haproxy", terminate_delay=2.0)
    t = table(spec, procs={1: P("haproxy")})
    t.handle(Exit(1), 10.0)
    assert t.expire(11.9) == []
    assert t.expire(12.0) == [StatusChange("ha", False)]


def test_fork_delay_then_up():
    spec = TrackProcess(name="ha", process="haproxy", quorum=2, fork_delay=1.0)
    t = table(spec, procs={1: P("haproxy")})
    assert t.handle(Fork(1, 2), 5.0) == []
    assert t.next_deadline() == 6.0
    assert t.expire(6.0) == [StatusChange("ha", True)]


def test_fork_delay_bounce_suppressed_by_quick_exit():
    spec = TrackProcess(name="ha", process="haproxy", quorum=2, fork_delay=1.0)
    t = table(spec, procs={1: P("haproxy")})
    t.handle(Fork(1, 2), 5.0)
    assert t.handle(Exit(2), 5.5) == []
    assert t.next_deadline() is None
    assert t.expire(7.0) == [] and t.status("ha") is False


def test_fork_cancels_pending_terminate_timer():
    spec = TrackProcess(name="ha", process="haproxy", quorum=2, terminate_delay=1.0, fork_delay=1.0)
    t = table(spec, procs={1: P("haproxy"), 2: P("haproxy")})
    assert t.handle(Exit(2), 0.0) == []  # below quorum: terminate timer, no flip yet
    assert t.next_deadline() == 1.0
    assert t.handle(Fork(1, 3), 0.5) == []  # the master re-forks a worker: timer cancelled
    assert t.next_deadline() is None
    assert t.expire(5.0) == [] and t.status("ha") is True


def test_exec_cancels_pending_terminate_timer():
    spec = TrackProcess(name="ha", process="haproxy", terminate_delay=1.0)
    t = table(spec, procs={1: P("haproxy")})
    t.handle(Exit(1), 0.0)
    assert t.handle(Exec(3, P("haproxy")), 0.5) == []
    assert t.next_deadline() is None and t.status("ha") is True


def test_exec_match_counts_at_once_despite_fork_delay():
    spec = TrackProcess(name="ha", process="haproxy", fork_delay=5.0)
    t = table(spec)
    assert t.handle(Exec(1, P("haproxy")), 0) == [StatusChange("ha", True)]


def test_comm_drop_is_immediate_despite_terminate_delay():
    spec = TrackProcess(name="ha", process="haproxy", terminate_delay=5.0)
    t = table(spec, procs={1: P("haproxy")})
    assert t.handle(Comm(1, "x"), 0) == [StatusChange("ha", False)]


def test_batch_reports_net_flips_only():
    t = table(HA)
    assert t.handle_batch([Exec(5, P("haproxy")), Exit(5)], 0) == []
    assert t.handle_batch([Exec(6, P("haproxy"))], 0) == [StatusChange("ha", True)]


def test_rescan_diff_gone_new_and_reused():
    spec = TrackProcess(name="ha", process="haproxy", quorum=2)
    t = table(spec, procs={1: P("haproxy", start=1), 2: P("haproxy", start=2)})
    ch = t.apply_snapshot(Snapshot({2: P("haproxy", start=2), 3: P("haproxy", start=3)}), 1.0)
    assert ch == [] and t.pids() == {2, 3}
    ch = t.apply_snapshot(Snapshot({2: P("haproxy", start=9)}), 2.0)
    assert ch == [StatusChange("ha", False)] and t.count("ha") == 1


def test_rescan_merges_queued_events_by_time():
    t = table(HA)
    # scan started at 100 and read PID 7 (reused: a new haproxy) at 150
    snap = Snapshot({7: P("haproxy", start=5)}, started_ns=100, read_ns={7: 150})
    queued = [Exit(7, ts_ns=120),  # the old 7's exit: already reflected, must not remove the new one
              Exec(8, P("haproxy"), ts_ns=90),  # before the scan began: stale
              Exec(9, P("haproxy"), ts_ns=160),  # after: applies
              Exit(9, ts_ns=170)]
    assert [type(e).__name__ for e in fresh_events(snap, queued)] == ["Exec", "Exit"]
    ch = t.apply_snapshot(snap, 1.0, queued)
    assert ch == [StatusChange("ha", True)] and t.pids() == {7}


def test_first_snapshot_with_queued_events():
    t = ProcessTable([HA])
    snap = Snapshot({1: P("haproxy")}, started_ns=100, read_ns={1: 110})
    ch = t.apply_snapshot(snap, 0.0, [Exit(1, ts_ns=200)])
    assert ch == [StatusChange("ha", False)]


@pytest.mark.parametrize("spec,argv,expect", [
    (TrackProcess(name="a", process="/usr/sbin/haproxy", full_command=True), ("/usr/sbin/haproxy", "-f", "c"), True),
    (TrackProcess(name="a", process="/usr/sbin/haproxy", full_command=True), ("haproxy",), False),
    (TrackProcess(name="a", process="/bin/x", params=("-f", "c")), ("/bin/x", "-f", "c"), True),
    (TrackProcess(name="a", process="/bin/x", params=("-f", "c")), ("/bin/x", "-f", "c", "-d"), False),
    (TrackProcess(name="a", process="/bin/x", params=("-f",), param_match="partial"), ("/bin/x", "-f", "c"), True),
    (TrackProcess(name="a", process="/bin/x", params=("-f", "c"), param_match="partial"), ("/bin/x", "-f", "cc"), False),
    (TrackProcess(name="a", process="/bin/x", params=("-f", "c"), param_match="initial"), ("/bin/x", "-f", "cc"), True),
    (TrackProcess(name="a", process="/bin/x", params=("-f", "c"), param_match="initial"), ("/bin/x", "-g", "c"), False),
    (TrackProcess(name="a", process="/bin/x", param_match="exact"), ("/bin/x",), True),
    (TrackProcess(name="a", process="/bin/x", param_match="exact"), ("/bin/x", "y"), False),
    (TrackProcess(name="a", process="/bin/x", param_match="partial"), ("/bin/x", "y"), True),
])
def test_argv_matching(spec, argv, expect):
    assert matches(spec, ProcessInfo("x", argv)) is expect


def test_comm_matching_is_exact_and_15_chars():
    assert matches(TrackProcess(name="a", process="ssh"), P("sshd")) is False
    long = TrackProcess(name="a", process="averyveryverylongname")
    assert matches(long, P("averyveryverylo")) is False  # keepalived: never matches


def test_one_exit_reports_what_the_batch_of_it_reports_in_the_trackers_order():
    """`handle` takes one Exit without the batch (a failover's path): same flips, same order,
    same table afterwards - also when it flips several trackers, delays one, or is stale."""
    specs = [TrackProcess(name="zz", process="svc"), TrackProcess(name="aa", process="svc", quorum=2),
             TrackProcess(name="mm", process="svc", terminate_delay=3.0),
             TrackProcess(name="qq", process="svc", quorum_max=0)]
    procs = {7: P("svc", start=70), 8: P("svc", start=80)}
    for exit_ in (Exit(7), Exit(7, start=70), Exit(7, start=71), Exit(9)):
        one, batch = table(*specs, procs=procs), table(*specs, procs=procs)
        got, want = one.handle(exit_, 1.0), batch.handle_batch((exit_,), 1.0)
        assert got == want, exit_
        assert one.statuses() == batch.statuses() and one.pids() == batch.pids()
        assert one.next_deadline() == batch.next_deadline()
    # two trackers flip on one exit: reported in the configuration's order, not by name
    t = table(*specs, procs={7: P("svc", start=70)})
    assert t.handle(Exit(7), 1.0) == [StatusChange("zz", False), StatusChange("qq", True)]
