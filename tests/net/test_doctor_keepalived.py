"""`vipkeeper doctor` on logs that real keepalived 2.2.7 wrote in a namespace lab.

Two nodes on one bridge (a: 192.0.2.1 priority 150, b: 192.0.2.2 priority 100). The split brain
is made the way it happens in the field: the links stay up but the nodes stop hearing each
other (bridge port isolation); b times out and becomes MASTER while a still is. The flapping
case runs one node whose weight-0 vrrp_script alternates exit 0 and 1, so the instance goes
FAULT and back every second.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vipkeeper.diagnose.doctor import diagnose
from vipkeeper.diagnose.log_reader import read_file
from vipkeeper.lab.topology import Lan, Topology, wait_for

pytestmark = pytest.mark.net

CONF = """\
global_defs {{
  router_id {name}
  script_user root
  enable_script_security
}}
{extra}
vrrp_instance VI_1 {{
  state {state}
  interface eth0
  virtual_router_id 51
  priority {priority}
  advert_int 1
{track}  virtual_ipaddress {{
    192.0.2.100/24
  }}
}}
"""


def start_keepalived(topology: Topology, ns: str, work: Path, name: str, **conf: str):
    conf_path = work / f"{name}.conf"
    conf.setdefault("extra", "")
    conf.setdefault("track", "")
    conf_path.write_text(CONF.format(name=name, **conf))
    log_path = work / f"{name}.log"
    log = open(log_path, "wb")
    proc = topology.popen(ns, ["keepalived", "-n", "-l", "-G", "-P", "-f", str(conf_path),
                               "-p", str(work / f"{name}.pid"), "-r", str(work / f"{name}-vrrp.pid")],
                          stdout=log, stderr=log)
    log.close()
    return proc, log_path


def log_has(path: Path, text: str, count: int = 1) -> bool:
    return path.read_text(errors="replace").count(text) >= count


def test_doctor_reports_two_masters_after_a_partition(topology: Topology, lan: Lan, tmp_path: Path):
    a, b = lan["a"], lan["b"]
    pa, log_a = start_keepalived(topology, a.ns, tmp_path, "a", state="MASTER", priority="150")
    pb, log_b = start_keepalived(topology, b.ns, tmp_path, "b", state="BACKUP", priority="100")
    try:
        wait_for(lambda: log_has(log_a, "(VI_1) Entering MASTER STATE"), 10, 0.05, "a MASTER")
        wait_for(lambda: log_has(log_b, "(VI_1) Entering BACKUP STATE"), 10, 0.05, "b BACKUP")
        topology.partition(a, b)
        wait_for(lambda: log_has(log_b, "(VI_1) Entering MASTER STATE"), 10, 0.05, "b MASTER after partition")
        split_from = time.monotonic()
        # Hold the split brain for a few seconds of log time (timestamps are whole seconds).
        wait_for(lambda: time.monotonic() - split_from > 4.0, 6, 0.1, "split brain held")
        topology.heal(a, b)
        wait_for(lambda: log_has(log_b, "(VI_1) Entering BACKUP STATE", 2), 10, 0.05, "b back to BACKUP")
    finally:
        pa.stop()
        pb.stop()
    report = diagnose(read_file(str(log_a)) + read_file(str(log_b)))
    split = [f for f in report.findings if f.rule == "VK501"]
    assert len(split) == 1, [f.as_text() for f in report.findings]
    assert "a and b" in split[0].message
    duration = float(split[0].message.split("s: both")[0].rsplit(", ", 1)[1])
    assert 3.0 <= duration <= 12.0, split[0].message
    assert any(str(log_a) in e for e in split[0].evidence) and any(str(log_b) in e for e in split[0].evidence)
    nodes_in_timeline = {e.line.node for e in report.timeline if e.kind == "state"}
    assert nodes_in_timeline == {"a", "b"}


def test_doctor_reports_a_flapping_script(topology: Topology, lan: Lan, tmp_path: Path):
    a = lan["a"]
    os.chmod(tmp_path, 0o755)
    script = tmp_path / "flap.sh"
    script.write_text(f"#!/bin/sh\nf={tmp_path}/count\nn=$(cat $f 2>/dev/null || echo 0)\n"
                      "echo $((n + 1)) > $f\nexit $((n % 2))\n")
    os.chmod(script, 0o755)
    extra = f'vrrp_script chk_flap {{\n  script "{script}"\n  interval 1\n}}\n'
    proc, log = start_keepalived(topology, a.ns, tmp_path, "a", state="BACKUP", priority="100", extra=extra,
                                 track="  track_script {\n    chk_flap\n  }\n")
    try:
        wait_for(lambda: log_has(log, "VRRP_Script(chk_flap) failed", 3), 15, 0.05, "three script failures")
        wait_for(lambda: log_has(log, "VRRP_Script(chk_flap) succeeded", 3), 15, 0.05, "three script successes")
    finally:
        proc.stop()
    report = diagnose(read_file(str(log)))
    got = {f.rule: f for f in report.findings}
    assert "VK503" in got, [f.as_text() for f in report.findings]
    assert "chk_flap" in got["VK503"].message
    assert "VK502" in got and "(VI_1)" in got["VK502"].message
