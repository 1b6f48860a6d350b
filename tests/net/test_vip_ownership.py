"""VIP ownership in real daemons (issue 20, finding 5).

- A VIP that is already on the interface when the instance becomes Master (an admin's hand, a
  daemon that died) used to stay through BACKUP and SIGTERM while the peer held it too: the
  Master now takes it over, and gives it up like any other.
- A VIP someone removes from a Master (`ip addr del`, or `ip addr flush` of the interface) comes
  back at once, with one log line saying so, and the peer never holds it meanwhile.
Judged from the kernel's address events in each namespace and the adverts on the wire."""

from __future__ import annotations

import signal
import time

import pytest

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.testbed import Testbed, vrrp_conf

from .bed_helpers import master_down

pytestmark = [pytest.mark.net, pytest.mark.testbed(ipv6=False)]

VIP = "192.0.2.70/24"
ADV = 0.5
VRID = 70
STARTUP = 10.0  # s: a daemon's start-up on a loaded shared host (the first election is not under test)


def conf(priority: int) -> str:
    return vrrp_conf(priority=priority, vrid=VRID, vips=[VIP], advert_int=ADV)


def test_vip_found_on_becoming_master_is_released_on_backup_and_sigterm(bed: Testbed) -> None:
    bed.start("a", conf=conf(100))
    bed.daemon("a").log.wait_line(lambda line: "Entering BACKUP STATE (init)" in line.text, STARTUP)
    # Between start-up (which cleans leftovers) and becoming Master, the VIP appears by hand.
    bed.topo.run(bed.lan["a"].ns, ["ip", "addr", "add", VIP, "dev", "eth0"])
    bed.daemon("a").log.wait_line(lambda line: "Entering MASTER STATE" in line.text, master_down(100, ADV) + 3.0)
    joined = time.time()
    bed.start("b", conf=conf(150))
    bed.wait_sole("b", VIP, master_down(150, ADV) + STARTUP)  # b starts; a dropped it on stepping down
    assert bed.removed_at("a", VIP, joined) is not None
    assert all(e - s < ADV for s, e in bed.dual_holding(VIP, joined))
    stopped = bed.stop("a", signal.SIGTERM)
    time.sleep(2 * ADV)
    assert bed.holders(VIP) == ["b"]
    assert bed.dual_holding(VIP, stopped) == []


@pytest.mark.parametrize("how", ["del", "flush"])
def test_vip_removed_from_a_master_comes_back(bed: Testbed, how: str) -> None:
    bed.start("a", conf=conf(150))
    bed.start("b", conf=conf(100))
    bed.wait_sole("a", VIP, master_down(150, ADV) + STARTUP)
    time.sleep(2 * ADV)  # b has heard a and let go of anything it took in the start-up race
    ns = bed.lan["a"].ns
    cmd = ["ip", "addr", "del", VIP, "dev", "eth0"] if how == "del" else ["ip", "addr", "flush", "dev", "eth0"]
    done = time.time()
    bed.topo.run(ns, cmd)
    # the address watch reads the kernel's events on its own thread: wait for the removal to show
    gone = wait_for(lambda: bed.removed_at("a", VIP, done), 2.0, what="the removal event")
    back = bed.watch["a"].wait_holds(VIP.split("/")[0], True, 2.0)
    assert back, f"the VIP did not come back after ip addr {how}"
    again = bed.added_at("a", VIP, gone)
    assert again is not None and again - gone < 0.5, f"came back {again and again - gone:.3f}s after removal"
    time.sleep(4 * ADV)
    end = time.time()
    assert bed.holders(VIP) == ["a"]
    assert bed.added_at("b", VIP, done) is None  # the peer never took it
    assert bed.advertisers(done, end, VRID) == {"a"}
    lines = [line.text for line in bed.daemon("a").log.snapshot()
             if "Netlink reflector reports IP 192.0.2.70 removed from eth0" in line.text]
    # one line per removal: `ip addr del` removes once; `flush` may delete again what was put back
    # (it repeats its dump-and-delete rounds until the interface looks empty, or gives up)
    assert lines and all(line.endswith("(VI_1) is MASTER, adding it back") for line in lines), lines
    if how == "del":
        assert len(lines) == 1, lines
    if how == "flush":
        bed.topo.run(ns, ["ip", "addr", "add", str(bed.lan["a"].ipv4), "dev", "eth0"])


def test_a_vip_the_kernel_refused_is_added_once_it_can_be(topology) -> None:
    """A Master whose VIP could not be added (its `dev` does not exist yet) adds it once the
    interface appears: the maintenance pass puts back what a Master lacks (also after a lost
    event), and says so once."""
    with Testbed(topology, ("a",), ipv6=False) as bed:
        extra = "198.51.100.70/24 dev vx2"
        bed.start("a", conf=vrrp_conf(priority=150, vrid=VRID, vips=[VIP, extra], advert_int=ADV))
        bed.wait_sole("a", VIP, master_down(150, ADV) + STARTUP)
        log = bed.daemon("a").log
        log.wait_line(lambda line: "cannot add VIP 198.51.100.70/24 dev vx2" in line.text, 2.0)
        assert not bed.watch["a"].holds("198.51.100.70")
        ns = bed.lan["a"].ns
        made = time.time()
        bed.topo.run(ns, ["ip", "link", "add", "vx2", "type", "veth", "peer", "name", "vx2p"])
        bed.topo.run(ns, ["ip", "link", "set", "vx2", "up"])
        assert bed.watch["a"].wait_holds("198.51.100.70", True, 3.0), "the VIP never followed its interface"
        assert bed.added_at("a", "198.51.100.70/24", made) is not None
        log.wait_line(lambda line: "(VI_1) VIP 198.51.100.70/24 dev vx2 was missing on a MASTER - added it"
                      in line.text, 2.0)
        assert bed.log_text("a").count("cannot add VIP 198.51.100.70/24 dev vx2") == 1  # once, not every second
