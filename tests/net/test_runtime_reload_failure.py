"""A reload (past `check`'s gate, which refuses it as keepalived -t does) that adds an instance
on an interface that does not exist (yet) applies without
touching the running instance (state, VIP, descriptors): the new instance waits in FAULT, as it
would at start (issue 15), and comes up when the interface appears. (Before, such a reload was
refused as a whole.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
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


def test_reload_adding_an_instance_on_a_missing_interface_keeps_the_others(topology: Topology, lan,
                                                                          tmp_path: Path) -> None:
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

    def holds(vip: str = "192.0.2.60/24") -> bool:
        return any(str(a) == vip for a in topology.addresses(node.ns, "eth0" if vip.endswith(".60/24") else "nosuch0"))

    def instance(name: str) -> dict:
        return next(i for i in status()["instances"] if i["name"] == name)

    wait_for(holds, 10, what="VIP on a")
    wait_for(lambda: instance("VI_1")["state"] == "MASTER", 5, what="MASTER")
    since = instance("VI_1")["since"]
    fds = _fds(proc.pid)

    conf.write_text(BROKEN_ON_THE_SYSTEM)
    # `check` looks at the host as keepalived -t does and stops this reload at the unit's gate
    # (exit 5, keepalived's); a reload that skips the gate meets the daemon's own rule
    gate = subprocess.run(["vipkeeper", "check", "-f", str(conf)], capture_output=True, text=True)
    assert gate.returncode == 5 and "interface nosuch0 for vrrp_instance VI_2 doesn't exist" in gate.stdout
    assert subprocess.run(["vipkeeper", "check", "--no-host", "-f", str(conf)], capture_output=True).returncode == 0
    proc.signal(signal.SIGHUP)
    wait_for(lambda: status()["daemon"]["reloads"] == 1, 5, what="the reload to apply")
    snap = status()
    assert [i["name"] for i in snap["instances"]] == ["VI_1", "VI_2"]
    assert snap["daemon"]["reload_failures"] == 0
    wait_for(lambda: instance("VI_2")["state"] == "FAULT", 5, what="VI_2 in FAULT")
    assert instance("VI_2")["socket"]["open"] is False
    assert instance("VI_1")["state"] == "MASTER" and instance("VI_1")["since"] == since
    assert holds()
    assert _fds(proc.pid) == fds, "the reload opened descriptors for an instance without an interface"
    assert "(VI_2): entering FAULT state (interface nosuch0 down)" in log.read_text()

    # the interface appears: VI_2 opens its socket and, alone on it, becomes Master
    topology.run(node.ns, ["ip", "link", "add", "nosuch0", "type", "veth", "peer", "name", "nosuch0p"])
    topology.run(node.ns, ["ip", "addr", "add", "198.51.100.1/24", "dev", "nosuch0"])
    topology.run(node.ns, ["ip", "link", "set", "nosuch0", "up"])
    topology.run(node.ns, ["ip", "link", "set", "nosuch0p", "up"])
    wait_for(lambda: holds("192.0.2.61/24"), 10, what="VI_2's VIP on nosuch0")
    assert instance("VI_2")["state"] == "MASTER"
    assert instance("VI_1")["state"] == "MASTER" and instance("VI_1")["since"] == since and holds()
