"""The lab's HostDaemon and FifoWatch, as the bench and the campaign use them.

vipkeeper and keepalived 2.2.7 are started from the initial namespaces and pointed at a lab node
(`--netns` / `--namespace`); each must become Master there (its VIP appears in the node, its
notify fifo says MASTER, its stamped log says so), track a process of the initial PID namespace
through the connector, and die completely on SIGKILL (keepalived's VRRP child included), leaving
nothing in its process group after stop().
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import AddressWatch, FifoWatch

pytestmark = pytest.mark.net

VIP = "192.0.2.60"
CONF = """
global_defs {{
  router_id host_{kind}
  notify_fifo {fifo}
}}
vrrp_track_process trk {{
  process {process}
  weight 0
}}
vrrp_instance VI_1 {{
  state BACKUP
  interface eth0
  virtual_router_id 61
  priority 150
  advert_int 1
  track_process {{
    trk
  }}
  virtual_ipaddress {{
    {vip}/24
  }}
}}
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_host_daemon_runs_in_the_node_and_dies_completely(kind: str, topology: Topology, lan, tmp_path: Path,
                                                          named_sleep) -> None:
    node = lan["a"]
    tracked = named_sleep("120")
    fifo = tmp_path / "notify.fifo"
    os.mkfifo(fifo)
    conf = tmp_path / f"{kind}.conf"
    conf.write_text(CONF.format(kind=kind, fifo=fifo, process=named_sleep.name, vip=VIP))
    daemon = HostDaemon(kind, node.ns, conf, tmp_path, "a")
    with FifoWatch(str(fifo)) as lines, AddressWatch(node.ns) as addresses:
        try:
            daemon.start()
            master = lines.first(lambda line: line.text.startswith('INSTANCE "VI_1" MASTER'), daemon.started_at, 15)
            assert master is not None, daemon.log_lines()
            assert addresses.wait_holds(VIP, True, 5)
            assert daemon.log is not None
            logged = daemon.log.wait_line(lambda line: "(VI_1) Entering MASTER STATE" in line.text, 5)
            assert logged.time >= daemon.started_at - 0.01
            pids = wait_for(lambda: daemon.pids() if len(daemon.pids()) == (2 if kind == "keepalived" else 1) else None,
                            5, what="the daemon's processes")
            # the tracked process lives in the initial PID namespace: its exit is seen (FAULT)
            tracked.kill()
            fault = lines.first(lambda line: line.text.startswith('INSTANCE "VI_1" FAULT'), master.time, 10)
            assert fault is not None, daemon.log_lines()
            assert addresses.wait_holds(VIP, False, 5)

            daemon.signal(signal.SIGKILL)
            assert daemon.wait(5)
            assert not daemon.running
            wait_for(lambda: not any(_alive(p) for p in pids), 5, what="every process of the daemon gone")
        finally:
            daemon.stop()
    assert daemon.pids() == []
