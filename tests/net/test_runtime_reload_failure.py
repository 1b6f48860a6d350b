"""A reload that passes `check --no-host` but fails when it meets the system (an interface that does not
exist) changes nothing: the running instance keeps its state and VIP, and the daemon keeps no
socket from the failed attempt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

CONF = """
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 0.5
  version 3
  virtual_ipaddress { 192.0.2.60/24 }
}
"""
BROKEN_ON_THE_SYSTEM = CONF + CONF.replace("VI_1", "VI_2").replace("eth0", "nosuch0").replace(".60/", ".61/")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_reload_failing_on_a_missing_interface_changes_nothing(topology: Topology, lan, tmp_path: Path) -> None:
    node = lan["a"]
    conf = tmp_path / "a.conf"
    conf.write_text(CONF)
    log = tmp_path / "a.log"
    ctl = str(tmp_path / "a.ctl")
    proc = topology.popen(node.ns, ["vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(conf),
                                    "-p", str(tmp_path / "a.pid"), "--control-socket", ctl],
                          stderr=open(log, "w"))

    def status() -> dict:
        out = subprocess.run(["vipkeeper", "status", "--socket", ctl, "--json"], capture_output=True, text=True,
                             timeout=10, check=True)
        return json.loads(out.stdout)

    def holds() -> bool:
        return any(str(a) == "192.0.2.60/24" for a in topology.addresses(node.ns))

    wait_for(holds, 10, what="VIP on a")
    wait_for(lambda: status()["instances"][0]["state"] == "MASTER", 5, what="MASTER")
    since = status()["instances"][0]["since"]
    fds = _fds(proc.pid)

    conf.write_text(BROKEN_ON_THE_SYSTEM)
    # `check` now looks at the host as keepalived -t does and stops this reload at the gate (exit 5,
    # keepalived's); what follows is the daemon's own guard, for a reload that skips the gate
    gate = subprocess.run(["vipkeeper", "check", "-f", str(conf)], capture_output=True, text=True)
    assert gate.returncode == 5 and "interface nosuch0 for vrrp_instance VI_2 doesn't exist" in gate.stdout
    assert subprocess.run(["vipkeeper", "check", "--no-host", "-f", str(conf)], capture_output=True).returncode == 0
    proc.signal(signal.SIGHUP)
    wait_for(lambda: status()["daemon"]["reload_failures"] == 1, 5, what="the reload to fail")

    snap = status()
    assert [i["name"] for i in snap["instances"]] == ["VI_1"]
    assert snap["instances"][0]["state"] == "MASTER" and snap["instances"][0]["since"] == since
    assert "nosuch0" in (snap["daemon"]["last_reload_error"] or "")
    assert holds()
    assert _fds(proc.pid) == fds, "the failed reload left descriptors open"
    assert "Reload failed, keeping the running configuration" in log.read_text()
    time.sleep(1.0)  # an observation window (two advert intervals), not a synchronisation
    assert status()["instances"][0]["since"] == since and holds()
