"""garp_extra_if: vipkeeper's periodic GARPs on the other interfaces of its VIPs match keepalived
2.2.7's on the same configuration, captured on the wire.

The node gets two more interfaces (veth eth1 and eth2, captured on their peers eth1p/eth2p in
the node's namespace) carrying VIPs with `dev`. Each daemon runs alone as Master on node a, one
after the other. Compared, per interface:
- becoming Master, every VIP is announced on its own interface (not on the instance's);
- with `garp_extra_if all N`: one GARP every N s (with an advert) on each other interface, for
  the first VIP on it only, and none on the instance's own interface;
- without `all` but with `use_vmac_addr` (the VIPs on eth1/eth2 on VMACs of their own) the same;
- without `all` (no VMAC among them), or with the global `vrrp_garp_extra_if` overridden by the
  instance's `garp_extra_if 0`: no periodic GARP at all.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from vipkeeper.lab.proc import LabTimeout
from vipkeeper.lab.testbed import Testbed
from vipkeeper.lab.watch import Frame, FrameCapture

pytestmark = pytest.mark.net

VRID = 91
OWN = "192.0.2.91"
ETH1 = ["198.51.100.91", "198.51.100.92"]
ETH2 = ["198.51.100.131", "198.51.100.132"]
PERIOD = 2
WINDOW = 5.6  # s after becoming Master: rounds at 2 and 4 s (+ an advert's lateness)


def conf(instance_line: str, global_line: str = "") -> str:
    return f"""
global_defs {{
  {global_line}
}}
vrrp_instance VI_1 {{
  state MASTER
  interface eth0
  virtual_router_id {VRID}
  priority 200
  advert_int 0.5
  version 3
  garp_master_delay 0
  garp_master_repeat 1
  {instance_line}
  virtual_ipaddress {{
    {OWN}/24
    {ETH1[0]}/25 dev eth1
    {ETH2[0]}/25 dev eth2
  }}
  virtual_ipaddress_excluded {{
    {ETH1[1]}/25 dev eth1
    {ETH2[1]}/25 dev eth2
  }}
}}
"""


CASES = {
    "all": (f"garp_extra_if all {PERIOD}", ""),
    "global_all": ("", f"vrrp_garp_extra_if all {PERIOD}"),
    "not_ours": (f"garp_extra_if {PERIOD}", ""),
    "instance_off": ("garp_extra_if 0", f"vrrp_garp_extra_if all {PERIOD}"),
    # the VIPs on eth1/eth2 on address VMACs (vrrp.91, vrrp1.91): VMACs of ours, so without `all`
    "vmac_addr": (f"garp_extra_if {PERIOD}\n  use_vmac_addr", ""),
}
PERIODIC = {"all": True, "global_all": True, "not_ours": False, "instance_off": False, "vmac_addr": True}


def garp_of(frame: Frame) -> str | None:
    arp = frame.arp()
    return str(arp.sender_ip) if arp is not None and arp.is_gratuitous else None


def add_links(bed: Testbed) -> None:
    ns = bed.nodes["a"].ns
    for name in ("eth1", "eth2"):
        for argv in (["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"],
                     ["ip", "link", "set", name, "up"], ["ip", "link", "set", f"{name}p", "up"]):
            subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, timeout=10)


def run(bed: Testbed, kind: str, text: str) -> dict[str, list[tuple[float, str]]]:
    """(time since the first GARP on eth0, VIP) of the GARPs on each interface."""
    ns = bed.nodes["a"].ns
    caps = {"eth0": FrameCapture(bed.lan.bridge_ns, bed.lan["a"].port, lambda f: garp_of(f) is not None),
            "eth1": FrameCapture(ns, "eth1p", lambda f: garp_of(f) is not None),
            "eth2": FrameCapture(ns, "eth2p", lambda f: garp_of(f) is not None)}
    try:
        t0 = time.time()
        bed.start("a", kind=kind, conf=text)
        try:
            bed.wait_sole("a", f"{OWN}/24", 10.0)
        except LabTimeout as exc:
            raise AssertionError(f"{kind} did not become Master: {exc}\n{bed.log_text('a')[-2000:]}") from None
        assert caps["eth0"].wait(lambda: bool(caps["eth0"].snapshot()), 5.0), f"{kind}: no GARP on eth0"
        first = caps["eth0"].snapshot()[0].time
        # an observation window: periodic GARPs are what is measured, their absence included
        while time.time() < first + WINDOW:
            time.sleep(0.05)
        bed.stop("a")
        return {name: [(round(f.time - first, 3), garp_of(f)) for f in cap.snapshot()
                       if t0 <= f.time <= first + WINDOW]
                for name, cap in caps.items()}
    finally:
        for cap in caps.values():
            cap.close()


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=False) as tb:
        add_links(tb)
        yield tb


@pytest.mark.parametrize("case", list(CASES))
def test_periodic_garps_on_other_interfaces_as_keepalived(bed: Testbed, case: str) -> None:
    text = conf(*CASES[case])
    seen = {kind: run(bed, kind, text) for kind in ("keepalived", "vipkeeper")}
    for kind, found in seen.items():
        print(kind, found)
    for kind, found in seen.items():
        burst = {name: [a for t, a in frames if t < 0.2] for name, frames in found.items()}
        later = {name: [(t, a) for t, a in frames if t >= 0.2] for name, frames in found.items()}
        # becoming Master: each VIP on its own interface, nowhere else
        assert burst == {"eth0": [OWN], "eth1": ETH1, "eth2": ETH2}, (kind, found)
        assert later["eth0"] == [], (kind, found)  # never on the instance's own interface
        for name, vips in (("eth1", ETH1), ("eth2", ETH2)):
            if PERIODIC[case]:
                # the first VIP of the interface, every PERIOD s, with an advert
                assert [a for _, a in later[name]] == [vips[0]] * 2, (kind, found)
                assert [round(t) for t, _ in later[name]] == [PERIOD, 2 * PERIOD], (kind, found)
            else:
                assert later[name] == [], (kind, found)
    ka, vk = seen["keepalived"], seen["vipkeeper"]
    for name in ("eth1", "eth2"):
        k_times = [t for t, _ in ka[name] if t >= 0.2]
        v_times = [t for t, _ in vk[name] if t >= 0.2]
        assert len(k_times) == len(v_times)
        for k, v in zip(k_times, v_times):
            assert abs(k - v) < 0.1, (name, k_times, v_times)
