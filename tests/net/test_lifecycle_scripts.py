"""startup_script / shutdown_script on a real daemon: the start-up script runs (as the configured
user) before any VIP is added, the shutdown script after the VIPs are released; a start-up script
that outlives startup_script_timeout is killed with its children and VRRP starts anyway; with
enable_script_security an unsafe script is not run."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

VIP = "192.0.2.63/24"
CONF = """global_defs {{
  enable_script_security
{scripts}
}}
vrrp_instance VI_1 {{
  state MASTER
  interface eth0
  virtual_router_id 63
  priority 150
  advert_int 1
  virtual_ipaddress {{
    {vip}
  }}
}}
"""

# writes who ran it and whether the VIP was on eth0 at that moment
RECORD = """#!/bin/sh
{{ id -u; if ip -o addr show dev eth0 | grep -q ' {vip} '; then echo vip-present; else echo vip-absent; fi; }} \\
  > "$1.tmp" && mv "$1.tmp" "$1"
"""
HANG = """#!/bin/sh
sleep 60 &
echo $! > "$1"
wait
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _vip_present(topology: Topology, ns: str) -> bool:
    return any(a.with_prefixlen == VIP for a in topology.addresses(ns))


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """Scripts in a directory the script user can reach (pytest's own is root-only) and root owns."""
    path = Path(tempfile.mkdtemp(prefix="vk-lifecycle-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o1777)  # the script user may write its marker there
    return out


def test_startup_before_vips_shutdown_after_release_as_script_user(topology: Topology, lan, tmp_path: Path,
                                                                   outdir: Path) -> None:
    ns = lan["a"].ns
    record = _script(tmp_path / "record.sh", RECORD.format(vip=VIP))
    start, stop = outdir / "start", outdir / "stop"
    conf = tmp_path / "k.conf"
    conf.write_text(CONF.format(vip=VIP, scripts=f'  startup_script "{record} {start}" nobody\n'
                                                 f'  shutdown_script "{record} {stop}"\n  script_user root'))
    daemon = HostDaemon("vipkeeper", ns, conf, tmp_path, "vk")
    daemon.start()
    try:
        wait_for(lambda: _vip_present(topology, ns), 20, what="VIP after the start-up script")
        assert start.read_text().split() == [str(pwd.getpwnam("nobody").pw_uid), "vip-absent"]
        assert not stop.exists()
    finally:
        daemon.stop(timeout=15)
    assert stop.read_text().split() == ["0", "vip-absent"], "shutdown script after the VIPs went, as root"
    assert not _vip_present(topology, ns)
    log = "\n".join(daemon.log_lines())
    assert "Running startup script" in log and "Running shutdown script" in log, log
    assert "Traceback" not in log


def test_startup_timeout_kills_the_script_and_its_children_and_vrrp_starts(topology: Topology, lan,
                                                                           tmp_path: Path, outdir: Path) -> None:
    ns = lan["a"].ns
    hang = _script(tmp_path / "hang.sh", HANG)
    child_pid = outdir / "child"
    conf = tmp_path / "k.conf"
    conf.write_text(CONF.format(vip=VIP, scripts=f'  startup_script "{hang} {child_pid}" root\n'
                                                 "  startup_script_timeout 1"))
    daemon = HostDaemon("vipkeeper", ns, conf, tmp_path, "vk")
    started = time.monotonic()
    daemon.start()
    try:
        wait_for(lambda: _vip_present(topology, ns), 20, what="VIP once the start-up script timed out")
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 10, elapsed
        pid = int(child_pid.read_text())
        wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                 Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z",
                 5, what="the script's child killed with it")
        assert "startup script timed out" in "\n".join(daemon.log_lines())
    finally:
        daemon.stop(timeout=15)


def test_unsafe_startup_script_is_not_run_with_script_security(topology: Topology, lan, tmp_path: Path,
                                                                outdir: Path) -> None:
    ns = lan["a"].ns
    unsafe_dir = tmp_path / "unsafe"
    unsafe_dir.mkdir()
    unsafe_dir.chmod(0o777)  # anyone may replace the script: keepalived disables it
    record = _script(unsafe_dir / "record.sh", RECORD.format(vip=VIP))
    start = outdir / "start"
    conf = tmp_path / "k.conf"
    conf.write_text(CONF.format(vip=VIP, scripts=f'  startup_script "{record} {start}" root'))
    daemon = HostDaemon("vipkeeper", ns, conf, tmp_path, "vk")
    daemon.start()
    try:
        wait_for(lambda: _vip_present(topology, ns), 20, what="VIP without the start-up script")
        assert not start.exists()
        assert f"Unsafe permissions found for script '{record}' - disabling" in "\n".join(daemon.log_lines())
    finally:
        daemon.stop(timeout=15)
