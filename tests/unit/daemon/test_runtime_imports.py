"""The daemon's run path imports no module a configuration without the feature does not need
(issue 18: memory; every module's code stays in the daemon's heap for its whole life).

Measured in a fresh interpreter (this one has imported everything the other tests use): the
runtime, the control server and the VRRP core leave out the process connector and its process
table (imported when a `vrrp_track_process` is configured), the nftables firewall (when
`nftables` is), the route and rule owner (when routes or rules are) and `dataclasses` (with `copy`);
a tracked process brings the connector in, and its exception is the same class either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
import vipkeeper.daemon.runtime, vipkeeper.control.server, vipkeeper.vrrp.packet
before = sorted(m for m in sys.modules if m in WATCH)
from vipkeeper.daemon.tracking import TrackingHub
from vipkeeper.track.connector_error import ConnectorUnavailable
from vipkeeper.track.proc_connector import ConnectorUnavailable as Again
print(json.dumps({"before": before, "same": ConnectorUnavailable is Again}))
"""
WATCH = ["dataclasses", "copy", "vipkeeper.track.proc_connector", "vipkeeper.track.process_table",
         "vipkeeper.track.procfs", "vipkeeper.net.firewall", "vipkeeper.net.nft_rules", "vipkeeper.net.routes",
         "vipkeeper.net.route_requests"]


def _run() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run([sys.executable, "-c", f"WATCH = {WATCH!r}\n{PROBE}"], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    return json.loads(done.stdout)


def test_run_path_leaves_out_connector_firewall_routes_and_dataclasses() -> None:
    got = _run()
    assert got["before"] == []
    assert got["same"] is True


def test_advertisement_is_still_a_frozen_value() -> None:
    from vipkeeper.records import FrozenInstanceError
    from vipkeeper.vrrp.packet import Advertisement

    a = Advertisement(3, 1, 100, (), 100, checksum=1)
    b = Advertisement(3, 1, 100, (), 100, checksum=2)
    assert a == b and hash(a) == hash(b)  # the wire's checksum takes no part in equality
    assert a != Advertisement(3, 1, 101, (), 100)
    try:
        a.priority = 5  # type: ignore[misc]
    except FrozenInstanceError:
        pass
    else:
        raise AssertionError("Advertisement is not frozen")


VMAC_PROBE = """
import json, sys, types
from vipkeeper.config import lex_text, parse
from vipkeeper.daemon.runtime import Runtime
text = "\\n".join(["vrrp_instance VI_1 {", "  interface eth0", "  virtual_router_id 1", "  priority 100",
                   "  virtual_ipaddress {", "    192.0.2.10/32", "  }", "}", ""])
model = parse(lex_text(text)).instances[0]
stand_in = types.SimpleNamespace(vmacs_owned={})  # what the two read before any VMAC exists
made = (Runtime._ensure_vmac(stand_in, model), Runtime._ensure_address_vmacs(stand_in, model))
print(json.dumps({"made": made, "vmac": "vipkeeper.net.vmac" in sys.modules,
                  "links": "vipkeeper.net.link_requests" in sys.modules}))
"""


def test_building_a_plain_instance_leaves_out_the_vmac_modules() -> None:
    """Building each router asks whether its instance wants a VMAC: the answer for one that does
    not must not import net/vmac.py and its rtnetlink link requests (code kept for the daemon's
    life, issue 18)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run([sys.executable, "-c", VMAC_PROBE], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    assert got == {"made": [False, []], "vmac": False, "links": False}
