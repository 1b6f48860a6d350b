"""Notify scripts really executed: arguments, order, user, timeouts, process groups, reaping."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import tempfile
import time

import pytest

from vipkeeper.config.model import Notifies, ScriptCommand
from vipkeeper.notify.scripts import NotifyRunner

NOBODY = 65534


@pytest.fixture
def work():
    # World-readable and writable so that scripts run as nobody can execute and report.
    base = tempfile.mkdtemp(prefix="vknotify", dir="/tmp")
    os.chmod(base, 0o777)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def make_script(work: str, name: str, body: str) -> str:
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def cmd(*argv: str, user: str | None = None, group: str | None = None) -> ScriptCommand:
    return ScriptCommand(command=shlex.join(argv), argv=argv, user=user, group=group)


def read_lines(path: str) -> list[str]:
    with open(path) as f:
        return f.read().splitlines()


def gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for whoever adopted it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def wait_gone(pid: int, within: float = 2.0) -> bool:
    """SIGKILL is delivered asynchronously: give the kernel a bounded moment to finish the job."""
    deadline = time.monotonic() + within
    while not gone(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return gone(pid)


def assert_reaped(pid: int) -> None:
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


async def wait_all(runs, timeout=10.0):
    await asyncio.wait_for(asyncio.gather(*(r.done for r in runs)), timeout)


def test_state_script_then_generic_notify_with_keepalived_arguments(work):
    log = os.path.join(work, "log")
    rec = make_script(work, "rec.sh", f'echo "$(basename $0) $*" >> {log}')
    notifies = Notifies(
        master=cmd(rec, "to-master", "two words"),
        backup=cmd(rec, "to-backup"),
        generic=cmd(rec, "generic"),
    )

    async def main():
        runner = NotifyRunner()
        runs = runner.notify("INSTANCE", "VI_1", "MASTER", 150, notifies)
        await wait_all(runs)
        return runs, runner

    runs, runner = asyncio.run(main())
    assert [r.description for r in runs] == ["(VI_1) notify_master", "(VI_1) notify"]
    assert runs[0].started <= runs[1].started, "state script is started first"
    assert sorted(read_lines(log)) == sorted([
        "rec.sh to-master two words",  # only the configured arguments
        "rec.sh generic INSTANCE VI_1 MASTER 150",  # TYPE NAME STATE PRIORITY appended
    ])
    assert [r.returncode for r in runs] == [0, 0]
    assert not runner.running
    for r in runs:
        assert_reaped(r.pid)


def test_group_priority_is_zero_and_deleted_without_script_reports_fault(work):
    log = os.path.join(work, "log")
    rec = make_script(work, "rec.sh", f'echo "$*" >> {log}')

    async def main():
        runner = NotifyRunner()
        runs = runner.notify("GROUP", "G1", "BACKUP", 200, Notifies(generic=cmd(rec)))
        runs += runner.notify("INSTANCE", "VI_1", "DELETED", 90,
                              Notifies(fault=cmd(rec, "fault-script"), generic=cmd(rec)))
        runs += runner.notify("INSTANCE", "VI_2", "DELETED", 90,
                              Notifies(deleted=cmd(rec, "deleted-script"), generic=cmd(rec)))
        await wait_all(runs)

    asyncio.run(main())
    assert sorted(read_lines(log)) == sorted([
        "GROUP G1 BACKUP 0",
        "fault-script",
        "INSTANCE VI_1 FAULT 90",
        "deleted-script",
        "INSTANCE VI_2 DELETED 90",
    ])


def test_bad_state_is_a_clear_error():
    runner = NotifyRunner(loop=asyncio.new_event_loop())
    with pytest.raises(ValueError, match="notify state must be one of"):
        runner.notify("INSTANCE", "VI_1", "master", 1, Notifies())
    with pytest.raises(ValueError, match="INSTANCE or GROUP"):
        runner.notify("VRRP", "VI_1", "MASTER", 1, Notifies())
    runner._loop.close()


def test_runs_as_configured_user_with_quiet_stdio_and_clean_env(work, monkeypatch):
    out = os.path.join(work, "who")
    who = make_script(
        work, "who.sh",
        f'{{ id -u; id -g; id -G; pwd; echo "ld=${{LD_PRELOAD-unset}}"; ls -l /proc/self/fd/0; }} > {out}'
        "\necho 'to stdout'; echo 'to stderr' >&2",
    )
    monkeypatch.setenv("LD_PRELOAD", "/nonexistent.so")

    async def main():
        runner = NotifyRunner()
        runs = runner.notify("INSTANCE", "VI_1", "BACKUP", 100,
                             Notifies(backup=cmd(who, user="nobody")))
        await wait_all(runs)
        return runs

    runs = asyncio.run(main())
    uid, gid, groups, cwd, ld, stdin = read_lines(out)
    assert (uid, gid) == (str(NOBODY), str(NOBODY))
    assert groups.split() == [str(NOBODY)], "no supplementary groups inherited from root"
    assert cwd == "/"
    assert ld == "ld=unset"
    assert stdin.endswith("/dev/null")
    assert runs[0].returncode == 0


def test_default_user_comes_from_global_script_user(work):
    out = os.path.join(work, "who")
    who = make_script(work, "who.sh", f"id -u > {out}")

    async def main():
        runner = NotifyRunner(default_user="nobody")
        await wait_all(runner.notify("INSTANCE", "VI_1", "FAULT", 1, Notifies(fault=cmd(who))))

    asyncio.run(main())
    assert read_lines(out) == [str(NOBODY)]


def test_unknown_user_is_logged_and_nothing_runs(work, caplog):
    rec = make_script(work, "rec.sh", "true")

    async def main():
        return NotifyRunner().notify("INSTANCE", "VI_1", "MASTER", 1,
                                     Notifies(master=cmd(rec, user="no-such-user-vk")))

    with caplog.at_level(logging.ERROR, logger="vipkeeper.notify"):
        assert asyncio.run(main()) == []
    assert "no user 'no-such-user-vk'" in caplog.text


def test_arguments_are_not_reinterpreted_and_a_missing_command_is_refused_not_shelled(work, caplog):
    out = os.path.join(work, "out")
    plain = make_script(work, "plain.txt", "echo ran > " + os.path.join(work, "plain-ran"))
    os.chmod(plain, 0o644)  # not executable: keepalived disables it; it must not go to a shell

    async def main():
        runner = NotifyRunner()
        runs = runner.notify("INSTANCE", "VI_1", "MASTER", 1, Notifies(
            master=ScriptCommand(command=f"/bin/sh -c 'echo \"$0\" > {out}' '$HOME;x'",
                                 argv=("/bin/sh", "-c", f'echo "$0" > {out}', "$HOME;x")),
        ))
        missing = runner.run(cmd("no-such-command-vk", "arg"))
        not_exec = runner.run(cmd(plain))
        await wait_all(runs)
        return runs, missing, not_exec, runner.refused_runs

    with caplog.at_level(logging.INFO, logger="vipkeeper.notify"):
        runs, missing, not_exec, refused = asyncio.run(main())
    assert read_lines(out) == ["$HOME;x"], "arguments are not re-interpreted by a shell"
    assert missing is None and not_exec is None and refused == 2
    assert "Cannot find script no-such-command-vk in path - disabling" in caplog.text
    assert f"WARNING - script '{plain}' is not executable for uid:gid 0:0 - disabling" in caplog.text
    assert not os.path.exists(os.path.join(work, "plain-ran"))


def test_hung_script_and_its_children_are_killed_at_the_timeout(work):
    child_pid_file = os.path.join(work, "child")
    # The script ignores SIGTERM and so does its background child: only SIGKILL of the
    # process group ends them.
    hung = make_script(
        work, "hung.sh",
        f"trap '' TERM\nsleep 300 &\necho $! > {child_pid_file}\nwait\nsleep 300",
    )

    async def main():
        runner = NotifyRunner(timeout=0.3, kill_grace=0.2)
        t0 = time.monotonic()
        runs = runner.notify("INSTANCE", "VI_1", "MASTER", 1, Notifies(master=cmd(hung)))
        await wait_all(runs, timeout=5)
        elapsed = time.monotonic() - t0
        child_gone = await wait_gone(int(read_lines(child_pid_file)[0]))
        return runs, elapsed, runner, child_gone

    runs, elapsed, runner, child_gone = asyncio.run(main())
    assert runs[0].timed_out
    assert runs[0].returncode == -9
    assert 0.45 <= elapsed < 3
    assert child_gone, "the background child died with the group"
    assert_reaped(runs[0].pid)
    assert not runner.running


def test_children_that_outlive_a_terminated_leader_are_killed_too(work):
    child_pid_file = os.path.join(work, "child")
    # The leader dies on SIGTERM at once; its background child ignores SIGTERM.
    script = make_script(
        work, "leader.sh",
        f"(trap '' TERM; exec sleep 300) &\necho $! > {child_pid_file}\nexec sleep 300",
    )

    async def main():
        runner = NotifyRunner(timeout=0.3, kill_grace=5.0)
        runs = runner.notify("INSTANCE", "VI_1", "BACKUP", 1, Notifies(backup=cmd(script)))
        await wait_all(runs, timeout=3)
        return runs, await wait_gone(int(read_lines(child_pid_file)[0]))

    runs, child_gone = asyncio.run(main())
    assert runs[0].timed_out and runs[0].returncode == -15
    assert child_gone, "the group got SIGKILL before the leader was reaped"


def test_stop_scripts_get_one_second_like_keepalived_and_drain_kills_leftovers(work):
    slow = make_script(work, "slow.sh", "exec sleep 300")

    async def main():
        runner = NotifyRunner(timeout=None, stop_timeout=0.2, kill_grace=0.1)
        stop_runs = runner.notify("INSTANCE", "VI_1", "STOP", 0, Notifies(stop=cmd(slow)))
        forever = runner.run(cmd(slow))  # e.g. a notify_fifo_script
        t0 = time.monotonic()
        await runner.drain(timeout=0.5)
        return stop_runs, forever, time.monotonic() - t0, runner

    stop_runs, forever, elapsed, runner = asyncio.run(main())
    assert stop_runs[0].timeout == 0.2 and stop_runs[0].timed_out
    assert forever.timed_out and forever.returncode == -9
    assert elapsed < 2
    assert not runner.running
    assert_reaped(stop_runs[0].pid)
    assert_reaped(forever.pid)


def test_many_quick_scripts_leave_no_zombies(work):
    quick = make_script(work, "quick.sh", "exit 3")

    async def main():
        runner = NotifyRunner()
        runs = [runner.run(cmd(quick)) for _ in range(30)]
        await wait_all(runs)
        return runs

    runs = asyncio.run(main())
    assert {r.returncode for r in runs} == {3}
    for r in runs:
        assert_reaped(r.pid)
        assert r._pidfd is None
        assert _ppid(r.pid) != os.getpid(), "not left as our zombie"


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None



def test_a_state_change_only_queues_its_scripts_and_a_burst_starts_in_slices(work):
    """The caller's call forks nothing (the queue starts from a callback of its own); a burst of
    100 starts is spread over loop passes of about START_BUDGET each, and a timer that falls due
    during the burst runs before the last start."""
    log = os.path.join(work, "log")
    rec = make_script(work, "rec.sh", f'echo "$*" >> {log}')

    async def main():
        loop = asyncio.get_running_loop()
        runner = NotifyRunner()
        runs = []
        for k in range(100):
            runs += runner.notify("INSTANCE", f"VI_{k}", "FAULT", 100, Notifies(generic=cmd(rec)))
        queued_in_call = all(r.popen is None and r.pid == 0 for r in runs)
        timer_ran = []
        loop.call_at(loop.time(), lambda: timer_ran.append([r.popen is not None for r in runs].count(True)))
        await wait_all(runs, timeout=30)
        return runs, queued_in_call, timer_ran, runner

    runs, queued_in_call, timer_ran, runner = asyncio.run(main())
    assert queued_in_call, "no script was started inside notify()"
    assert sorted(read_lines(log)) == sorted(f"INSTANCE VI_{k} FAULT 100" for k in range(100))
    assert [r.started for r in runs] == sorted(r.started for r in runs), "started in request order"
    assert runner.deferred_passes >= 1, "100 starts did not fit one pass"
    assert timer_ran and timer_ran[0] < 100, "a timer due during the burst ran before its end"
    for r in runs:
        assert_reaped(r.pid)


def test_drain_drops_scripts_not_started_yet(work):
    quick = make_script(work, "quick.sh", "exit 0")

    async def main():
        runner = NotifyRunner()
        run = runner.run(cmd(quick))
        runner._pump.cancel()  # its turn never comes before shutdown
        runner._pump = None
        await runner.drain(timeout=0.05)
        return run, runner

    run, runner = asyncio.run(main())
    assert run.popen is None and run.start_error and run.done.result() is None
    assert not runner.running and not runner._queue
