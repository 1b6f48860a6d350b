"""Scripts do not inherit the daemon's own interpreter settings.

The unit starts the daemon with PYTHONOPTIMIZE=2 and PYTHONNODEBUGRANGES=1 (debian/vipkeeper.service);
a Python notify or check script started by it must run as it would from a shell: asserts on,
docstrings kept. The child here is started with the options the daemon uses for every script
(`script_launch.launch`), only its stdout redirected so that it can say what it got.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vipkeeper import script_launch
from vipkeeper.script_launch import Identity, launch, script_env

CHILD = "import os, sys; print(sys.flags.optimize, os.environ.get('PYTHONOPTIMIZE'), os.environ.get('PYTHONNODEBUGRANGES'))"


def _daemon() -> Identity:
    return Identity("root", os.geteuid(), os.getegid(), ())


def test_script_env_drops_the_daemons_interpreter_settings(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONOPTIMIZE", "2")
    monkeypatch.setenv("PYTHONNODEBUGRANGES", "1")
    monkeypatch.setenv("VK_KEPT", "yes")
    env = script_env()
    assert "PYTHONOPTIMIZE" not in env and "PYTHONNODEBUGRANGES" not in env
    assert env["VK_KEPT"] == "yes"


def test_a_python_script_started_by_an_optimised_daemon_runs_unoptimised(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONOPTIMIZE", "2")
    monkeypatch.setenv("PYTHONNODEBUGRANGES", "1")
    # the same variables reach a child started the plain way: the check below can fail
    plain = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    assert plain.stdout.split() == ["2", "2", "1"]
    argv, options = launch([sys.executable, "-c", CHILD], _daemon())
    options["stdout"] = subprocess.PIPE
    done = subprocess.run(argv, **options, text=True, check=True, timeout=30)
    assert done.stdout.split() == ["0", "None", "None"]


def test_the_stripped_names_are_the_ones_the_unit_sets() -> None:
    unit = Path(__file__).resolve().parents[2] / "debian" / "vipkeeper.service"
    with open(unit) as f:
        lines = [line.strip() for line in f if line.startswith("Environment=")]
    names = {word.split("=", 1)[0] for line in lines for word in line.removeprefix("Environment=").split()}
    assert names == set(script_launch.DAEMON_ONLY_ENV)
