"""`vipkeeper pidcheck` with real processes: exit status, silence, no /proc race errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.net

CHURN = str(Path(__file__).with_name("track_churn_driver.py"))


def pidcheck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vipkeeper", "pidcheck", *args], capture_output=True, timeout=30)


@pytest.fixture
def renamed(tmp_path):
    name = "vkpc_" + os.urandom(3).hex()
    exe = tmp_path / name
    shutil.copy("/bin/sleep", exe)
    p = subprocess.Popen([str(exe), "60"])
    try:
        yield name, str(exe), p
    finally:
        p.kill()
        p.wait()


def test_running_missing_and_silent(renamed):
    name, exe, _ = renamed
    for args, rc in [((name,), 0), ((name, "vk_no_such_proc"), 1), (("vk_no_such_proc",), 1),
                     (("--full", exe), 0), (("--full", name), 0), (("--full", "/nope/" + name), 1)]:
        res = pidcheck(*args)
        assert res.returncode == rc, args
        assert res.stdout == b"" and res.stderr == b""


def test_exit_is_seen(renamed):
    name, _, p = renamed
    p.kill()
    p.wait()
    assert pidcheck(name).returncode == 1


def test_no_errors_under_churn(renamed, tmp_path):
    name, _, _ = renamed
    t = tmp_path / "vkpc_churn"
    shutil.copy("/bin/true", t)
    drv = subprocess.Popen([sys.executable, CHURN, str(t), "3000"], stdout=subprocess.DEVNULL)
    try:
        n = 0
        while drv.poll() is None and n < 200:
            res = pidcheck(name)
            assert res.returncode == 0 and res.stdout == b"" and res.stderr == b""
            n += 1
        assert n > 0
    finally:
        drv.kill()
        drv.wait()
