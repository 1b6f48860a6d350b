"""use_ipvlan on a kernel without ipvlan (this machine's and CI's: `ip link add ... type ipvlan`
answers "Error: Unknown device type."):

- the request vipkeeper sends is byte for byte the one the installed iproute2 sends for the same
  link (captured live with strace; the kernel refuses both alike);
- vipkeeper refuses to start with one line naming the kernel's missing ipvlan support, exits
  non-zero, holds no VIP and leaves no link or address behind;
- keepalived 2.2.7 on the same file logs the same kernel answer ("Operation not supported(95)"),
  keeps running with the instance in FAULT and holds no VIP either: the difference (keepalived
  stays up, vipkeeper stops) is the one written down in net/vmac.py.
On a kernel that has ipvlan these three are skipped (reported as skipped, never as passed). On
any kernel: an interface of the ipvlan's name that is not an ipvlan is never touched (one line,
no start)."""

from __future__ import annotations

import ipaddress
import re
import shutil
import struct
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology
from vipkeeper.net import link_requests as lr

pytestmark = pytest.mark.net

CONF = """vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 1
  use_ipvlan ipvl51 192.0.2.11/24 private
  virtual_ipaddress {
    192.0.2.51/24
  }
}
"""
VIP = ipaddress.ip_interface("192.0.2.51/24")
IPVLAN_ADDRESS = ipaddress.ip_interface("192.0.2.11/24")


def _links(topology: Topology, ns: str) -> set[str]:
    out = topology.run(ns, ["ip", "-o", "link", "show"]).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _require_no_ipvlan(topology: Topology, ns: str) -> None:
    probe = topology.run(ns, ["ip", "link", "add", "link", "eth0", "name", "vkprobe0", "type", "ipvlan"], check=False)
    if probe.returncode == 0:
        topology.run(ns, ["ip", "link", "del", "vkprobe0"])
        pytest.skip("this kernel has ipvlan: the refusal cannot be shown here")
    assert "Unknown device type" in probe.stderr, probe.stderr


def test_request_matches_iproute2s_live(topology: Topology, lan) -> None:
    ns = lan["a"].ns
    _require_no_ipvlan(topology, ns)
    assert shutil.which("strace"), "strace is needed (debian-packages.txt)"
    index = int(topology.run(ns, ["cat", "/sys/class/net/eth0/ifindex"]).stdout)
    traced = topology.run(ns, ["strace", "-e", "trace=sendmsg", "-e", "write=all", "ip", "link", "add", "link",
                               "eth0", "name", "ipvl0", "type", "ipvlan", "mode", "l2", "private"], check=False)
    assert traced.returncode != 0 and "Error: Unknown device type." in traced.stderr, traced.stderr
    sent = _sent_messages(traced.stderr)
    [request] = [m for m in sent if struct.unpack_from("=H", m, 4)[0] == 16]  # the one RTM_NEWLINK
    seq = struct.unpack_from("=I", request, 8)[0]
    assert lr.ipvlan_message(seq, "ipvl0", index, lr.IPVLAN_FLAGS["private"]) == request


def _sent_messages(trace: str) -> list[bytes]:
    """The bytes of each sendmsg in strace's `-e write=all` hex dumps."""
    out: list[bytes] = []
    for line in trace.splitlines():
        if line.startswith("sendmsg("):
            out.append(b"")
        dump = re.match(r" \| [0-9a-f]{5}  ((?:[0-9a-f]{2} {1,2}){1,16})", line)
        if dump and out:
            out[-1] += bytes.fromhex(dump.group(1).replace(" ", ""))
    return out


def _daemon_output(daemon: HostDaemon, timeout: float) -> list[str]:
    assert daemon.wait(timeout), f"{daemon.kind} did not exit"
    lines: list[str] = []

    def settled() -> bool:  # the reader thread has what the process wrote before it exited
        nonlocal lines
        before, lines = lines, daemon.log_lines()
        return bool(lines) and lines == before

    wait_for(settled, 5, interval=0.2, what="daemon output read")
    return lines


def test_vipkeeper_refuses_with_one_line_and_leaves_nothing(topology: Topology, lan, tmp_path: Path) -> None:
    ns = lan["a"].ns
    _require_no_ipvlan(topology, ns)
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    links_before = _links(topology, ns)
    addresses_before = topology.addresses(ns, "eth0")
    daemon = HostDaemon("vipkeeper", ns, conf, tmp_path, "vk")
    daemon.start()
    try:
        lines = _daemon_output(daemon, 20)
    finally:
        daemon.stop(timeout=5)
    assert daemon.popen is not None and daemon.popen.returncode == 1, lines
    said = [ln for ln in lines if "Starting vipkeeper" not in ln]
    assert len(said) == 1, lines  # the start banner and exactly one line
    assert (f"{conf}:1: (VI_1) cannot create ipvlan ipvl51 on eth0: this kernel has no ipvlan support "
            "(RTM_NEWLINK kind ipvlan: EOPNOTSUPP") in said[0], said
    assert _links(topology, ns) == links_before  # no half-made ipvlan
    after = topology.addresses(ns, "eth0")
    assert VIP not in after and IPVLAN_ADDRESS not in after and after == addresses_before


def test_keepalived_on_the_same_file_stays_up_in_fault_without_the_vip(topology: Topology, lan,
                                                                       tmp_path: Path) -> None:
    ns = lan["a"].ns
    _require_no_ipvlan(topology, ns)
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    links_before = _links(topology, ns)
    daemon = HostDaemon("keepalived", ns, conf, tmp_path, "ka")
    daemon.start()
    try:
        wait_for(lambda: any("Unable to create ipvlan interface ipvl51" in ln for ln in daemon.log_lines()), 20,
                 what="keepalived's ipvlan failure")
        wait_for(lambda: any("(VI_1) entering FAULT state" in ln for ln in daemon.log_lines()), 10,
                 what="keepalived FAULT")
        assert any("Netlink: error: Operation not supported(95), type=RTM_NEWLINK(16)" in ln
                   for ln in daemon.log_lines()), daemon.log_lines()
        assert daemon.running, "keepalived keeps running"
        assert VIP not in topology.addresses(ns, "eth0")
        assert _links(topology, ns) == links_before
    finally:
        daemon.stop(timeout=10)
    assert VIP not in topology.addresses(ns, "eth0")


def test_an_interface_of_the_ipvlans_name_that_is_no_ipvlan_is_left_alone(topology: Topology, lan,
                                                                         tmp_path: Path) -> None:
    """On any kernel: the name is taken by something else (here a veth), so vipkeeper refuses to
    start with one line and does not touch it."""
    ns = lan["a"].ns
    topology.run(ns, ["ip", "link", "add", "ipvl51", "type", "veth", "peer", "name", "ipvl51p"])
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    daemon = HostDaemon("vipkeeper", ns, conf, tmp_path, "vk")
    daemon.start()
    try:
        lines = _daemon_output(daemon, 20)
    finally:
        daemon.stop(timeout=5)
    assert daemon.popen is not None and daemon.popen.returncode == 1, lines
    said = [ln for ln in lines if "Starting vipkeeper" not in ln]
    assert len(said) == 1 and (f"{conf}:1: (VI_1) ipvl51 exists and is not an ipvlan on eth0 (kind veth): "
                               "not touching it") in said[0], lines
    assert {"ipvl51", "ipvl51p"} <= _links(topology, ns)
    assert VIP not in topology.addresses(ns, "eth0") and topology.addresses(ns, "ipvl51") == []
