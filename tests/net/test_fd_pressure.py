"""Issue 20 #3: running out of file descriptors is not "the tracked process exited".

A real daemon (connector mode: started in the initial namespaces, `--netns` into the node)
tracks a real service with weight 0. Its open-files limit is lowered under what it holds
(`prlimit` on its PID) and its metrics port is flooded with connections; meanwhile the tracked
service is restarted. Before the fix, the exec of the new service could not be read
(EMFILE read as "absent"), nothing ever rescanned, and the instance stayed FAULT with the service
up; the metrics listener logged a traceback per failed accept. Now the tracker retries until
/proc is readable again, the instance recovers within a bound once the pressure ends, and the
log stays small.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import time
from pathlib import Path

import pytest

from vipkeeper.control.client import ControlError, request
from vipkeeper.control.metrics import MAX_CLIENTS
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology
from vipkeeper.net.netns import call_in

pytestmark = pytest.mark.net

PORT = 9657
RECOVERY_BOUND = 8.0  # s from the end of the pressure to MASTER again (retry backoff is <= 2 s)


def _conf(name: str) -> str:
    return f"""
global_defs {{
  metrics_listen 192.0.2.1:{PORT}
}}
vrrp_track_process svc {{
  process {name}
  weight 0
}}
vrrp_instance VI_1 {{
  interface eth0
  virtual_router_id 57
  priority 150
  advert_int 0.5
  version 3
  track_process {{ svc }}
  virtual_ipaddress {{ 192.0.2.57/24 }}
}}
"""


def _flood(ns: str, count: int) -> list[socket.socket]:
    def body() -> list[socket.socket]:
        socks = []
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            s.connect_ex(("192.0.2.1", PORT))
            socks.append(s)
        return socks
    return call_in(ns, body)


def test_fd_exhaustion_is_not_an_exit(topology: Topology, lan, tmp_path: Path, named_sleep) -> None:
    node = lan["a"]
    conf = tmp_path / "a.conf"
    conf.write_text(_conf(named_sleep.name))
    log = tmp_path / "a.log"
    ctl = str(tmp_path / "a.ctl")
    svc = named_sleep("600")
    # started with a low soft limit: the daemon raises it to the hard one at start
    with open(log, "w") as err:  # the child keeps its own copy of the descriptor
        daemon = subprocess.Popen(["prlimit", "--nofile=256:20000", "vipkeeper", "run", "-n", "-l", "--no-syslog",
                                   "--netns", node.ns, "-f", str(conf), "-p", str(tmp_path / "a.pid"),
                                   "--control-socket", ctl], stderr=err)
    flood: list[socket.socket] = []
    try:
        def inst() -> dict:
            return request("status", ctl)["instances"][0]

        wait_for(lambda: os.path.exists(ctl), 15, what="control socket")
        wait_for(lambda: inst()["state"] == "MASTER", 15, what="MASTER")
        snap = request("status", ctl)
        assert snap["daemon"]["process_tracking"] == "connector"
        assert resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE)[0] == 20000
        assert "open files limit raised from 256 to 20000" in log.read_text()

        # a flood of idle connections to the metrics port takes at most its cap of descriptors
        fds = len(os.listdir(f"/proc/{daemon.pid}/fd"))
        flood = _flood(node.ns, 300)
        counts = []
        for _ in range(10):  # sampled over a second: the cap holds throughout
            counts.append(len(os.listdir(f"/proc/{daemon.pid}/fd")) - fds)
            time.sleep(0.1)
        held = max(counts)
        assert held >= MAX_CLIENTS - 2, counts  # the listener did take connections
        for s in flood:
            s.close()
        flood = []
        assert held <= MAX_CLIENTS + 2, held

        # pressure: no descriptor can be opened, and the metrics port is flooded
        size_before = log.stat().st_size
        resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (8, 20000))
        pressure = time.monotonic()
        flood = _flood(node.ns, 300)
        svc.kill()
        svc.wait()
        # (no status requests now: the control socket cannot accept either)
        wait_for(lambda: "(VI_1) Entering FAULT STATE" in log.read_text(), 5, what="FAULT on the service's exit")
        svc = named_sleep("600")  # the restart, while the daemon cannot open anything
        with pytest.raises(ControlError):  # the control socket cannot accept either: asyncio
            request("status", ctl, timeout=1.0)  # reports each failed accept (up to 100/s)
        time.sleep(3.0)  # the pressure lasts a while (observation window, not synchronisation)
        during = log.read_text()
        still_fault = during.rfind("(VI_1) Entering FAULT STATE") > during.rfind("(VI_1) Entering MASTER STATE")
        for s in flood:
            s.close()
        flood = []
        resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (20000, 20000))
        ended = time.monotonic()
        wait_for(lambda: inst()["state"] == "MASTER", RECOVERY_BOUND, what="MASTER after the pressure")
        recovered = time.monotonic() - ended
        grown = log.stat().st_size - size_before
        text = log.read_text()
        status = request("status", ctl)
        print(f"\n300 idle connections to the metrics port held {held} descriptors")
        print(f"fd pressure {ended - pressure:.1f}s: log grew {grown} bytes; recovered "
              f"{recovered:.2f}s after it ended; shortages counted "
              f"{status['process_tracker'].get('shortages')}")
        assert still_fault  # the service's restart could not be seen meanwhile...
        assert status["process_tracker"]["shortages"] >= 1  # ...and that was counted as a shortage
        assert "process tracking: /proc readable again" in text
        assert "Traceback" not in text
        assert text.count("metrics: cannot accept connections") <= 1
        assert text.count("cannot accept connections on") <= 1  # the control socket, once a minute
        assert grown < 16_384, grown
        assert request("status", ctl)["process_tracker"]["tracked"][0]["count"] == 1
    finally:
        for s in flood:
            s.close()
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
