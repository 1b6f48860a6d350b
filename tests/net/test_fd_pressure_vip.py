"""Issue 20 (campaign, fd mode): a Master that steps down while it cannot open a descriptor
still gives its VIP back.

Seen in the fault campaign (fd seeds 13 and 20): a node whose open-files limit had been cut to
the descriptors it held went BACKUP on hearing a higher priority, and its VIP stayed on its
interface for the rest of the run, with nothing in the log, while the new Master held it too.
Here a real daemon (`--netns` into node a, connector mode) is Master with the VIP; its soft
limit is cut to what it has open; a higher-priority vipkeeper starts on node b. a must go
BACKUP and its VIP must leave a's eth0 while the pressure lasts.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

VIP = "192.0.2.58"


def _conf(priority: int) -> str:
    return f"""
vrrp_instance VI_1 {{
  interface eth0
  virtual_router_id 58
  priority {priority}
  advert_int 0.2
  version 3
  virtual_ipaddress {{ {VIP}/24 }}
}}
"""


def _start(node, tmp_path: Path, priority: int) -> tuple[subprocess.Popen, Path]:
    conf = tmp_path / f"{node.name}.conf"
    conf.write_text(_conf(priority))
    log = tmp_path / f"{node.name}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(["vipkeeper", "run", "-n", "-l", "--no-syslog", "--netns", node.ns, "-f", str(conf),
                                 "-p", str(tmp_path / f"{node.name}.pid"),
                                 "--control-socket", str(tmp_path / f"{node.name}.ctl")], stderr=err)
    return proc, log


def _has_vip(topology: Topology, node) -> bool:
    out = topology.run(node.ns, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
    return f" {VIP}/" in out


def test_a_master_under_fd_pressure_gives_its_vip_back(topology: Topology, lan, tmp_path: Path) -> None:
    a, b = lan["a"], lan["b"]
    procs = []
    try:
        da, log_a = _start(a, tmp_path, 120)
        procs.append(da)
        wait_for(lambda: "(VI_1) Entering MASTER STATE" in log_a.read_text(), 15, what="a MASTER")
        wait_for(lambda: _has_vip(topology, a), 5, what="the VIP on a")
        hard = resource.prlimit(da.pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(da.pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{da.pid}/fd")), hard))
        try:
            db, log_b = _start(b, tmp_path, 200)
            procs.append(db)
            wait_for(lambda: "(VI_1) Entering BACKUP STATE" in log_a.read_text(), 15, what="a BACKUP")
            wait_for(lambda: _has_vip(topology, b), 5, what="the VIP on b")
            wait_for(lambda: not _has_vip(topology, a), 3, what="the VIP gone from a under fd pressure")
        finally:
            if da.poll() is None:
                resource.prlimit(da.pid, resource.RLIMIT_NOFILE, (hard, hard))
        assert "Traceback" not in log_a.read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
