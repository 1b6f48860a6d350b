"""Interfaces deleted and re-created under a running daemon (issue 20, finding 2).

The original failure: the Master's eth0 is deleted and created again with the same name. The
VRRP and announcement sockets stayed bound to the old ifindex, so the node came back as Master
sending adverts that never left, heard nothing, and both nodes held the VIP for as long as the
test ran. Now the socket is reopened on the new ifindex: within a bound exactly one node holds
the VIP, and the re-created node's adverts are on the wire again. Judged from the kernel's
address events in each namespace and the frames captured on the bridge, not from log text."""

from __future__ import annotations

import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

from .bed_helpers import master_down, status

pytestmark = pytest.mark.net

VIP = "192.0.2.60/24"
VIP6 = "2001:db8::60/64"
ADV = 0.5
VRID = 60
STARTUP = 10.0  # s: a daemon's start-up on a loaded shared host (the first election is not under test)


@pytest.mark.parametrize("family", [4, 6])
def test_master_interface_recreated_leaves_exactly_one_holder(bed: Testbed, family: int) -> None:
    """IPv6 too: the re-created interface has a new MAC, so a new link-local source."""
    vip = VIP if family == 4 else VIP6
    bed.start("a", conf=vrrp_conf(priority=150, vrid=VRID, vips=[vip], advert_int=ADV))
    bed.start("b", conf=vrrp_conf(priority=100, vrid=VRID, vips=[vip], advert_int=ADV))
    bed.wait_sole("a", vip, master_down(150, ADV) + STARTUP)
    old_index = status(bed, "a")["instances"][0]["socket"]["ifindex"]

    deleted = bed.delete_link("a")
    # the deletion takes a's VIP with the interface; b hears no more adverts and takes over
    bed.wait_sole("b", vip, master_down(100, ADV) + 3.0)
    snap = status(bed, "a")["instances"][0]
    assert snap["state"] == "FAULT"
    assert snap["socket"]["open"] is False

    back = bed.recreate_link("a")
    # a reopens on the new ifindex, hears b (100 < 150) and preempts: one holder, a.
    bed.wait_sole("a", vip, master_down(150, ADV) + 4.0)
    settle = time.time()
    time.sleep(6 * ADV)
    end = time.time()
    assert bed.holders(vip) == ["a"]
    assert bed.dual_holding(vip, settle, end) == []
    # b saw a's adverts again: it left MASTER; and a's adverts are on the new port
    assert bed.advertisers(settle, end, VRID) == {"a"}
    # at most a brief overlap while a preempts (b holds until it hears a's first advert)
    assert sum(e - s for s, e in bed.dual_holding(vip, back, end)) < ADV
    snap = status(bed, "a")["instances"][0]
    assert snap["socket"]["open"] is True
    assert snap["socket"]["ifindex"] != old_index
    assert snap["socket"]["reopens"] >= 1
    text = bed.log_text("a")
    assert "Interface eth0 deleted" in text and "Interface eth0 added" in text
    assert deleted < back


def test_persistent_send_errors_put_the_master_in_fault_and_it_recovers(bed: Testbed) -> None:
    """A Master whose adverts cannot leave (here: the node's own firewall drops VRRP output, so
    every send fails with EPERM) used to stay MASTER with the VIP while the peer took over too.
    Now the failing sends put it in FAULT (VIP released), the peer is the one holder, the errors
    are counted in the status and metrics, and once sends work again it rejoins and preempts."""
    bed.start("a", conf=vrrp_conf(priority=150, vrid=VRID, vips=[VIP], advert_int=ADV))
    bed.start("b", conf=vrrp_conf(priority=100, vrid=VRID, vips=[VIP], advert_int=ADV))
    bed.wait_sole("a", VIP, master_down(150, ADV) + STARTUP)
    ns = bed.lan["a"].ns
    bed.topo.run(ns, ["iptables", "-A", "OUTPUT", "-p", "112", "-j", "DROP"])
    blocked = time.time()
    # 3 failed adverts, then FAULT; b takes over after its master-down interval
    bed.wait_sole("b", VIP, 3 * ADV + master_down(100, ADV) + 3.0)
    removed = bed.removed_at("a", VIP, blocked)
    assert removed is not None and removed - blocked < 3 * ADV + 1.0, "a kept the VIP with its sends failing"
    snap = status(bed, "a")["instances"][0]
    assert snap["state"] == "FAULT"
    assert snap["socket"]["fault"].startswith("send advert error 1 ")
    assert snap["socket"]["send_errors"] >= 3
    assert snap["socket"]["errors"]["send_eperm"] >= 3
    assert "(VI_1): send advert error 1 (Operation not permitted)" in bed.log_text("a")

    bed.topo.run(ns, ["iptables", "-D", "OUTPUT", "-p", "112", "-j", "DROP"])
    # retried with back-off (1 s, then 2 s, ...): back to BACKUP, hears b, preempts
    bed.wait_sole("a", VIP, 8.0 + master_down(150, ADV))
    settle = time.time()
    time.sleep(4 * ADV)
    assert bed.dual_holding(VIP, settle) == []
    assert bed.holders(VIP) == ["a"]
    assert status(bed, "a")["instances"][0]["state"] == "MASTER"
