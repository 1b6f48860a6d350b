"""procfs tells "the process is gone" from "we are short of descriptors" (issue 20 #3)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vipkeeper.track import procfs

CHILD = r"""
import os, resource, sys
from vipkeeper.track import procfs
fds = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (fds - 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
out = []
for name, call in (("read_stat", lambda: procfs.read_stat(os.getpid())),
                   ("read_if_named", lambda: procfs.read_if_named(os.getpid(), frozenset([b"x"]))),
                   ("list_pids", procfs.list_pids)):
    try:
        call()
        out.append(f"{name}:no-error")
    except procfs.Shortage:
        out.append(f"{name}:shortage")
print(" ".join(out))
"""


def test_emfile_is_a_shortage_not_an_absence():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=30, check=False,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["read_stat:shortage", "read_if_named:shortage", "list_pids:shortage"]


def test_a_vanished_process_is_still_absent():
    p = subprocess.Popen(["sleep", "0"])
    p.wait()
    assert procfs.read_stat(p.pid) is None
    assert procfs.read_if_named(p.pid, None) is None


def test_missing_proc_is_proc_unavailable(tmp_path):
    with pytest.raises(procfs.ProcUnavailable) as info:
        procfs.list_pids(str(tmp_path / "nope"))
    assert "cannot list" in str(info.value)
    with pytest.raises(procfs.ProcUnavailable):
        procfs.list_pids(str(tmp_path))  # mounted nowhere: an empty directory
