"""unicast_peer ADDR min_ttl N max_ttl M, as keepalived 2.2.7: b's namespace rewrites the TTL of
a's adverts to 200 on the way in (nftables, prerouting); with 190-210 b accepts them and stays
Backup, with 250-255 it drops each with keepalived's log line and takes over. keepalived 2.2.7 as
b does the same with the same file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

CONF = """vrrp_instance VI_1 {{
  state {state}
  interface eth0
  virtual_router_id 69
  priority {priority}
  version 3
  advert_int 0.5
  unicast_src_ip {src}
  unicast_peer {{
    {peer}
  }}
  virtual_ipaddress {{
    192.0.2.69/24
  }}
}}
"""

REWRITE_TTL = {"nftables": [
    {"add": {"table": {"family": "ip", "name": "ttltest"}}},
    {"add": {"chain": {"family": "ip", "table": "ttltest", "name": "pre", "type": "filter", "hook": "prerouting",
                       "prio": -300, "policy": "accept"}}},
    {"add": {"rule": {"family": "ip", "table": "ttltest", "chain": "pre", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": 112}},
        {"mangle": {"key": {"payload": {"protocol": "ip", "field": "ttl"}}, "value": 200}}]}}}]}


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_ttl_range_of_a_unicast_peer(topology: Topology, lan, tmp_path: Path, kind: str) -> None:
    a_ns, b_ns = lan["a"].ns, lan["b"].ns
    topology.run(b_ns, ["nft", "-j", "-f", "-"], input=json.dumps(REWRITE_TTL))
    (tmp_path / "a.conf").write_text(CONF.format(state="MASTER", priority=150, src="192.0.2.1", peer="192.0.2.2"))
    a = HostDaemon("vipkeeper", a_ns, tmp_path / "a.conf", tmp_path, "a")
    a.start()
    try:
        wait_for(lambda: any("Entering MASTER STATE" in line for line in a.log_lines()), 20, what="a master")
        for low, high, accepted in ((190, 210, True), (250, 255, False)):
            conf = tmp_path / f"b-{low}.conf"
            conf.write_text(CONF.format(state="BACKUP", priority=100, src="192.0.2.2",
                                        peer=f"192.0.2.1 min_ttl {low} max_ttl {high}"))
            b = HostDaemon(kind, b_ns, conf, tmp_path, f"{kind}-{low}")
            b.start()
            try:
                if accepted:
                    wait_for(lambda b=b: any("Entering BACKUP STATE" in line for line in b.log_lines()), 20,
                             what=f"{kind} backup")
                    time.sleep(3.0)  # an observation window: a's adverts keep b Backup (down interval 1.5 s)
                    lines = b.log_lines()
                    assert not any("Entering MASTER STATE" in line for line in lines), (kind, lines)
                    assert not any("not in range" in line for line in lines), (kind, lines)
                else:
                    expected = f"(VI_1) TTL/HL 200 not in range {low} - {high}"
                    wait_for(lambda b=b, e=expected: any(e in line for line in b.log_lines()), 20,
                             what=f"{kind} drops a's adverts")
                    wait_for(lambda b=b: any("Entering MASTER STATE" in line for line in b.log_lines()), 20,
                             what=f"{kind} takes over without a's adverts")
            finally:
                b.stop(timeout=10)
    finally:
        a.stop(timeout=10)
