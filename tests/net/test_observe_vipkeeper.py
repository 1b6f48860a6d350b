"""What an admin sees of running vipkeeper daemons, checked against the system itself.

- `vipkeeper status --json` on both nodes agrees with the addresses really present, before and
  after a failover;
- bad packets sent at the nodes (wrong TTL, wrong password, unknown VRID, bad checksum) move
  the matching drop counters and change no state;
- the Prometheus endpoint is scraped over HTTP from another namespace and parsed;
- `vipkeeper doctor` explains a split-brain from the logs of two real vipkeeper daemons.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Node, Topology
from vipkeeper.net.netns import call_in
from vipkeeper.vrrp import packet

pytestmark = pytest.mark.net

VIP = "192.0.2.50/24"
CONF = """
vrrp_instance VI_1 {{
  state {state}
  interface eth0
  virtual_router_id 51
  priority {priority}
  advert_int 1
  authentication {{
    auth_type PASS
    auth_pass s3cret
  }}
  virtual_ipaddress {{
    {vip}
  }}
}}
"""


class Daemon:
    def __init__(self, topology: Topology, node: Node, tmp: Path, priority: int, metrics: str | None = None) -> None:
        self.node = node
        self.conf = tmp / f"{node.name}.conf"
        self.conf.write_text(CONF.format(state="MASTER" if priority > 100 else "BACKUP", priority=priority, vip=VIP))
        self.ctl = str(tmp / f"{node.name}.ctl")
        self.log = tmp / f"{node.name}.log"
        argv = ["vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(self.conf),
                "-p", str(tmp / f"{node.name}.pid"), "--control-socket", self.ctl]
        if metrics:
            argv += ["--metrics", metrics]
        self.proc = topology.popen(node.ns, argv, stderr=open(self.log, "w"))

    def status(self) -> dict:
        out = subprocess.run(["vipkeeper", "status", "--socket", self.ctl, "--json"], capture_output=True,
                             text=True, timeout=10, check=True)
        return json.loads(out.stdout)

    def instance(self) -> dict:
        return self.status()["instances"][0]


def _holds(topology: Topology, node: Node) -> bool:
    return any(str(a) == VIP for a in topology.addresses(node.ns))


def _agree(topology: Topology, daemon: Daemon) -> tuple[str, bool, bool]:
    inst = daemon.instance()
    return inst["state"], inst["vips"][0]["present"], _holds(topology, daemon.node)


def _send_raw(ns: str, datagrams: list[bytes]) -> None:
    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")  # no routes in the lab
            for d in datagrams:
                s.sendto(d, ("224.0.0.18", 0))

    call_in(ns, send)


def _bad_datagrams(client: Node) -> dict[str, list[bytes]]:
    src = client.ipv4.ip
    dst = ipaddress.IPv4Address("224.0.0.18")
    vip = (ipaddress.IPv4Address(VIP.split("/")[0]),)
    good = packet.Advertisement.v2(51, 200, vip, 1, auth_pass=b"s3cret")
    wrong_pass = packet.Advertisement.v2(51, 200, vip, 1, auth_pass=b"guess")
    other_vrid = packet.Advertisement.v2(99, 200, vip, 1, auth_pass=b"s3cret")
    bad_sum = bytearray(packet.encode_ipv4_datagram(good, src, dst))
    bad_sum[20 + 6] ^= 0xFF
    return {
        "bad_ttl": [packet.encode_ipv4_datagram(good, src, dst, ttl=1)] * 5,
        "auth_mismatch": [packet.encode_ipv4_datagram(wrong_pass, src, dst)] * 5,
        "wrong_vrid": [packet.encode_ipv4_datagram(other_vrid, src, dst)] * 5,
        "bad_checksum": [bytes(bad_sum)] * 5,
    }


def _drops(status: dict) -> dict[str, int]:
    total: dict[str, int] = dict(status["drops"])
    for inst in status["instances"]:
        for reason, n in inst["counters"]["drops"].items():
            total[reason] = total.get(reason, 0) + n
    return total


def test_status_counters_and_metrics_follow_the_system(topology: Topology, lan, tmp_path: Path) -> None:
    a_node, b_node, client = lan["a"], lan["b"], lan.client
    a = Daemon(topology, a_node, tmp_path, 150, metrics="192.0.2.1:9650")
    b = Daemon(topology, b_node, tmp_path, 100)
    wait_for(lambda: _holds(topology, a_node), 10, what="VIP on a")
    wait_for(lambda: a.instance()["state"] == "MASTER" and b.instance()["state"] == "BACKUP", 10,
             what="a MASTER, b BACKUP in status")
    assert _agree(topology, a) == ("MASTER", True, True)
    assert _agree(topology, b) == ("BACKUP", False, False)
    master = b.instance()["master"]
    assert master["address"] == "192.0.2.1" and master["priority"] == 150

    # Bad packets from the client: each counted under its reason, none changes a state.
    before = {"a": _drops(a.status()), "b": _drops(b.status())}
    transitions = {"a": a.instance()["counters"]["transitions"], "b": b.instance()["counters"]["transitions"]}
    bad = _bad_datagrams(client)
    for datagrams in bad.values():
        _send_raw(client.ns, datagrams)

    def counted() -> bool:
        for name, d in (("a", a), ("b", b)):
            now = _drops(d.status())
            if any(now.get(r, 0) - before[name].get(r, 0) < len(dg) for r, dg in bad.items()):
                return False
        return True

    wait_for(counted, 5, what="every bad packet counted by reason on both nodes")
    assert a.instance()["counters"]["transitions"] == transitions["a"]
    assert b.instance()["counters"]["transitions"] == transitions["b"]
    assert _agree(topology, a) == ("MASTER", True, True)

    # Metrics, scraped from the client namespace and parsed as Prometheus text.
    def scrape() -> str:
        with urllib.request.urlopen("http://192.0.2.1:9650/metrics", timeout=5) as resp:
            return resp.read().decode()

    families = {f.name: f for f in text_string_to_metric_families(call_in(client.ns, scrape))}
    state = [s for s in families["vipkeeper_vrrp_state"].samples if s.labels.get("iname") == "VI_1"]
    assert state and state[0].value == 2  # keepalived exporters' numbering: 2 = MASTER
    drops = {s.labels["reason"]: s.value for s in families["vipkeeper_packets_dropped"].samples
             if s.name.endswith("_total")}
    assert drops.get("auth_mismatch", 0) >= 5 and drops.get("bad_ttl", 0) >= 5

    # Failover: the master daemon dies; status on b follows the address.
    a.proc.signal(signal.SIGKILL)
    wait_for(lambda: _holds(topology, b_node), 6, what="VIP moved to b")
    wait_for(lambda: b.instance()["state"] == "MASTER", 3, what="b MASTER in status")
    assert _agree(topology, b) == ("MASTER", True, True)
    assert not _holds(topology, a_node) or a.proc.running is False


def test_doctor_explains_a_vipkeeper_split_brain(topology: Topology, lan, tmp_path: Path) -> None:
    a_node, b_node = lan["a"], lan["b"]
    a = Daemon(topology, a_node, tmp_path, 150)
    b = Daemon(topology, b_node, tmp_path, 100)
    wait_for(lambda: _holds(topology, a_node), 10, what="VIP on a")
    topology.partition(a_node, b_node)
    wait_for(lambda: _holds(topology, b_node), 8, what="b takes the VIP while cut off from a")
    # Hold the partition for three advert intervals, checking that both nodes answer on the VIP
    # throughout: a split-brain doctor must not dismiss as a blip.
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        assert _holds(topology, a_node) and _holds(topology, b_node), "both hold the VIP while partitioned"
        time.sleep(0.1)
    topology.heal(a_node, b_node)
    wait_for(lambda: not _holds(topology, b_node), 8, what="b yields once it hears a again")
    for d in (a, b):
        d.proc.signal(signal.SIGTERM)
        d.proc.wait(10)
    out = subprocess.run(["vipkeeper", "doctor", "--format", "json", str(a.log), str(b.log)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    findings = report["findings"] if isinstance(report, dict) else report
    split = [f for f in findings if f.get("rule") == "VK501" or f.get("id") == "VK501"]
    assert split, f"doctor did not report the split-brain: {out.stdout[:2000]}"


FLAP_CONF = """
vrrp_script chk_flap {{
  script "{script}"
  interval 0.3
  weight 0
}}
vrrp_instance VI_1 {{
  state MASTER
  interface eth0
  virtual_router_id 52
  priority 150
  advert_int 0.3
  version 3
  virtual_ipaddress {{
    192.0.2.52/24
  }}
  track_script {{
    chk_flap
  }}
}}
"""


def test_doctor_explains_a_flapping_vipkeeper_script(topology: Topology, lan, tmp_path: Path) -> None:
    node = lan["a"]
    script = tmp_path / "flap.sh"
    state = tmp_path / "flap.state"
    # Succeeds and fails on alternate runs: the check every admin has seen flap.
    script.write_text(f"#!/bin/sh\nif [ -e {state} ]; then rm -f {state}; exit 1; fi\ntouch {state}\nexit 0\n")
    script.chmod(0o755)
    conf = tmp_path / "flap.conf"
    conf.write_text(FLAP_CONF.format(script=script))
    log = tmp_path / "flap.log"
    proc = topology.popen(node.ns, ["vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(conf),
                                    "-p", str(tmp_path / "flap.pid"), "--control-socket", str(tmp_path / "flap.ctl")],
                          stderr=open(log, "w"))
    wait_for(lambda: log.read_text().count("VRRP_Script(chk_flap) failed") >= 6, 20, what="the script to flap")
    proc.signal(signal.SIGTERM)
    proc.wait(10)
    out = subprocess.run(["vipkeeper", "doctor", "--format", "json", str(log)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    rules = {f.get("rule") or f.get("id") for f in report["findings"]}
    assert "VK503" in rules, f"no script-flapping finding: {sorted(rules)}"
    assert "VK502" in rules, f"no state-flapping finding: {sorted(rules)}"
