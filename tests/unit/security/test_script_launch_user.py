"""A script for another user starts on the vfork path (script_launch.launch, through setpriv) and
runs exactly as subprocess's own user switch would run it: same uids, gids, groups, capabilities,
umask, cwd, process group, descriptors, environment and limits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from vipkeeper import script_launch
from vipkeeper.script_launch import Identity, launch, spawn_options

NOBODY = Identity("nobody", 65534, 65534, (65534, 100))

PROBE = """#!/bin/sh
grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
echo "umask $(umask)"
echo "cwd $(pwd)"
echo "pgid-is-pid $(( $(cut -d' ' -f5 /proc/$$/stat) == $$ ))"
echo "fds $(ls /proc/$$/fd | sort -n | tr '\\n' ' ')"
echo "env $(env | sort | md5sum)"
ulimit -a
"""


@pytest.fixture
def work():
    base = tempfile.mkdtemp(prefix="vklaunch", dir="/tmp")
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _probe(work: str) -> str:
    path = os.path.join(work, "probe.sh")
    with open(path, "w") as f:
        f.write(PROBE)
    os.chmod(path, 0o755)
    return path


def _output(argv: list[str], options: dict, out: str) -> str:
    options = dict(options, stdout=open(out, "w"))  # noqa: SIM115 - closed below
    try:
        code = subprocess.Popen(argv, **options).wait(10)
    finally:
        options["stdout"].close()
    assert code == 0
    with open(out) as f:
        return f.read()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_setpriv_start_runs_the_script_exactly_as_a_subprocess_user_switch(work):
    assert script_launch._setpriv() == script_launch.SETPRIV, "setpriv (util-linux) is installed and root's"
    probe = _probe(work)
    argv, options = launch([probe], NOBODY)
    assert argv[0] == script_launch.SETPRIV and argv[-1] == probe
    assert not {"user", "group", "extra_groups"} & set(options), "no user switch inside subprocess"
    # a descriptor the daemon holds must not reach the script either way
    keep = os.open("/dev/null", os.O_RDONLY)  # inheritable: close_fds must close it
    os.set_inheritable(keep, True)
    try:
        fast = _output(argv, options, os.path.join(work, "fast"))
        slow = _output([probe], spawn_options(NOBODY), os.path.join(work, "slow"))
    finally:
        os.close(keep)
    assert fast == slow
    assert "Uid:\t65534\t65534\t65534\t65534" in fast, "real, effective, saved and fs uid all dropped"
    assert "Groups:\t100 65534" in fast
    assert "CapEff:\t0000000000000000" in fast and "CapPrm:\t0000000000000000" in fast
    assert "fds 0 1 2 " in fast, fast  # (ls's own directory fd comes after)
    assert "pgid-is-pid 1" in fast


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("strace") is None, reason="needs root and strace")
def test_the_daemon_vforks_for_another_users_script(work):
    """subprocess forks (copies the daemon's page tables) when it must switch users itself; through
    setpriv the daemon's side is a vfork."""
    code = (f"import sys; sys.path[:0] = {sys.path!r}\n"
            "import subprocess\n"
            "from vipkeeper.script_launch import Identity, launch\n"
            "argv, options = launch(['/bin/true'], Identity('nobody', 65534, 65534, (65534,)))\n"
            "subprocess.Popen(argv, **options).wait()\n")
    done = subprocess.run(["strace", "-qq", "-e", "trace=vfork,fork,clone,clone3", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    calls = [line for line in done.stderr.splitlines() if line.startswith(("vfork", "fork", "clone"))]
    assert calls and all(c.startswith("vfork") or "CLONE_VM|CLONE_VFORK" in c for c in calls), calls


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_exec_failures_keep_the_shell_exit_codes(work):
    not_exec = os.path.join(work, "plain")
    with open(not_exec, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(not_exec, 0o644)
    for path, code in ((os.path.join(work, "missing"), 127), (not_exec, 126)):
        argv, options = launch([path], NOBODY)
        assert subprocess.Popen(argv, **options).wait(10) == code


def test_a_setpriv_someone_else_could_change_is_not_used(work, monkeypatch):
    fake = os.path.join(work, "setpriv")
    shutil.copy("/bin/true", fake)
    os.chmod(work, 0o777)  # a directory anyone may write: not root's own
    monkeypatch.setattr(script_launch, "SETPRIV", fake)
    monkeypatch.setattr(script_launch, "_setpriv_ok", None)
    argv, options = launch(["/bin/true"], NOBODY)
    assert argv == ["/bin/true"]
    assert options["user"] == 65534 and options["group"] == 65534 and options["extra_groups"] == [65534, 100]


def test_the_daemons_own_user_needs_no_helper():
    me = Identity("me", os.geteuid(), os.getegid(), tuple(os.getgroups()))
    argv, options = launch(["/bin/true"], me)
    assert argv == ["/bin/true"] and "user" not in options
