"""`vipkeeper watch` on a client of a real lab LAN: a healthy pair gives no finding; a third router
on the same VRID with other VIPs is a foreign cluster; a third router whose VIP set overlaps is a
VIP-set mismatch, and since it drops the Master's adverts it becomes a second Master holding the
same VIP, which watch names as two Masters and a VIP answered by two MACs."""

from __future__ import annotations

import ipaddress
import json
import sys

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

VIP = "192.0.2.50/24"
ADV = 0.5


def watch(bed: Testbed, seconds: float, *extra: str) -> tuple[int, dict]:
    out = bed.topo.run(bed.lan.client.ns, [sys.executable, "-m", "vipkeeper", "watch", "eth0", "--duration",
                                           str(seconds), "--probe-interval", "0.5", "--json", *extra],
                       check=False, timeout=seconds + 20)
    assert out.stdout.strip(), out.stderr
    return out.returncode, json.loads(out.stdout)


def kinds(report: dict) -> set[str]:
    return {f["kind"] for f in report["findings"]}


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b", "c"), ipv6=False) as tb:
        yield tb


def test_watch_healthy_pair_foreign_cluster_and_vip_set_mismatch(bed: Testbed) -> None:
    bed.start("a", conf=vrrp_conf(priority=150, vips=[VIP], advert_int=ADV))
    bed.start("b", conf=vrrp_conf(priority=100, vips=[VIP], advert_int=ADV))
    bed.wait_sole("a", VIP, 6.0)

    status, report = watch(bed, 2.5)
    assert status == 0 and report["findings"] == [], report
    (vrid,) = report["vrids"]
    rows = {a["source"]: a for a in vrid["advertisers"]}
    assert rows["192.0.2.1"]["advertising"] and rows["192.0.2.1"]["priority"] == 150
    assert rows["192.0.2.1"]["interval"] == ADV and rows["192.0.2.1"]["version"] == 3
    assert vrid["vips"]["192.0.2.50"] == [bed.lan["a"].mac.lower()]

    # A foreign cluster: c uses VRID 51 for an unrelated address.
    bed.start("c", conf=vrrp_conf(priority=100, vips=["198.51.100.77/24"], advert_int=ADV))
    bed.wait_adverts("c", 0, 3, 6.0, vrid=51)
    status, report = watch(bed, 2.5)
    assert "foreign_cluster" in kinds(report) and "two_masters" not in kinds(report), report["findings"]
    assert status == 2
    bed.stop("c")

    # A VIP-set mismatch: c carries .50 and .51; it drops a's adverts and becomes a second Master.
    bed.start("c", conf=vrrp_conf(priority=50, vips=[VIP, "192.0.2.51/24"], advert_int=ADV))
    assert bed.watch["c"].wait_holds(ipaddress.ip_address("192.0.2.50"), True, 8.0), "c never took the VIP"
    status, report = watch(bed, 3.0, "--overlap", "1")
    found = kinds(report)
    assert {"vip_set_mismatch", "two_masters", "vip_conflict"} <= found, report["findings"]
    conflict = next(f for f in report["findings"] if f["kind"] == "vip_conflict")
    assert bed.lan["a"].mac.lower() in conflict["subjects"] and bed.lan["c"].mac.lower() in conflict["subjects"]
    assert status == 2
