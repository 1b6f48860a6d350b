"""A daemon started on an interface whose own IPv4 address was flushed (issue 20, campaign mode
`flush`, seeds 33 and 34).

The original failure: an admin's `ip -4 addr flush dev eth0` on a Master; the daemon puts its
VIP back, and on the emptied interface the VIP becomes the *primary* address (the node's own
address, re-added later, is a secondary). The daemon is killed and restarted: its VRRP socket
took "the interface's primary IPv4 address" (SIOCGIFADDR) as the adverts' source, which was
the VIP. Every peer holding that VIP drops such an advert in its kernel (the source is one of its
own addresses), so two Masters that could hear each other kept the VIP for as long as the run
lasted. Now the source is never a configured VIP (keepalived 2.2.7 likewise never takes a VIP as
the interface's address), and it follows the interface's addresses while the daemon runs: an
instance with nothing to send from waits in FAULT and opens when an address arrives.

Judged from the kernel's address events in each namespace and the adverts captured on the
bridge, not from log text."""

from __future__ import annotations

import ipaddress
import signal
import time

import pytest

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.testbed import Testbed, vrrp_conf

from .bed_helpers import master_down, status, status_if_up

pytestmark = [pytest.mark.net, pytest.mark.testbed(ipv6=False)]

VIP = "192.0.2.100/24"
ADV = 0.2
VRID = 51
STARTUP = 10.0  # s: a daemon's start-up on a loaded shared host (the first election is not under test)


def instance(bed: Testbed, name: str) -> dict | None:
    """The instance's status, or None while the daemon does not answer yet (for wait_for)."""
    snap = status_if_up(bed, name)
    return snap["instances"][0] if snap is not None else None


def ip(bed: Testbed, name: str, *args: str) -> None:
    bed.topo.run(bed.lan[name].ns, ["ip", *args])


def own(bed: Testbed, name: str) -> ipaddress.IPv4Interface:
    return bed.lan[name].ipv4


def flush_leaving_vip(bed: Testbed, name: str, own_back: bool) -> None:
    """What a Master leaves behind after a flush and a SIGKILL: the VIP as the primary address,
    and (with `own_back`) the node's own address re-added after it, a secondary."""
    ip(bed, name, "-4", "addr", "flush", "dev", "eth0")
    ip(bed, name, "addr", "add", VIP, "dev", "eth0")
    if own_back:
        ip(bed, name, "addr", "add", str(own(bed, name)), "dev", "eth0")


def adverts_from(bed: Testbed, name: str, after: float) -> set[str]:
    return {str(r.source) for _, r in bed.adverts(name, after, None, VRID) if r.advertisement.priority > 0}


def start_pair(bed: Testbed) -> None:
    bed.start("b", conf=vrrp_conf(priority=120, vrid=VRID, vips=[VIP], advert_int=ADV))
    bed.wait_sole("b", VIP, master_down(120, ADV) + STARTUP)


def assert_a_alone_sending_from_its_own_address(bed: Testbed, timeout: float, since: float) -> tuple[float, float]:
    """Waits up to `timeout` until a alone holds the VIP, then for six more adverts of a's: a is
    still the one holder, no two nodes held the VIP at any instant of that window, and every
    advert a sent since `since` left from its own address. Returns the window (settle, end)."""
    bed.wait_sole("a", VIP, timeout)
    settle = time.time()
    bed.wait_adverts("a", settle, 6, 6 * ADV + 3.0, VRID)
    end = time.time()
    assert bed.holders(VIP) == ["a"]
    assert bed.dual_holding(VIP, settle, end) == []
    assert adverts_from(bed, "a", since) == {str(own(bed, "a").ip)}
    return settle, end


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_leftover_vip_as_primary_is_not_the_advert_source(bed: Testbed, kind: str) -> None:
    """a starts with the leftover VIP as eth0's primary address and its own as a secondary: it
    advertises from its own address, so b hears it and yields: a alone holds the VIP.
    keepalived 2.2.7 on a does the same (it never takes a VIP as the interface's address)."""
    start_pair(bed)
    flush_leaving_vip(bed, "a", own_back=True)
    started = time.time()
    bed.start("a", kind=kind, conf=vrrp_conf(priority=150, vrid=VRID, vips=[VIP], advert_int=ADV))
    assert_a_alone_sending_from_its_own_address(bed, master_down(150, ADV) + STARTUP, since=started)
    if kind == "keepalived":
        return
    snap = status(bed, "a")["instances"][0]
    assert snap["state"] == "MASTER"
    assert snap["source_address"] == str(own(bed, "a").ip)


