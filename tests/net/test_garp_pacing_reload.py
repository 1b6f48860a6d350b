"""A reload that changes vrrp_garp_interval re-plans the spacing of a running Master's GARPs, with
the instance itself unchanged (no transition, the VIP stays): measured on the wire with the
periodic refresh bursts (garp_master_refresh), before and after the SIGHUP."""

from __future__ import annotations

import signal
import time

import pytest

from vipkeeper.lab.testbed import Testbed

pytestmark = pytest.mark.net

VIP = "192.0.2.61"
REFRESH = 1.0


def conf(global_defs: str) -> str:
    return f"""
global_defs {{
  {global_defs}
}}
vrrp_instance VI_1 {{
  state MASTER
  interface eth0
  virtual_router_id 61
  priority 200
  advert_int 0.5
  version 3
  garp_master_delay 0
  garp_master_repeat 1
  garp_master_refresh {REFRESH:g}
  garp_master_refresh_repeat 3
  virtual_ipaddress {{
    {VIP}/24
  }}
}}
"""


def refresh_bursts(bed: Testbed, after: float, before: float) -> list[list[float]]:
    """The GARP times of each burst that began in [after, before - 0.5) (a burst: frames < 0.5 s
    apart; one beginning later may not be over yet)."""
    out: list[list[float]] = []
    for frame in bed.garps(VIP, after):
        if not out or frame.time - out[-1][-1] > 0.5:
            if frame.time >= before - 0.5:
                break
            out.append([])
        out[-1].append(frame.time)
    return out


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=False) as tb:
        yield tb


def test_reload_changes_the_spacing_of_a_running_master(bed: Testbed) -> None:
    bed.start("a", conf=conf("vrrp_garp_interval 0.3"))
    bed.wait_sole("a", f"{VIP}/24", 10.0)
    bed.wait_garps(VIP, 0.0, 2.0)  # becoming Master's own GARP: not a refresh burst
    t0 = time.time() + 0.1
    bed.wait_garps(VIP, t0 + 2.5 * REFRESH, 3 * REFRESH)  # two refresh bursts
    spaced = refresh_bursts(bed, t0, time.time())
    bed.write_conf("a", conf(""))
    hup = bed.daemon("a").kill(signal.SIGHUP)
    done = bed.daemon("a").log.wait_line(lambda line: "Reload finished" in line.text, 5.0, after=hup - 0.5)
    # the instance is kept (reconfigured in place: its copy of the global GARP settings changed)
    assert "0 unchanged, 1 reconfigured, 0 started" in done.text
    t1 = time.time()
    bed.wait_garps(VIP, t1 + 2.5 * REFRESH, 3 * REFRESH)
    unspaced = refresh_bursts(bed, t1, time.time())
    # spaced: three rounds collapse to one frame now and one 0.3 s later (keepalived's rule)
    assert spaced and all(len(b) == 2 and 0.29 <= b[1] - b[0] <= 0.35 for b in spaced), spaced
    # after the reload: the three rounds back to back
    assert unspaced and all(len(b) == 3 and b[-1] - b[0] < 0.05 for b in unspaced), unspaced
    assert bed.removed_at("a", VIP, t0) is None  # the VIP never left
    assert bed.daemon("a").log.states("VI_1")[-1][2] == "MASTER"  # the log's states are read ...
    assert bed.daemon("a").log.states("VI_1", after=hup) == []  # ... and none came after the reload
