"""track_group: a static address naming a static track group makes the group's instances track the
address's interface. That interface down puts the instance in FAULT (its VIP released), up again
makes it Master again, the static address is still there and the static route through it, which
the kernel dropped with the link, is put back - vipkeeper and keepalived 2.2.7 alike, from the
same file. An instance outside the group is not affected. The static route and address, deleted
by hand, are put back by both."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

CONF = """track_group G1 {
  group {
    VI_1
  }
}
static_ipaddress {
  198.51.100.5/24 dev trk0 track_group G1
}
static_routes {
  198.51.100.128/26 via 198.51.100.1 dev trk0 track_group G1
}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 74
  priority 150
  advert_int 1
  virtual_ipaddress {
    192.0.2.74/24
  }
}
vrrp_instance VI_2 {
  state MASTER
  interface eth0
  virtual_router_id 75
  priority 150
  advert_int 1
  virtual_ipaddress {
    192.0.2.75/24
  }
}
"""

VIP = ipaddress.ip_interface("192.0.2.74/24")
STATIC = ipaddress.ip_interface("198.51.100.5/24")


def _route(topology: Topology, ns: str) -> bool:
    return "198.51.100.128/26 via 198.51.100.1 dev trk0" in topology.run(ns, ["ip", "route", "show"]).stdout


def _count(daemon: HostDaemon, text: str) -> int:
    return sum(1 for line in daemon.log_lines() if text in line)


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_group_member_faults_while_the_static_address_interface_is_down(topology: Topology, lan, tmp_path: Path,
                                                                         kind: str) -> None:
    ns = lan["a"].ns
    topology.run(ns, ["ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"])
    topology.link_set(ns, "trk1", True)
    topology.link_set(ns, "trk0", True)
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    daemon = HostDaemon(kind, ns, conf, tmp_path, kind)
    daemon.start()
    try:
        wait_for(lambda: _count(daemon, "(VI_1) Entering MASTER STATE") == 1, 20, what=f"{kind} VI_1 master")
        wait_for(lambda: _count(daemon, "(VI_2) Entering MASTER STATE") == 1, 20, what=f"{kind} VI_2 master")
        wait_for(lambda: VIP in topology.addresses(ns, "eth0"), 10, what=f"{kind} VIP added")
        assert STATIC in topology.addresses(ns, "trk0"), f"{kind}: static address not installed"
        wait_for(lambda: _route(topology, ns), 10, what=f"{kind} static route installed")

        topology.link_set(ns, "trk0", False)
        wait_for(lambda: _count(daemon, "(VI_1) Entering FAULT STATE") == 1, 10, what=f"{kind} VI_1 fault")
        wait_for(lambda: VIP not in topology.addresses(ns, "eth0"), 10, what=f"{kind} VIP released in FAULT")
        assert _count(daemon, "(VI_2) Entering FAULT STATE") == 0, f"{kind}: VI_2 is not in the group"

        topology.link_set(ns, "trk0", True)
        wait_for(lambda: _count(daemon, "(VI_1) Entering MASTER STATE") == 2, 20, what=f"{kind} VI_1 master again")
        wait_for(lambda: VIP in topology.addresses(ns, "eth0"), 10, what=f"{kind} VIP back")
        assert STATIC in topology.addresses(ns, "trk0"), f"{kind}: static address gone after the bounce"
        # the kernel dropped the route with the link; both put it back when the link is up again
        wait_for(lambda: _route(topology, ns), 10, what=f"{kind} static route back after the bounce")
        assert _count(daemon, "(VI_2) Entering MASTER STATE") == 1, daemon.log_lines()

        # deleted by someone else: both put them back (a route once a static route names a
        # track_group; an address always), and no instance leaves MASTER for it
        backups = _count(daemon, "Entering BACKUP STATE")
        topology.run(ns, ["ip", "route", "del", "198.51.100.128/26", "via", "198.51.100.1", "dev", "trk0"])
        wait_for(lambda: _route(topology, ns), 10, what=f"{kind} deleted static route put back")
        topology.run(ns, ["ip", "address", "del", str(STATIC), "dev", "trk0"])
        wait_for(lambda: STATIC in topology.addresses(ns, "trk0"), 10, what=f"{kind} deleted static address put back")
        assert _count(daemon, "Restoring deleted static address") >= 1, daemon.log_lines()
        assert _count(daemon, "Entering BACKUP STATE") == backups and _count(daemon, "(VI_1) Entering FAULT STATE") == 1
    finally:
        daemon.stop(timeout=10)
    # both remove their static address at exit (keepalived 2.2.7, measured in test_routes_rules.py)
    assert STATIC not in topology.addresses(ns, "trk0"), f"{kind}: static address left behind"
