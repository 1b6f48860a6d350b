"""Missing and vanishing interfaces (issue 15): the instance on the missing interface is in FAULT,
the other instance keeps running and keeps its VIP, and the first recovers when its interface
appears, disappears and is re-created. Run with vipkeeper and with keepalived 2.2.7 on the same
file (with `dynamic_interfaces`), which must agree on what happens to the addresses and on the
FAULT line. Without `dynamic_interfaces` keepalived 2.2.7 refuses to start at all; vipkeeper
runs the other instances (a documented difference: README, "Interfaces that come and go")."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.testbed import vrrp_conf
from vipkeeper.lab.watch import AddressWatch

pytestmark = pytest.mark.net

VIP_X = "192.0.2.50"  # VI_1, on the interface that comes and goes
VIP_B = "198.51.100.50"  # VI_2, on the interface that stays
ADV = 0.5
BOUND = 3 * ADV + 3.0  # master-down of a lone priority-100 instance, plus slack for a loaded host
STARTUP = 10.0  # s: a daemon's start-up on a loaded shared host (not under test)


def config(dynamic: bool) -> str:
    return (vrrp_conf("VI_1", vrid=51, interface="vx", vips=[f"{VIP_X}/24"], advert_int=ADV,
                      global_defs=["dynamic_interfaces"] if dynamic else ())
            + vrrp_conf("VI_2", vrid=52, interface="vb", vips=[f"{VIP_B}/24"], advert_int=ADV))


def argv(kind: str, conf: Path, work: Path) -> list[str]:
    if kind == "keepalived":
        return ["/usr/sbin/keepalived", "-n", "-l", "-D", "-G", "-P", "-f", str(conf), "-p", str(work / "k.pid"),
                "-r", str(work / "v.pid"), "-c", str(work / "c.pid")]
    return [sys.executable, "-m", "vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(conf),
            "-p", str(work / "vk.pid"), "--control-socket", str(work / "vk.ctl"), "--data-file", str(work / "vk.data")]


class Node:
    """One namespace with `vb` (198.51.100.1/24) and, on demand, `vx` (192.0.2.1/24)."""

    def __init__(self, topology, work: Path) -> None:
        self.topo = topology
        self.ns = topology.add_namespace("n")
        self.work = work
        self.ip("link", "add", "vb", "type", "veth", "peer", "name", "vbp")
        self.ip("addr", "add", "198.51.100.1/24", "dev", "vb")
        self.ip("link", "set", "vb", "up")
        self.ip("link", "set", "vbp", "up")
        self.watch = AddressWatch(self.ns)
        self.out = work / "daemon.log"

    def ip(self, *args: str) -> None:
        self.topo.run(self.ns, ["ip", *args])

    def make_vx(self) -> float:
        self.ip("link", "add", "vx", "type", "veth", "peer", "name", "vxp")
        self.ip("addr", "add", "192.0.2.1/24", "dev", "vx")
        self.ip("link", "set", "vx", "up")
        self.ip("link", "set", "vxp", "up")
        return time.time()

    def delete_vx(self) -> float:
        self.ip("link", "del", "vx")
        return time.time()

    def start(self, kind: str, text: str):
        conf = self.work / "node.conf"
        conf.write_text(text)
        handle = self.out.open("w")
        try:
            return self.topo.popen(self.ns, argv(kind, conf, self.work), stdout=handle, stderr=subprocess.STDOUT)
        finally:
            handle.close()

    def log(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_vip(self, vip: str, present: bool, timeout: float = BOUND) -> float:
        wait_for(lambda: self.watch.holds(vip) == present, timeout,
                 what=f"{vip} {'on' if present else 'off'} in {self.ns}")
        return time.time()


@pytest.fixture
def node(topology, tmp_path):
    n = Node(topology, tmp_path)
    try:
        yield n
    finally:
        n.watch.close()


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_instance_follows_its_interface_while_the_other_keeps_its_vip(node: Node, kind: str) -> None:
    proc = node.start(kind, config(dynamic=True))
    started = time.time()
    node.wait_vip(VIP_B, True, STARTUP)  # VI_2 runs and becomes Master although vx is missing
    assert proc.running
    assert not node.watch.holds(VIP_X)
    log = node.log()
    # keepalived's words for the missing interface and for the instance's FAULT
    assert "Configuration specifies interface vx which doesn't currently exist - will use if created" in log
    assert "(VI_1): entering FAULT state (interface vx down)" in log

    created = node.make_vx()
    node.wait_vip(VIP_X, True)  # VI_1 picked vx up: BACKUP, then MASTER alone
    assert node.watch.first(VIP_X, True, created) is not None

    node.delete_vx()
    node.wait_vip(VIP_X, False)  # gone with the interface; the daemon keeps running
    assert proc.running
    time.sleep(2 * ADV)
    assert "Interface vx deleted" in node.log()

    recreated = node.make_vx()
    node.wait_vip(VIP_X, True)  # and back on the re-created vx (a new ifindex)
    assert node.watch.first(VIP_X, True, recreated) is not None
    # through all of it the other instance never let go of its VIP
    assert node.watch.first(VIP_B, False, started + 0.001) is None
    assert node.watch.holds(VIP_B)
    assert proc.running


def test_without_dynamic_interfaces_keepalived_stops_vipkeeper_runs_the_others(node: Node) -> None:
    ka = node.start("keepalived", config(dynamic=False))
    assert ka.wait(10.0) != 0  # keepalived 2.2.7 refuses to start at all
    ka_log = node.log()
    assert "WARNING - interface vx for vrrp_instance VI_1 doesn't exist" in ka_log
    assert "Non-existent interface specified in configuration" in ka_log
    assert not node.watch.holds(VIP_B)

    vk = node.start("vipkeeper", config(dynamic=False))
    node.wait_vip(VIP_B, True, STARTUP)
    assert vk.running
    log = node.log()
    assert "WARNING - interface vx for vrrp_instance VI_1 doesn't exist" in log
    assert "(VI_1): entering FAULT state (interface vx down)" in log
    node.make_vx()
    node.wait_vip(VIP_X, True)  # and it still picks the interface up when it appears
