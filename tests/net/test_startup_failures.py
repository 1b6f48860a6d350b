"""Start-up failures that must be one line and a non-zero exit, never a traceback:
a missing /proc with a vrrp_track_process (issue 20 #11), a metrics_listen the daemon cannot
listen on (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vipkeeper.lab.topology import Topology

pytestmark = pytest.mark.net

INSTANCE = """
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 58
  priority 150
  %s
  virtual_ipaddress { 192.0.2.58/24 }
}
"""


def _run(topology: Topology, ns: str, argv: list[str], tmp_path: Path) -> tuple[int, list[str]]:
    log = tmp_path / "run.log"
    with open(log, "w") as err:
        proc = topology.popen(ns, argv, stderr=err)
    code = proc.popen.wait(timeout=30)
    lines = log.read_text().splitlines()
    return code, lines


def _daemon(conf: Path, tmp_path: Path) -> list[str]:
    return ["vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(conf), "-p", str(tmp_path / "d.pid"),
            "--control-socket", str(tmp_path / "d.ctl")]


def test_missing_proc_is_one_line_not_a_traceback(topology: Topology, lan, tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("vrrp_track_process svc {\n  process vktrk_none\n  weight 0\n}\n"
                    + INSTANCE % "track_process { svc }")
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs none /proc && exec "$@"', "sh", *_daemon(conf, tmp_path)]
    code, lines = _run(topology, lan["a"].ns, argv, tmp_path)
    assert code == 1
    assert not any("Traceback" in line for line in lines), lines
    errors = [line for line in lines if "/proc" in line]
    assert len(errors) == 1 and "/proc is not mounted" in errors[0], lines
    assert not any(str(a) == "192.0.2.58/24" for a in topology.addresses(lan["a"].ns))


def test_metrics_listen_the_daemon_cannot_bind_fails_the_start(topology: Topology, lan, tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("global_defs {\n  metrics_listen 198.51.100.77:9650\n}\n" + INSTANCE % "")
    code, lines = _run(topology, lan["a"].ns, _daemon(conf, tmp_path), tmp_path)
    assert code == 1
    assert not any("Traceback" in line for line in lines), lines
    errors = [line for line in lines if "metrics listener" in line]
    assert len(errors) == 1 and "198.51.100.77:9650" in errors[0] and "assign" in errors[0], lines
    assert not any(str(a) == "192.0.2.58/24" for a in topology.addresses(lan["a"].ns))