def test_start_on_flushed_interface_waits_then_converges_when_the_address_returns(bed: Testbed) -> None:
    """a starts with only the leftover VIP on eth0: nothing to send from, so it waits in FAULT
    (releasing the leftover VIP) and b stays the one holder; once a's own address is back, a
    opens its socket, advertises from that address, and preempts: one holder, a."""
    start_pair(bed)
    flush_leaving_vip(bed, "a", own_back=False)
    started = time.time()
    bed.start("a", conf=vrrp_conf(priority=150, vrid=VRID, vips=[VIP], advert_int=ADV))
    wait_for(lambda: (instance(bed, "a") or {}).get("state") == "FAULT", STARTUP, 0.05, "a in FAULT")
    bed.wait_sole("b", VIP, master_down(150, ADV) + 3.0)
    assert adverts_from(bed, "a", started) == set(), "a advertised with no address of its own"

    back = time.time()
    ip(bed, "a", "addr", "add", str(own(bed, "a")), "dev", "eth0")
    settle, end = assert_a_alone_sending_from_its_own_address(bed, master_down(150, ADV) + 4.0, since=back)
    assert bed.advertisers(settle + ADV, end, VRID) == {"a"}


def test_master_flushed_and_address_back_keeps_one_holder(bed: Testbed) -> None:
    """The campaign's own order: a is Master, its eth0 is flushed (a puts the VIP back as the
    primary address), its own address returns as a secondary; then a's daemon is killed and
    started again. Throughout the end state, a alone holds the VIP and sends from its own
    address."""
    start_pair(bed)
    bed.start("a", conf=vrrp_conf(priority=150, vrid=VRID, vips=[VIP], advert_int=ADV))
    bed.wait_sole("a", VIP, master_down(150, ADV) + STARTUP)
    ip(bed, "a", "-4", "addr", "flush", "dev", "eth0")
    wait_for(lambda: "a" in bed.holders(VIP), 5.0, 0.01, "a's VIP put back after the flush")
    ip(bed, "a", "addr", "add", str(own(bed, "a")), "dev", "eth0")
    wait_for(lambda: (instance(bed, "a") or {}).get("source_address") == str(own(bed, "a").ip),
             5.0, 0.05, "a's source on its own address")
    assert bed.holders(VIP) == ["a"]
    bed.stop("a", sig=signal.SIGKILL)
    # the killed daemon leaves its VIP (now eth0's primary address); b takes over meanwhile
    wait_for(lambda: "b" in bed.holders(VIP), master_down(120, ADV) + 3.0, 0.01, "b taking over")
    restarted = time.time()
    bed.start("a", conf=bed.conf_path("a"))
    assert_a_alone_sending_from_its_own_address(bed, master_down(150, ADV) + STARTUP, since=restarted)


