"""docs/status.schema.json against the output of real daemons.

Two vipkeeper daemons (a Master and a Backup) run in namespaces with every kind of tracker (a
tracked process, a vrrp_script, an interface and a file), a VMAC, a virtual route and a virtual
rule, so every part of the snapshot is filled in; `vipkeeper status --json` of each must
validate against the schema, and renaming any one field of that real output (at any depth) must
make validation fail. The daemons and the
`status` command run with pyroute2 made unimportable: the daemon never needs it.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from vipkeeper.lab.proc import wait_for
from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "status.schema.json").read_text())
VIP = "192.0.2.50/24"

# `vipkeeper ARGS...` with any import of pyroute2 failing (sys.modules[name] = None makes
# `import name` raise ImportError).
NO_PYROUTE2 = ("import sys; sys.modules['pyroute2'] = None; sys.argv[0] = 'vipkeeper'; "
               "from vipkeeper.cli import entry; entry()")

CONF = """
global_defs {{
  router_id {name}
  script_user root
}}
vrrp_track_process trk {{
  process {process}
  weight 10
}}
vrrp_script chk {{
  script "/bin/true"
  interval 1
  weight 5
}}
vrrp_track_file tf {{
  file {track_file}
  weight 1
}}
vrrp_instance VI_1 {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority {priority}
  advert_int 1
  track_process {{
    trk
  }}
  track_script {{
    chk
  }}
  track_interface {{
    lo
  }}
  track_file {{
    tf
  }}
  use_vmac
  virtual_routes {{
    198.51.100.0/24 via 192.0.2.254 dev eth0 no_track
  }}
  virtual_rules {{
    from 198.51.100.0/24 table 100 priority 100
  }}
  virtual_ipaddress {{
    {vip}
  }}
}}
"""


def vipkeeper(*args: str) -> list[str]:
    return [sys.executable, "-c", NO_PYROUTE2, *args]


def validate(status: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(status)


def key_paths(value: object, path: tuple = ()) -> Iterator[tuple]:
    """The path of every object key in `value`, except the free-form keys of `drops` maps."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield path + (key,)
            if key != "drops":
                yield from key_paths(child, path + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from key_paths(child, path + (i,))


def renamed(status: dict, path: tuple) -> dict:
    out = copy.deepcopy(status)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1] + "_renamed"] = parent.pop(path[-1])
    return out


def test_real_status_output_follows_the_schema(topology: Topology, lan, tmp_path: Path, named_sleep) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    named_sleep("120")
    track_file = tmp_path / "track.file"
    track_file.write_text("0\n")
    ctl = {}
    for name, priority in (("a", 150), ("b", 100)):
        conf = tmp_path / f"{name}.conf"
        conf.write_text(CONF.format(name=name, process=named_sleep.name, track_file=track_file,
                                    priority=priority, vip=VIP))
        ctl[name] = str(tmp_path / f"{name}.ctl")
        topology.popen(lan[name].ns, vipkeeper("run", "-n", "-l", "--no-syslog", "-f", str(conf),
                                               "-p", str(tmp_path / f"{name}.pid"), "--control-socket",
                                               ctl[name]),
                       stderr=open(tmp_path / f"{name}.log", "w"))

    def status(name: str) -> dict | None:
        done = subprocess.run(vipkeeper("status", "--socket", ctl[name], "--json"), capture_output=True,
                              text=True, timeout=10, check=False)
        assert "Traceback" not in done.stderr, done.stderr
        return json.loads(done.stdout) if done.returncode == 0 else None

    def settled() -> tuple[dict, dict] | None:
        a, b = status("a"), status("b")
        if not a or not b:
            return None
        ia, ib = a["instances"][0], b["instances"][0]
        if ia["state"] != "MASTER" or ib["state"] != "BACKUP" or ib["master"] is None:
            return None
        if not a["scripts"] or a["scripts"][0]["runs"] < 1 or not ia["vips"][0]["present"]:
            return None
        return a, b

    found = wait_for(settled, 15, what="a MASTER with its VIP and b BACKUP, scripts run")
    logs = {n: (tmp_path / f"{n}.log").read_text() for n in ("a", "b")}
    for node_status in found:
        validate(node_status)
        inst = node_status["instances"][0]
        assert {t["kind"] for t in inst["trackers"]} == {"process", "script", "interface", "file"}
        assert node_status["process_tracker"]["tracked"][0]["name"] == "trk"
    assert found[1]["instances"][0]["master"]["address"] == "192.0.2.1"
    ia, ib = found[0]["instances"][0], found[1]["instances"][0]
    assert ia["vmac"] == {"interface": "vrrp.51", "xmit_base": False, "present": True}
    assert ia["vips"][0]["dev"] == "vrrp.51"
    assert [r["installed"] for r in ia["virtual_routes"] + ia["virtual_rules"]] == [True, True]
    assert [r["installed"] for r in ib["virtual_routes"] + ib["virtual_rules"]] == [False, False]
    assert all("pyroute2" not in text for text in logs.values()), logs

    # Renaming any field of the real output makes it invalid.
    paths = list(key_paths(found[1]))
    assert len(paths) > 60, paths
    passed = [path for path in paths if jsonschema.Draft202012Validator(SCHEMA).is_valid(renamed(found[1], path))]
    assert passed == []
    with pytest.raises(jsonschema.ValidationError):
        validate(renamed(found[0], ("instances", 0, "state")))
