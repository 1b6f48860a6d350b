"""No false VIP conflict in normal operation: election, preemption by a returning higher-priority
node (whose GARPs may reach the old Master before its advert has made it step down), SIGTERM
handover and back, with checks every half second on both nodes: no conflict line, no
conflict in `status`. A SIGKILLed Master, which leaves its VIP configured, is a real conflict
and is reported by the new Master."""

from __future__ import annotations

import ipaddress
import signal
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

from .bed_helpers import status

pytestmark = pytest.mark.net

VIP = "192.0.2.50/24"
VIP_IP = ipaddress.ip_address("192.0.2.50")
EXTRA = ["--vip-conflict-interval", "0.5"]


def conflict_lines(bed: Testbed, name: str) -> list[str]:
    return [ln for ln in bed.log_text(name).splitlines() if "VIP conflict" in ln]


def test_no_conflict_in_normal_failovers_but_a_sigkilled_master_is_one(topology) -> None:
    with Testbed(topology, ("a", "b"), ipv6=False) as bed:
        conf = {n: vrrp_conf(priority=p, vips=[VIP], advert_int=0.5) for n, p in (("a", 150), ("b", 100))}
        bed.start("a", conf=conf["a"], extra=EXTRA)
        bed.start("b", conf=conf["b"], extra=EXTRA)
        bed.wait_sole("a", VIP, 6.0)
        time.sleep(1.5)  # several check rounds by the Master
        bed.stop("a")  # SIGTERM: priority 0, VIP released
        bed.wait_sole("b", VIP, 3.0)
        time.sleep(1.5)
        bed.start("a", conf=conf["a"], extra=EXTRA)  # preempts b
        bed.wait_sole("a", VIP, 6.0)
        time.sleep(2.0)
        for name in ("a", "b"):
            assert conflict_lines(bed, name) == [], (name, conflict_lines(bed, name))
        inst = status(bed, "a")["instances"][0]
        assert inst["state"] == "MASTER" and inst["vip_conflicts"] == [] and inst["counters"]["vip_conflicts"] == 0

        # SIGKILL leaves the VIP on a's interface: b, the new Master, must say so.
        killed = bed.stop("a", signal.SIGKILL)
        assert bed.watch["b"].wait_holds(VIP_IP, True, 5.0)
        assert bed.watch["a"].holds(VIP_IP)
        line = bed.daemon("b").log.wait_line(lambda ln: "VIP conflict:" in ln.text, 3.0, after=killed)
        assert bed.lan["a"].mac.lower() in line.text
