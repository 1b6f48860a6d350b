"""`run` refuses a configuration using a feature vipkeeper lacks whose absence would change the wire
(here old_unicast_checksum: keepalived's pre-2.0 unicast checksum, which a peer running old
keepalived expects), with the reason at its line; with `vipkeeper_run_without
old_unicast_checksum` it runs and takes the VIP."""

from __future__ import annotations

from pathlib import Path

import pytest

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

CONF = """global_defs {{
{opt_out}}}
vrrp_instance VI_1 {{
  state MASTER
  interface eth0
  virtual_router_id 71
  priority 150
  advert_int 0.5
  old_unicast_checksum
  unicast_peer {{
    192.0.2.2
  }}
  virtual_ipaddress {{
    192.0.2.71/24
  }}
}}
"""


def test_run_refuses_old_unicast_checksum_unless_opted_out(topology: Topology, lan, tmp_path: Path) -> None:
    node = lan["a"]
    conf = tmp_path / "old.conf"
    conf.write_text(CONF.format(opt_out=""))
    argv = ["vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(conf), "-p", str(tmp_path / "a.pid")]
    refused = topology.run(node.ns, argv, check=False, timeout=30)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert f"{conf}:9: error: 'old_unicast_checksum' is not supported by vipkeeper" in output
    assert "'vipkeeper_run_without old_unicast_checksum' in global_defs" in output
    assert "Traceback" not in output
    assert not any(str(a) == "192.0.2.71/24" for a in topology.addresses(node.ns))

    conf.write_text(CONF.format(opt_out="  vipkeeper_run_without old_unicast_checksum\n"))
    log = tmp_path / "a.log"
    with open(log, "w") as stderr:  # the daemon holds its own copy of the descriptor
        topology.popen(node.ns, argv, stderr=stderr)
    wait_for(lambda: any(str(a) == "192.0.2.71/24" for a in topology.addresses(node.ns)), 15,
             what="VIP on a with the opt-out")
    assert f"{conf}:10: unsupported: 'old_unicast_checksum'" in log.read_text()
