"""Finding 1 of issue 20: notify scripts bypassed enable_script_security.

A world-writable script owned by an unprivileged user (nobody), configured as notify_master, a
sync group's notify_master and the notify_fifo_script, ran as root. Now every script the daemon
can start is checked at start and at each reload, and an unsafe one is logged and not run.
keepalived 2.2.7 gets the same configuration and must refuse the same scripts.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vipkeeper.lab.testbed import Testbed

pytestmark = pytest.mark.net

NOBODY = pwd.getpwnam("nobody").pw_uid
VIP1, VIP2 = "192.0.2.81/24", "192.0.2.82/24"


def scripts(workdir: Path) -> dict[str, Path]:
    """A safe recorder (root-owned, 0755, in root-owned 0755 directories) and three hostile
    scripts owned by nobody and writable by anyone, each leaving a marker if it ever runs."""
    d = workdir / "scripts"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    out = {}
    rec = d / "record.sh"
    rec.write_text(f"#!/bin/sh\necho \"$*\" >> {workdir}/record.log\n")
    os.chmod(rec, 0o755)
    out["record"] = rec
    for name in ("evil_master", "evil_group", "evil_fifo"):
        p = d / f"{name}.sh"
        p.write_text(f"#!/bin/sh\nid -u > {workdir}/{name}.ran\n")
        os.chown(p, NOBODY, NOBODY)
        os.chmod(p, 0o777)
        out[name] = p
    return out


def conf(workdir: Path, s: dict[str, Path]) -> str:
    inst = """vrrp_instance {name} {{
  state BACKUP
  interface eth0
  virtual_router_id {vrid}
  priority 150
  advert_int 0.5
  version 3
  virtual_ipaddress {{
    {vip}
  }}
  notify_master {evil}
  notify {record}
}}
"""
    return (f"global_defs {{\n  enable_script_security\n  script_user root\n"
            f"  notify_fifo {workdir}/notify.fifo\n  notify_fifo_script {s['evil_fifo']}\n}}\n"
            + inst.format(name="VI_1", vrid=81, vip=VIP1, evil=s["evil_master"], record=s["record"])
            + inst.format(name="VI_2", vrid=82, vip=VIP2, evil=s["evil_master"], record=s["record"])
            + f"vrrp_sync_group G1 {{\n  group {{\n    VI_1\n    VI_2\n  }}\n  notify_master {s['evil_group']}\n}}\n")


def wait_file_line(path: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{text!r} not in {path} within {timeout}s: {path.read_text() if path.exists() else '(none)'}")


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_unsafe_notify_scripts_are_refused_under_script_security(topology, kind) -> None:
    with Testbed(topology, ("a",), ipv6=False) as bed:
        work = bed.nodes["a"].workdir
        s = scripts(work)
        bed.start("a", kind=kind, conf=conf(work, s))
        bed.wait_sole("a", VIP1, 10.0)
        bed.wait_sole("a", VIP2, 10.0)
        # the safe generic notify ran for both instances: notifies work at all
        wait_file_line(work / "record.log", "INSTANCE VI_2 MASTER", 5.0)
        wait_file_line(work / "record.log", "INSTANCE VI_1 MASTER", 5.0)
        bed.stop("a")
        log = bed.log_text("a")
        for name in ("evil_master", "evil_group", "evil_fifo"):
            assert not (work / f"{name}.ran").exists(), f"{kind} ran {name} as uid " \
                f"{(work / f'{name}.ran').read_text().strip()}"
            assert f"Unsafe permissions found for script '{s[name]}' - disabling" in log, (kind, name, log)
        if kind == "vipkeeper":
            assert "SECURITY VIOLATION" not in log


def test_reload_rechecks_every_script(topology) -> None:
    """A script that was safe at start and is made writable by others is refused after SIGHUP
    (here: the generic notify, which would otherwise record STOP at shutdown)."""
    with Testbed(topology, ("a",), ipv6=False) as bed:
        work = bed.nodes["a"].workdir
        s = scripts(work)
        bed.start("a", conf=conf(work, s))
        bed.wait_sole("a", VIP1, 10.0)
        wait_file_line(work / "record.log", "INSTANCE VI_1 MASTER", 5.0)
        os.chmod(s["record"], 0o777)
        hup = bed.daemon("a").kill(signal.SIGHUP)
        bed.daemon("a").log.wait_line(lambda line: "Reload finished" in line.text, 10.0, after=hup - 0.5)
        assert f"Unsafe permissions found for script '{s['record']}' - disabling" in bed.log_text("a")
        bed.stop("a")
        assert "STOP" not in (work / "record.log").read_text()


def test_reload_control_stop_is_recorded_when_safe(topology) -> None:
    """The control for the test above: without the chmod, the STOP notify does run."""
    with Testbed(topology, ("a",), ipv6=False) as bed:
        work = bed.nodes["a"].workdir
        s = scripts(work)
        bed.start("a", conf=conf(work, s))
        bed.wait_sole("a", VIP1, 10.0)
        wait_file_line(work / "record.log", "INSTANCE VI_1 MASTER", 5.0)
        bed.stop("a")
        wait_file_line(work / "record.log", "INSTANCE VI_1 STOP", 3.0)


MISSING_USER_CONF = """global_defs {
    enable_script_security
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.10/24
    }
    notify_master /usr/bin/true
}
"""


def test_missing_default_script_user_is_a_config_error_like_keepalived(topology, tmp_path) -> None:
    try:
        pwd.getpwnam("keepalived_script")
        pytest.skip("this host has a keepalived_script user: the error cannot occur")
    except KeyError:
        pass
    lan = topology.add_bridge_lan(("a",))
    path = tmp_path / "k.conf"
    path.write_text(MISSING_USER_CONF)
    ka = topology.run(lan["a"].ns, ["/usr/sbin/keepalived", "-t", "-f", str(path)], check=False)
    assert ka.returncode == 5
    assert f"({path}: Line 11) Unable to set default user keepalived_script for script" in ka.stderr
    vk = subprocess.run([sys.executable, "-m", "vipkeeper", "check", "-f", str(path)],
                        capture_output=True, text=True, timeout=30)
    assert vk.returncode == 1
    assert f"{path}:11: error: Unable to set default user keepalived_script for script" in vk.stdout + vk.stderr
    # and `run` refuses to start rather than running scripts as root
    run = subprocess.run([sys.executable, "-m", "vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(path),
                          "-p", str(tmp_path / "pid"), "--control-socket", str(tmp_path / "ctl")],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert f"{path}:11: error: Unable to set default user keepalived_script" in run.stderr
