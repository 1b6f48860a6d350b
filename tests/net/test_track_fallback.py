"""Fallback mode: inside a network namespace (connector refused) and a PID namespace (its own
/proc), trackers use pidfd for exits and a /proc rescan for new processes. Also real haproxy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.net

DRIVER = str(Path(__file__).with_name("track_fallback_driver.py"))


@pytest.fixture
def netns():
    name = "vk" + os.urandom(4).hex()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run_driver(prefix: list[str], name: str, cmd: list[str]) -> str:
    out = subprocess.run(prefix + [sys.executable, DRIVER, name, *cmd], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout


def latencies(out: str) -> dict[str, float]:
    return {w[0]: float(w[1]) for w in (line.split() for line in out.splitlines()) if w and w[0] in ("UP", "DOWN")}


def test_pid_namespace_fallback_detects_appearance_and_exit(netns, tmp_path):
    name = "vktrk_" + os.urandom(3).hex()
    exe = tmp_path / name
    shutil.copy("/bin/sleep", exe)
    out = run_driver(["ip", "netns", "exec", netns, "unshare", "--pid", "--fork", "--mount-proc"],
                     name, [str(exe), "60"])
    assert "MODE rescan" in out
    modes = [line for line in out.splitlines() if "process tracking:" in line]
    assert len(modes) == 1 and "running inside a PID namespace" in modes[0], out
    lat = latencies(out)
    print(f"\nfallback (pid ns): appearance {lat['UP']} ms, exit {lat['DOWN']} ms")
    assert lat["UP"] < 1000 and lat["DOWN"] < 100


def test_network_namespace_only_is_refused_then_falls_back(netns, tmp_path):
    name = "vktrk_" + os.urandom(3).hex()
    exe = tmp_path / name
    shutil.copy("/bin/sleep", exe)
    out = run_driver(["ip", "netns", "exec", netns], name, [str(exe), "60"])
    assert "MODE rescan" in out and "refused the subscription" in out
    assert set(latencies(out)) == {"UP", "DOWN"}


def test_haproxy_in_its_own_pid_namespace(netns, tmp_path):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("global\n    maxconn 10\ndefaults\n    mode tcp\n    timeout connect 1s\n"
                   "    timeout client 1s\n    timeout server 1s\n"
                   "frontend f\n    bind 127.0.0.1:18080\n    default_backend b\nbackend b\n"
                   "    server s 127.0.0.1:18081\n")
    out = run_driver(["ip", "netns", "exec", netns, "unshare", "--pid", "--fork", "--mount-proc"],
                     "haproxy", ["/usr/sbin/haproxy", "-db", "-f", str(cfg)])
    assert "MODE rescan" in out
    assert set(latencies(out)) == {"UP", "DOWN"}, out
