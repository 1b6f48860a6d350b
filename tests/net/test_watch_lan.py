"""`vipkeeper watch` on a client of a real lab LAN: a healthy pair gives no finding; a third router
on the same VRID with other VIPs is a foreign cluster; a third router whose VIP set overlaps is a
VIP-set mismatch, and since it drops the Master's adverts it becomes a second Master holding the
same VIP, which watch names as two Masters and a VIP answered by two MACs."""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vipkeeper.lab import nodes as labnodes
from vipkeeper.lab.testbed import Testbed, vrrp_conf
from vipkeeper.net.netns import call_in

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


SEED = Path(__file__).resolve().parents[2] / "tests" / "data" / "seed"


def scrape(ns: str, url: str) -> dict[tuple[str, frozenset], float]:
    from prometheus_client.parser import text_string_to_metric_families

    def get() -> str:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode()

    out = {}
    for family in text_string_to_metric_families(call_in(ns, get)):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_watch_continuous_on_the_seed_relay_pair_with_metrics(topology) -> None:
    """The seed SMTP relay pair, its two files unmodified (haproxy + postfix tracked on each node,
    each in its own PID namespace with a real haproxy and postfix): `watch --duration 0
    --metrics` on the client serves one Master for VRID 25 and no findings, follows the VIP to the
    Backup when the Master's haproxy stops, and exits 0 with its report on SIGTERM."""
    with Testbed(topology, ("a", "b"), ipv6=False) as bed:
        for name in ("a", "b"):
            labnodes.start_haproxy(bed.nodes[name])
            labnodes.start_postfix(bed.nodes[name])
        for name, conf in (("a", "smtp-relay-node1.conf"), ("b", "smtp-relay-node2.conf")):
            bed.start(name, conf=SEED / conf)
        bed.wait_sole("a", "192.0.2.25/24", 8.0)
        client = bed.lan.client.ns
        proc = topology.popen(client, [sys.executable, "-m", "vipkeeper", "watch", "eth0", "--duration", "0",
                                       "--probe-interval", "0.5", "--json", "--metrics", "192.0.2.200:9661"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        url = "http://192.0.2.200:9661/metrics"
        masters = ("vipkeeper_watch_masters", frozenset({("vrid", "25")}))
        macs = ("vipkeeper_watch_vip_macs", frozenset({("vrid", "25"), ("vip", "192.0.2.25")}))
        two = ("vipkeeper_watch_findings", frozenset({("kind", "two_masters")}))
        deadline = time.monotonic() + 10
        samples: dict = {}
        while time.monotonic() < deadline:
            try:
                samples = scrape(client, url)
            except OSError:
                samples = {}
            if samples.get(masters) == 1 and samples.get(macs) == 1:
                break
            time.sleep(0.2)
        assert samples.get(masters) == 1 and samples.get(macs) == 1 and samples.get(two) == 0, samples
        advertising = {dict(k[1])["source"]: v for k, v in samples.items() if k[0] == "vipkeeper_watch_advertising"}
        assert advertising == {"192.0.2.1": 1}

        bed.nodes["a"].procs["haproxy"].kill(signal.SIGTERM)
        bed.wait_sole("b", "192.0.2.25/24", 8.0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            samples = scrape(client, url)
            adv = {dict(k[1])["source"]: v for k, v in samples.items() if k[0] == "vipkeeper_watch_advertising"}
            if adv.get("192.0.2.2") == 1 and adv.get("192.0.2.1") == 0:
                break
            time.sleep(0.2)
        assert adv == {"192.0.2.1": 0, "192.0.2.2": 1}, adv
        proc.signal(signal.SIGTERM)
        out, err = proc.popen.communicate(timeout=10)
        assert proc.popen.returncode == 0, err
        text = out.decode()
        report = json.loads(text[text.index("{\n"):])  # the final report follows the change lines
        assert report["findings"] == [] and report["interface"] == "eth0"


def test_watch_names_adverts_with_bad_ttl_and_bad_checksum(topology, lan) -> None:
    """Node b puts two broken adverts on the LAN while the client watches: one with TTL 64 (it
    crossed a router, or a sender ignores RFC 5798), one with a bad VRRP checksum."""
    import socket

    from vipkeeper.net import frames
    from vipkeeper.vrrp import packet

    src, group = ipaddress.ip_address("192.0.2.2"), ipaddress.ip_address("224.0.0.18")
    adv = packet.Advertisement.v3(77, 100, (ipaddress.ip_address("192.0.2.77"),))
    ttl64 = packet.encode_ipv4_datagram(adv, src, group, ttl=64)
    bad = bytearray(packet.encode_ipv4_datagram(adv, src, group))
    bad[20 + 6] ^= 0x55  # VRRP checksum
    eth = frames.ethernet_header(b"\x01\x00\x5e\x00\x00\x12", lan["b"].mac, frames.ETH_P_IP)
    proc = topology.popen(lan.client.ns, [sys.executable, "-m", "vipkeeper", "watch", "eth0", "--duration", "3",
                                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def send() -> None:
        # Repeated while the watcher runs, so it sees them whenever its socket opened.
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind(("eth0", 0))
            deadline = time.monotonic() + 2.5
            while proc.running and time.monotonic() < deadline:
                s.send(eth + ttl64)
                s.send(eth + bytes(bad))
                time.sleep(0.2)

    call_in(lan["b"].ns, send)
    out, _err = proc.popen.communicate(timeout=15)
    report = json.loads(out)
    found = {(f["kind"], tuple(f["subjects"])) for f in report["findings"]}
    assert found == {("bad_ttl", ("192.0.2.2",)), ("bad_checksum", ("192.0.2.2",))}, report["findings"]
    assert proc.popen.returncode == 1  # warnings only
