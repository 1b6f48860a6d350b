"""interface_up_down_delays { eth0 2 }: a link bounce shorter than the delay causes no transition;
a link down that lasts longer puts the instance in FAULT once the delay has passed - vipkeeper and
keepalived 2.2.7 alike, from the same file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

CONF = """interface_up_down_delays {
  eth0 2
}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 72
  priority 150
  advert_int 1
  virtual_ipaddress {
    192.0.2.72/24
  }
}
"""


def _count(daemon: HostDaemon, text: str) -> int:
    return sum(1 for line in daemon.log_lines() if text in line)


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_bounce_within_the_delay_is_ignored_a_longer_down_is_not(topology: Topology, lan, tmp_path: Path,
                                                                 kind: str) -> None:
    ns = lan["a"].ns
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    daemon = HostDaemon(kind, ns, conf, tmp_path, kind)
    daemon.start()
    try:
        wait_for(lambda: _count(daemon, "Entering MASTER STATE") == 1, 20, what=f"{kind} master")
        topology.link_set(ns, "eth0", False)
        time.sleep(0.5)  # the bounce itself: shorter than the 2 s delay
        topology.link_set(ns, "eth0", True)
        time.sleep(2.5)  # an observation window past the delay: nothing may happen in it
        assert _count(daemon, "Entering FAULT STATE") == 0, daemon.log_lines()
        down = time.monotonic()
        topology.link_set(ns, "eth0", False)
        wait_for(lambda: _count(daemon, "Entering FAULT STATE") == 1, 10, what=f"{kind} fault after the delay")
        took = time.monotonic() - down
        assert 1.8 <= took < 4.0, f"{kind}: FAULT {took:.2f}s after the link went down (delay 2 s)"
        topology.link_set(ns, "eth0", True)
        wait_for(lambda: _count(daemon, "Entering MASTER STATE") == 2, 20, what=f"{kind} master again")
    finally:
        daemon.stop(timeout=10)
