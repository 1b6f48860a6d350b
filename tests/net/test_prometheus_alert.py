"""The shipped alert rules on a real Prometheus (Debian's package) scraping two lab nodes.

Prometheus runs in the client's namespace with monitoring/vipkeeper-alerts.yml, scraping both
vipkeeper nodes' /metrics every second. The lab splits the pair with a real nftables rule on the
Backup (incoming VRRP dropped): it becomes Master too. VipkeeperTwoMasters must go pending
within two scrape intervals plus one evaluation of both holding the VIP, and firing within its
`for` on top of that, as Prometheus' own /api/v1/alerts says; VipkeeperVipConflict (the nodes'
own conflict detection, no `for`) fires too. Before the split both are silent."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from vipkeeper.lab.testbed import Testbed, vrrp_conf
from vipkeeper.net.netns import call_in

pytestmark = pytest.mark.net

VIP = "192.0.2.50/24"
VIP_IP = ipaddress.ip_address("192.0.2.50")
SCRAPE = 1.0
EVAL = 1.0
RULES = Path(__file__).resolve().parents[2] / "monitoring" / "vipkeeper-alerts.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def alerts(ns: str, port: int) -> list[dict]:
    def get() -> list[dict]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=2) as resp:
            return json.loads(resp.read())["data"]["alerts"]

    return call_in(ns, get)


def ready(ns: str, port: int) -> bool:
    def get() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    return call_in(ns, get)


def targets_up(ns: str, port: int) -> int:
    def get() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=2) as resp:
            data = json.loads(resp.read())["data"]["activeTargets"]
        return sum(1 for t in data if t["health"] == "up")

    return call_in(ns, get)


def test_two_masters_alert_on_a_real_prometheus(topology, tmp_path) -> None:
    assert Path(PROMETHEUS).exists(), "prometheus missing: Debian's prometheus package (debian-packages.txt)"
    rules = yaml.safe_load(RULES.read_text())
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r["alert"] == "VipkeeperTwoMasters"]
    hold = float(rule["for"].rstrip("s"))
    with Testbed(topology, ("a", "b"), ipv6=False) as bed:
        for name, prio in (("a", 150), ("b", 100)):
            addr = bed.lan[name].ipv4.ip
            bed.start(name, conf=vrrp_conf(priority=prio, vips=[VIP], advert_int=0.5),
                      extra=["--metrics", f"{addr}:9650", "--vip-conflict-interval", "1"])
        bed.wait_sole("a", VIP, 8.0)
        config = {
            "global": {"scrape_interval": f"{SCRAPE:g}s", "evaluation_interval": f"{EVAL:g}s",
                       "scrape_timeout": "900ms"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "relay", "static_configs": [
                {"targets": [f"{bed.lan[n].ipv4.ip}:9650" for n in ("a", "b")]}]}],
        }
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(config))
        port = 9090
        proc = topology.popen(bed.lan.client.ns, [PROMETHEUS, f"--config.file={cfg}",
                                                  f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                                  f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not (ready(bed.lan.client.ns, port) and targets_up(bed.lan.client.ns, port) == 2):
                assert proc.running, "prometheus exited"
                assert time.monotonic() < deadline, "prometheus not ready with both targets up"
                time.sleep(0.2)
            time.sleep(3 * SCRAPE)
            early = alerts(bed.lan.client.ns, port)
            assert [a for a in early if a["labels"]["alertname"] == "VipkeeperTwoMasters"] == []

            b_ns = bed.lan["b"].ns
            topology.run(b_ns, ["nft", "add", "table", "inet", "vktest"])
            chain = "add chain inet vktest in { type filter hook input priority 0; policy accept; }"
            topology.run(b_ns, ["nft", chain])
            topology.run(b_ns, ["nft", "add rule inet vktest in meta l4proto vrrp drop"])
            assert bed.watch["b"].wait_holds(VIP_IP, True, 8.0), "b never became Master"
            both = bed.added_at("b", VIP, 0)
            pending = firing = conflict = None
            deadline = time.monotonic() + hold + 4 * SCRAPE + 10
            while (firing is None or conflict is None) and time.monotonic() < deadline:
                for a in alerts(bed.lan.client.ns, port):
                    if a["labels"]["alertname"] == "VipkeeperVipConflict" and a["state"] == "firing":
                        conflict = conflict or (time.time(), a["labels"])
                    if a["labels"]["alertname"] != "VipkeeperTwoMasters":
                        continue
                    assert a["labels"]["vrid"] == "51" and a["labels"]["job"] == "relay"
                    if a["state"] == "pending" and pending is None:
                        pending = time.time()
                    if a["state"] == "firing":
                        firing = time.time()
                        pending = pending or firing
                time.sleep(0.1)
            assert pending is not None and firing is not None, "VipkeeperTwoMasters never fired"
            print(f"\nTwoMasters: pending {pending - both:.2f} s, firing {firing - both:.2f} s after both held "
                  f"the VIP (for {hold:g} s, scrape {SCRAPE:g} s, evaluation {EVAL:g} s)")
            assert pending - both <= 2 * SCRAPE + EVAL + 0.5
            assert firing - both <= hold + 2 * SCRAPE + EVAL + 0.5
            assert conflict is not None, "VipkeeperVipConflict never fired"
            assert conflict[1]["ip_address"] == "192.0.2.50"
            assert conflict[1]["mac"] in {bed.lan["a"].mac.lower(), bed.lan["b"].mac.lower()}
            print(f"VipConflict firing {conflict[0] - both:.2f} s after both held the VIP")
        finally:
            proc.stop(5.0)