def test_running_master_follows_its_interface_address(bed: Testbed) -> None:
    """A Master whose eth0 is flushed keeps sending from its last address while it has no other
    (the VIP it puts back is never taken); when another address of its own arrives, its adverts
    leave from that one, and b keeps hearing it: one holder throughout."""
    start_pair(bed)
    bed.start("a", conf=vrrp_conf(priority=150, vrid=VRID, vips=[VIP], advert_int=ADV))
    bed.wait_sole("a", VIP, master_down(150, ADV) + STARTUP)
    ip(bed, "a", "-4", "addr", "flush", "dev", "eth0")
    wait_for(lambda: "a" in bed.holders(VIP), 5.0, 0.01, "a's VIP put back after the flush")
    assert (instance(bed, "a") or {}).get("source_address") == str(own(bed, "a").ip)
    moved = time.time()
    ip(bed, "a", "addr", "add", "192.0.2.11/24", "dev", "eth0")
    wait_for(lambda: (instance(bed, "a") or {}).get("source_address") == "192.0.2.11", 5.0, 0.05,
             "a's source on its new address")
    bed.wait_adverts("a", time.time(), 6, 6 * ADV + 3.0, VRID)
    end = time.time()
    assert "192.0.2.11" in adverts_from(bed, "a", moved)
    assert bed.holders(VIP) == ["a"]
    assert bed.dual_holding(VIP, moved, end) == []
    snap = instance(bed, "a")
    assert snap is not None and snap["state"] == "MASTER" and snap["socket"]["reopens"] >= 1


def promote(bed: Testbed, name: str) -> str:
    return bed.topo.run(bed.lan[name].ns, ["cat", "/proc/sys/net/ipv4/conf/eth0/promote_secondaries"]).stdout.strip()


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_start_up_cleanup_of_a_primary_vip_keeps_the_nodes_own_address(bed: Testbed, kind: str) -> None:
    """Campaign flush seed 34: a Backup-to-be starts with the leftover VIP as eth0's primary and
    its own address as a secondary (promote_secondaries=0, the kernel's default). Its start-up
    cleanup deleted the VIP, and the kernel deleted the secondary with it: a had no address to
    send from and stayed in FAULT. vipkeeper sets promote_secondaries before that delete (and
    puts 0 back at exit): a keeps its address and is a Backup hearing b. keepalived 2.2.7 on the
    same state (no `promote_secondaries` keyword) is measured beside it: it too removes the
    leftover VIP as a Backup, and a's own address goes with it."""
    start_pair(bed)
    bed.topo.run(bed.lan["a"].ns, ["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=0"])
    flush_leaving_vip(bed, "a", own_back=True)
    started = time.time()
    bed.start("a", kind=kind, conf=vrrp_conf(priority=100, vrid=VRID, vips=[VIP], advert_int=ADV))
    removed = wait_for(lambda: bed.removed_at("a", VIP, started), STARTUP, what="a's start-up cleanup of the VIP")
    mine = ipaddress.ip_interface(str(own(bed, "a")))
    if kind == "keepalived":
        assert mine not in bed.topo.addresses(bed.lan["a"].ns)  # lost with the primary VIP
        return
    assert removed
    assert mine in bed.topo.addresses(bed.lan["a"].ns)
    assert promote(bed, "a") == "1"
    snap = wait_for(lambda: (s := instance(bed, "a")) and s["state"] == "BACKUP" and s, STARTUP, what="a Backup")
    assert snap["source_address"] == str(own(bed, "a").ip)
    assert bed.holders(VIP) == ["b"]
    bed.stop("a")
    assert promote(bed, "a") == "0"  # the admin's value again after the daemon's exit


def test_promote_secondaries_keyword_sets_it_from_start_up(bed: Testbed) -> None:
    """keepalived's `promote_secondaries` instance keyword: set on the interface from start-up (an
    admin's own deletes keep the other addresses of their subnet), the old value back at exit."""
    bed.topo.run(bed.lan["a"].ns, ["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=0"])
    bed.start("a", conf=vrrp_conf(priority=100, vrid=VRID, vips=[VIP], advert_int=ADV, extra=["promote_secondaries"]))
    wait_for(lambda: instance(bed, "a") is not None, STARTUP, what="a's control socket")
    assert promote(bed, "a") == "1"
    bed.stop("a")
    assert promote(bed, "a") == "0"
